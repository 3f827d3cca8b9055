#include "train/swiglu.h"

#include <cmath>

#include "core/thread_pool.h"

namespace lowbit::train {
namespace {

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

}  // namespace

template <class T>
void swiglu_forward(const T* g, const T* u, size_t n, T* h) {
  thread_pool().parallel_for(n, 4096, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) h[i] = g[i] * sigmoid(g[i]) * u[i];
  });
}

template <class T>
void swiglu_backward(const T* g, const T* u, const T* dh, size_t n, T* dg, T* du) {
  thread_pool().parallel_for(n, 4096, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; ++i) {
      const T s = sigmoid(g[i]);
      du[i] = dh[i] * g[i] * s;
      dg[i] = dh[i] * u[i] * s * (T(1) + g[i] * (T(1) - s));
    }
  });
}

template void swiglu_forward<float>(const float*, const float*, size_t, float*);
template void swiglu_forward<double>(const double*, const double*, size_t, double*);
template void swiglu_backward<float>(const float*, const float*, const float*, size_t, float*,
                                     float*);
template void swiglu_backward<double>(const double*, const double*, const double*, size_t, double*,
                                      double*);

}  // namespace lowbit::train
