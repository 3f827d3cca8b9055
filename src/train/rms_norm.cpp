#include "train/rms_norm.h"

#include <cmath>

#include "core/thread_pool.h"

namespace lowbit::train {

template <class T>
void rms_norm_forward(const T* x, const T* w, size_t rows, size_t dim, double eps, T* y, T* rstd) {
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const T* xr = x + r * dim;
      double ss = 0;  // squares summed in double, as the inference forward does
      for (size_t i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      const T inv = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(dim) + eps));
      rstd[r] = inv;
      for (size_t i = 0; i < dim; ++i) y[r * dim + i] = xr[i] * inv * w[i];
    }
  });
}

template <class T>
void rms_norm_backward(const T* x, const T* w, const T* rstd, const T* dy, size_t rows, size_t dim,
                       T* dx, T* dw) {
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      const T* xr = x + r * dim;
      const T* g = dy + r * dim;
      double dot = 0;  // sum_j dy_j w_j x_j
      for (size_t i = 0; i < dim; ++i) dot += static_cast<double>(g[i]) * w[i] * xr[i];
      const T inv = rstd[r];
      const T c = static_cast<T>(dot / static_cast<double>(dim)) * inv * inv * inv;
      for (size_t i = 0; i < dim; ++i) dx[r * dim + i] += inv * g[i] * w[i] - c * xr[i];
    }
  });
  if (dw == nullptr) return;
  // Columns split across threads: each weight sums its rows in row order.
  thread_pool().parallel_for(dim, 16, [&](size_t d0, size_t d1) {
    for (size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * dim;
      const T* g = dy + r * dim;
      for (size_t i = d0; i < d1; ++i) dw[i] += g[i] * xr[i] * rstd[r];
    }
  });
}

template void rms_norm_forward<float>(const float*, const float*, size_t, size_t, double, float*,
                                      float*);
template void rms_norm_forward<double>(const double*, const double*, size_t, size_t, double,
                                       double*, double*);
template void rms_norm_backward<float>(const float*, const float*, const float*, const float*,
                                       size_t, size_t, float*, float*);
template void rms_norm_backward<double>(const double*, const double*, const double*, const double*,
                                        size_t, size_t, double*, double*);

}  // namespace lowbit::train
