#pragma once
// Runtime CPU feature detection and ISA selection for the low-bit kernels.
//
// Every kernel family (activation quantization, integer GEMM, W4A16 GEMM) has a scalar reference
// and SIMD variants compiled per file with their own target flags (see CMakeLists.txt). At run
// time a family uses its best variant whose ISA the CPU supports and that lies under the *ceiling*:
// by default everything the CPU has, lowered by the environment variable LOWBIT_ISA (read once,
// e.g. LOWBIT_ISA=avx2) or by force_isa() (tests and benchmarks force each path in turn).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace lowbit::kernels {

// An instruction-set level. Each names a set of CPU features (isa_features) that its kernels may
// use; a variant is allowed under a ceiling when its features are a subset of the ceiling's.
enum class Isa : uint8_t {
  kScalar,      // portable C++ (the reference every SIMD variant must reproduce)
  kAvx2,        // AVX2 + FMA
  kAvx512,      // AVX-512 F/BW/VL/DQ (+ AVX2, FMA)
  kAvxVnni,     // AVX-VNNI (vpdpbusd on ymm, VEX encoded) + AVX2, FMA
  kAvx512Vnni,  // AVX-512 VNNI (vpdpbusd on zmm) + kAvx512
  kAmx,         // AMX-TILE + AMX-INT8 (tdpbsud on 16x64-byte tiles) + kAvx512Vnni
  kNeon,        // AArch64 Advanced SIMD
  kNeonDot,     // NEON + dot product (sdot, Armv8.2 FEAT_DotProd)
};

// Every ISA, in enum order (scalar first).
std::span<const Isa> all_isas();
std::string_view isa_name(
    Isa isa);  // "scalar", "avx2", "avx512", "avxvnni", "avx512vnni", "amx", ...
std::optional<Isa> parse_isa(std::string_view name);

// Feature bits (see isa_features).
enum CpuFeature : uint32_t {
  kFeatAvx2 = 1u << 0,    // AVX2 and FMA, with OS support for ymm state
  kFeatAvx512 = 1u << 1,  // AVX-512 F, BW, VL, DQ, with OS support for zmm/opmask state
  kFeatAvx512Vnni = 1u << 2,
  kFeatAvxVnni = 1u << 3,
  kFeatNeon = 1u << 4,
  kFeatNeonDot = 1u << 5,
  kFeatAmx = 1u << 6,  // AMX tile + int8, with OS tile state and this process's permission
};

struct CpuFeatures {
  // x86 (raw cpuid bits, each already masked by the OS's xgetbv state where it needs it).
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vnni = false, avxvnni = false;
  // AMX-TILE and AMX-INT8 reported by cpuid, tile state enabled in XCR0, and (Linux) the
  // process's request to use tile data granted (arch_prctl ARCH_REQ_XCOMP_PERM).
  bool amx_int8 = false;
  // AArch64 (getauxval(AT_HWCAP)).
  bool neon = false, dotprod = false;

  uint32_t mask() const;  // CpuFeature bits of the complete ISA levels present
};

// Detected once, on first use.
const CpuFeatures& cpu_features();
uint32_t isa_features(Isa isa);
bool cpu_supports(Isa isa);
// The ISAs this CPU runs, in enum order.
std::vector<Isa> supported_isas();

// Forces the ceiling to `isa` (fails with lowbit::Error if the CPU lacks it); nullopt restores the
// default (LOWBIT_ISA if set, else everything detected). Thread-safe, but meant to be called
// between kernel calls, not during them.
void force_isa(std::optional<Isa> isa);
// The feature mask kernels may use now.
uint32_t isa_ceiling();
// The first of `implemented` (listed best first) allowed under the ceiling and supported by the
// CPU; `implemented` must end with Isa::kScalar.
Isa select_isa(std::span<const Isa> implemented);

// The variant a kernel family runs now: `variants` are structs with an `isa` member (and the
// family's function pointers), listed best first and ending with the scalar reference. Used by
// the dispatching drivers (baseline code), never by the ISA files.
template <class Variant, size_t N>
const Variant& select_variant(const std::array<Variant, N>& variants) {
  std::array<Isa, N> isas{};
  for (size_t i = 0; i < N; ++i) isas[i] = variants[i].isa;
  const Isa isa = select_isa(isas);
  for (const auto& v : variants)
    if (v.isa == isa) return v;
  return variants.back();
}

// Forces an ISA for the lifetime of the guard (tests, benchmarks), then restores the ceiling that
// was in effect before (guards nest).
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa);
  ~ScopedIsa();
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  uint32_t saved_;
};

}  // namespace lowbit::kernels
