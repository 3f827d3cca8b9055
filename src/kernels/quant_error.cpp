#include "kernels/quant_error.h"

#include <array>

#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::QuantErrorLanesFn lanes;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::quant_error_lanes_avx512},
    Variant{Isa::kAvx2, detail::quant_error_lanes_avx2},
#endif
    Variant{Isa::kScalar, detail::quant_error_lanes_scalar},
};

// One value's error, as in the lanes (shared by the tail).
float error_of(float v, const detail::QuantErrorArgs& a) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds half-even
  float q = ((v / a.scale + kMagic) - kMagic) + a.zero;
  q = q < a.qmin ? a.qmin : q;
  q = q > a.qmax ? a.qmax : q;
  return (q - a.zero) * a.scale - v;
}

}  // namespace

Isa quant_error_isa() {
  return select_variant(kVariants).isa;
}

double quantization_squared_error(std::span<const float> x, float scale, float zero, float qmin,
                                  float qmax) {
  const detail::QuantErrorArgs args{scale, zero, qmin, qmax};
  const size_t whole = x.size() / detail::kQuantErrorLanes * detail::kQuantErrorLanes;
  float lanes[detail::kQuantErrorLanes] = {};
  if (whole > 0) select_variant(kVariants).lanes(x.data(), whole, args, lanes);
  double err = 0.0;
  for (float l : lanes) err += l;
  for (size_t i = whole; i < x.size(); ++i) {
    const float d = error_of(x[i], args);
    err += static_cast<double>(d) * d;
  }
  return err;
}

}  // namespace lowbit::kernels
