// Reference quantization error in 16 float lanes (see kernel_variants.h).
#include "kernels/kernel_variants.h"

namespace lowbit::kernels::detail {

void quant_error_lanes_scalar(const float* x, size_t n, const QuantErrorArgs& a, float* lanes) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds half-even
  for (size_t i = 0; i < n; i += kQuantErrorLanes)
    for (size_t j = 0; j < kQuantErrorLanes; ++j) {
      const float v = x[i + j];
      float q = ((v / a.scale + kMagic) - kMagic) + a.zero;
      q = q < a.qmin ? a.qmin : q;
      q = q > a.qmax ? a.qmax : q;
      const float d = (q - a.zero) * a.scale - v;
      lanes[j] += d * d;
    }
}

}  // namespace lowbit::kernels::detail
