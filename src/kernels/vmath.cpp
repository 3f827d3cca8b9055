#include "kernels/vmath.h"

#include <array>

#include "core/error.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::SoftmaxFn softmax;
  detail::SwigluFn swiglu;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::softmax_avx512, detail::swiglu_avx512},
    Variant{Isa::kAvx2, detail::softmax_avx2, detail::swiglu_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::softmax_neon, detail::swiglu_neon},
#endif
    Variant{Isa::kScalar, detail::softmax_scalar, detail::swiglu_scalar},
};

}  // namespace

Isa vmath_isa() {
  return select_variant(kVariants).isa;
}

void softmax(std::span<float> x, float scale) {
  if (x.empty()) fail("softmax: empty row");
  if (!(scale > 0.0f)) fail("softmax: scale must be positive, got {}", scale);
  select_variant(kVariants).softmax(x.data(), x.size(), scale);
}

void swiglu(std::span<float> gate, std::span<const float> up) {
  if (gate.size() != up.size())
    fail("swiglu: {} gate values for {} up values", gate.size(), up.size());
  if (!gate.empty()) select_variant(kVariants).swiglu(gate.data(), up.data(), gate.size());
}

}  // namespace lowbit::kernels
