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

}  // namespace lowbit::kernels::detail
