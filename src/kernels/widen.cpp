#include "kernels/widen.h"

#include <array>

#include "core/error.h"
#include "kernels/kernel_variants.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::WidenFn bf16;
  detail::WidenFn f16;
  detail::HalfGemvFn gemv_bf16;
  detail::HalfGemvFn gemv_f16;
};

// Best first; the scalar reference last.
constexpr std::array kVariants = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::widen_bf16_avx512, detail::widen_f16_avx512,
            detail::gemv_bf16_avx512, detail::gemv_f16_avx512},
    Variant{Isa::kAvx2, detail::widen_bf16_avx2, detail::widen_f16_avx2, detail::gemv_bf16_avx2,
            detail::gemv_f16_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::widen_bf16_neon, detail::widen_f16_neon, detail::gemv_bf16_neon,
            detail::gemv_f16_neon},
#endif
    Variant{Isa::kScalar, detail::widen_bf16_scalar, detail::widen_f16_scalar,
            detail::gemv_bf16_scalar, detail::gemv_f16_scalar},
};

void check(std::span<const uint16_t> in, std::span<float> out, const char* what) {
  if (in.size() != out.size()) fail("{}: {} values into {}", what, in.size(), out.size());
}

}  // namespace

Isa widen_isa() {
  return select_variant(kVariants).isa;
}

void widen_bf16(std::span<const uint16_t> in, std::span<float> out) {
  check(in, out, "widen_bf16");
  if (!in.empty()) select_variant(kVariants).bf16(in.data(), in.size(), out.data());
}

void widen_f16(std::span<const uint16_t> in, std::span<float> out) {
  check(in, out, "widen_f16");
  if (!in.empty()) select_variant(kVariants).f16(in.data(), in.size(), out.data());
}

void gemv_bf16(const float* x, size_t rows, size_t ldx, const uint16_t* w, size_t n, size_t k,
               float* y, size_t ldy) {
  if (rows == 0 || n == 0) return;
  if (k == 0) fail("gemv_bf16: k = 0");
  select_variant(kVariants).gemv_bf16({x, rows, ldx, w, n, k, y, ldy});
}

void gemv_f16(const float* x, size_t rows, size_t ldx, const uint16_t* w, size_t n, size_t k,
              float* y, size_t ldy) {
  if (rows == 0 || n == 0) return;
  if (k == 0) fail("gemv_f16: k = 0");
  select_variant(kVariants).gemv_f16({x, rows, ldx, w, n, k, y, ldy});
}

}  // namespace lowbit::kernels
