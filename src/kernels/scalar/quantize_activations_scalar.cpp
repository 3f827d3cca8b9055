// Reference activation quantizer (every SIMD variant must match it bit for bit).
#include <cmath>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

float quantize_row_scalar(const float* x, size_t cols, int qmax, int8_t* out) {
  float amax = 0.0f;
  for (size_t i = 0; i < cols; ++i) amax = std::fmax(amax, std::fabs(x[i]));
  const float scale = amax > 0.0f ? amax / static_cast<float>(qmax) : 1.0f;
  const float lo = static_cast<float>(-qmax - 1), hi = static_cast<float>(qmax);
  // Adding and subtracting 1.5 * 2^23 rounds to nearest-even in the default FP environment (as
  // quant::round_half_even); |x / scale| <= qmax here, far inside the exact range.
  constexpr float kMagic = 12582912.0f;
  for (size_t i = 0; i < cols; ++i) {
    float q = (x[i] / scale + kMagic) - kMagic;
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    out[i] = static_cast<int8_t>(q);
  }
  return scale;
}

}  // namespace lowbit::kernels::detail
