#include "train/quant_linear.h"

#include "core/thread_pool.h"
#include "kernels/gemm.h"

#include <type_traits>

namespace lowbit::train {
namespace {

using kernels::gemm;
using kernels::Trans;

template <class T>
const T* quantized_weight(const LinearParam<T>& p, LinearScratch<T>& s) {
  if (!p.grid.enabled()) return p.w.data();
  s.wq.resize(p.w.size());
  fake_quant_weight(p.grid, p.w.data(), p.out, p.in, s.wq.data(), p.clip());
  return s.wq.data();
}

// Qa(x T): the input as the layer's GEMM sees it.
template <class T>
const T* quantized_input(const LinearParam<T>& p, const T* x, size_t rows, LinearScratch<T>& s) {
  const size_t n = rows * p.in;
  if (p.transform) {
    s.xt.assign(x, x + n);
    p.transform->apply(s.xt, rows);
    s.xq.resize(n);
    if constexpr (std::is_same_v<T, float>) {
      fake_quant_activations(p.act, s.xt.data(), rows, p.in, s.xq.data());
    } else {
      const std::vector<T> wide(s.xt.begin(), s.xt.end());
      fake_quant_activations(p.act, wide.data(), rows, p.in, s.xq.data());
    }
    return s.xq.data();
  }
  if (!p.act.enabled()) return x;
  s.xq.resize(n);
  fake_quant_activations(p.act, x, rows, p.in, s.xq.data());
  return s.xq.data();
}

}  // namespace

template <class T>
void linear_forward(const LinearParam<T>& p, const T* x, size_t rows, T* y, LinearScratch<T>& s) {
  const T* xq = quantized_input(p, x, rows, s);
  const T* wq = quantized_weight(p, s);
  gemm(Trans::kNo, Trans::kYes, rows, p.out, p.in, T(1), xq, p.in, wq, p.in, T(0), y, p.out);
  if (p.b.empty()) return;
  thread_pool().parallel_for(rows, 16, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      for (size_t o = 0; o < p.out; ++o) y[r * p.out + o] += p.b[o];
  });
}

template <class T>
void linear_backward(const LinearParam<T>& p, const T* x, size_t rows, const T* dy, T* dx,
                     LinearParam<T>* grad, LinearScratch<T>& s) {
  if (dx != nullptr && !p.transform) {
    const T* wq = quantized_weight(p, s);
    gemm(Trans::kNo, Trans::kNo, rows, p.in, p.out, T(1), dy, p.out, wq, p.in, T(1), dx, p.in);
  } else if (dx != nullptr) {
    // The gradient at the transformed input, carried back through T's transpose (in float).
    const T* wq = quantized_weight(p, s);
    s.dxt.resize(rows * p.in);
    gemm(Trans::kNo, Trans::kNo, rows, p.in, p.out, T(1), dy, p.out, wq, p.in, T(0), s.dxt.data(),
         p.in);
    s.xt.assign(s.dxt.begin(), s.dxt.end());
    p.transform->apply_transposed(s.xt, rows);
    for (size_t i = 0; i < rows * p.in; ++i) dx[i] += static_cast<T>(s.xt[i]);
  }
  if (grad == nullptr) return;
  const T* xq = quantized_input(p, x, rows, s);
  // Straight through (full precision, or a dynamic grid without learned clipping): the product
  // accumulates into the gradient itself, without a [out, in] scratch (the head's is 262 MB on a
  // 1B model).
  if (!p.grid.enabled() || (p.grid.dynamic && p.clip_hi.empty())) {
    gemm(Trans::kYes, Trans::kNo, p.out, p.in, rows, T(1), dy, p.out, xq, p.in, T(1),
         grad->w.data(), p.in);
  } else {
    s.dwq.resize(p.w.size());
    gemm(Trans::kYes, Trans::kNo, p.out, p.in, rows, T(1), dy, p.out, xq, p.in, T(0), s.dwq.data(),
         p.in);
    fake_quant_weight_backward(p.grid, p.w.data(), s.dwq.data(), p.out, p.in, grad->w.data(),
                               p.clip(), grad->clip_grad());
  }
  if (!p.b.empty()) {
    thread_pool().parallel_for(p.out, 16, [&](size_t o0, size_t o1) {
      for (size_t r = 0; r < rows; ++r)
        for (size_t o = o0; o < o1; ++o) grad->b[o] += dy[r * p.out + o];
    });
  }
}

template void linear_forward<float>(const LinearParam<float>&, const float*, size_t, float*,
                                    LinearScratch<float>&);
template void linear_forward<double>(const LinearParam<double>&, const double*, size_t, double*,
                                     LinearScratch<double>&);
template void linear_backward<float>(const LinearParam<float>&, const float*, size_t, const float*,
                                     float*, LinearParam<float>*, LinearScratch<float>&);
template void linear_backward<double>(const LinearParam<double>&, const double*, size_t,
                                      const double*, double*, LinearParam<double>*,
                                      LinearScratch<double>&);

}  // namespace lowbit::train
