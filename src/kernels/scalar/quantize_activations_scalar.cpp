// Reference activation quantizer (every SIMD variant must match it bit for bit).
#include <cmath>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void row_range_scalar(const float* x, size_t cols, float* lo, float* hi) {
  float mn = 0.0f, mx = 0.0f;
  for (size_t i = 0; i < cols; ++i) {
    mn = x[i] < mn ? x[i] : mn;
    mx = x[i] > mx ? x[i] : mx;
  }
  *lo = mn;
  *hi = mx;
}

void quantize_codes_scalar(const float* x, size_t cols, float scale, int qlo, int qhi, int shift,
                           int8_t* out) {
  const float lo = static_cast<float>(qlo), hi = static_cast<float>(qhi);
  // Adding and subtracting 1.5 * 2^23 rounds to nearest-even in the default FP environment (as
  // round_half_even in layers/quantizer.h). Clamping to the integer bounds before rounding gives
  // the same integer as rounding first (rounding is monotonic and keeps integers), and keeps the
  // value far inside the magic number's exact range whatever the clip ratio.
  constexpr float kMagic = 12582912.0f;
  for (size_t i = 0; i < cols; ++i) {
    float v = x[i] / scale;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    out[i] = static_cast<int8_t>(static_cast<int>((v + kMagic) - kMagic) + shift);
  }
}

}  // namespace lowbit::kernels::detail
