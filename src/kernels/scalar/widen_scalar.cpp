// Reference bf16 / f16 widening (core/float16.h's exact scalar conversions).
#include "core/float16.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void widen_bf16_scalar(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

void widen_f16_scalar(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

namespace {

// One dot product per (row, output) in the lane order of the 16-lane SIMD variants would be
// needless here: the reference sums in index order, in double, so every variant is checked
// against the exact product within a bound on its own float rounding.
template <float (*widen)(uint16_t)>
void gemv(const HalfGemvArgs& a) {
  for (size_t o = 0; o < a.n; ++o) {
    const uint16_t* w = a.w + o * a.k;
    for (size_t r = 0; r < a.rows; ++r) {
      const float* x = a.x + r * a.ldx;
      double sum = 0.0;
      for (size_t i = 0; i < a.k; ++i) sum += static_cast<double>(x[i]) * widen(w[i]);
      a.y[r * a.ldy + o] = static_cast<float>(sum);
    }
  }
}

}  // namespace

void gemv_bf16_scalar(const HalfGemvArgs& a) {
  gemv<bf16_to_f32>(a);
}

void gemv_f16_scalar(const HalfGemvArgs& a) {
  gemv<f16_to_f32>(a);
}

}  // namespace lowbit::kernels::detail
