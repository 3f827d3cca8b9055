// Reference softmax and SwiGLU with std::exp (the SIMD variants must agree to a few ulp).
#include <cmath>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void softmax_scalar(float* x, size_t n, float scale) {
  float mx = x[0];
  for (size_t i = 1; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp((x[i] - mx) * scale);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (size_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_scalar(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

}  // namespace lowbit::kernels::detail
