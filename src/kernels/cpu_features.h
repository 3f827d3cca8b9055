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
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::kernels {

// Feature bits: what a CPU offers, each checked on its own (see CpuFeatures::bits). An ISA level
// needs a set of them (its row of the table below).
enum CpuFeature : uint32_t {
  kFeatAvx2 = 1u << 0,    // AVX2 and FMA, with OS support for ymm state
  kFeatAvx512 = 1u << 1,  // AVX-512 F, BW, VL, DQ, with OS support for zmm/opmask state
  kFeatAvx512Vnni = 1u << 2,
  kFeatAvxVnni = 1u << 3,
  kFeatNeon = 1u << 4,
  kFeatNeonDot = 1u << 5,
  kFeatAmx = 1u << 6,  // AMX tile + int8, with OS tile state and this process's permission
};

// The architecture an ISA level's variants are built for (src/kernels/x86, src/kernels/arm).
enum class IsaArch : uint8_t { kAny, kX86, kArm };

// THE ISA TABLE: one row per instruction-set level, X(enumerator, name, CpuFeature bits it needs,
// architecture). Everything about the levels derives from it: the Isa enum (in row order),
// isa_name, parse_isa, all_isas, the names LOWBIT_ISA accepts and lists in its error, isa_features
// and the ISAs the kernel tests force (build_isas). A level's bits include those of every level it
// builds on, so a ceiling allows the variants of the levels below it. The name is also the file
// suffix of the level's variants (qgemm_<name>.cpp), which picks their compiler flags in the
// top-level CMakeLists.txt (LOWBIT_ISA_FLAGS).
//   scalar      portable C++: the reference every SIMD variant must reproduce
//   avx2        AVX2 + FMA
//   avx512      avx2 + AVX-512 F/BW/VL/DQ
//   avxvnni     avx2 + AVX-VNNI (vpdpbusd on ymm, VEX encoded)
//   avx512vnni  avx512 + AVX-512 VNNI (vpdpbusd on zmm)
//   amx         avx512vnni + AMX-TILE, AMX-INT8 (tdpbssd / tdpbsud on 16 x 64-byte tiles)
//   neon        AArch64 Advanced SIMD
//   neondot     neon + dot product (sdot, Armv8.2 FEAT_DotProd)
// Adding a level: a row here (and a CpuFeature bit with its detection if the CPU feature is new),
// a row of LOWBIT_ISA_FLAGS, the variant files (docs/kernels.md, "Adding an ISA").
// clang-format off
#define LOWBIT_ISA_TABLE(X)                                                                  \
  X(kScalar,     "scalar",     0u,                                                   kAny) \
  X(kAvx2,       "avx2",       kFeatAvx2,                                            kX86) \
  X(kAvx512,     "avx512",     kFeatAvx2 | kFeatAvx512,                              kX86) \
  X(kAvxVnni,    "avxvnni",    kFeatAvx2 | kFeatAvxVnni,                             kX86) \
  X(kAvx512Vnni, "avx512vnni", kFeatAvx2 | kFeatAvx512 | kFeatAvx512Vnni,            kX86) \
  X(kAmx,        "amx",        kFeatAvx2 | kFeatAvx512 | kFeatAvx512Vnni | kFeatAmx, kX86) \
  X(kNeon,       "neon",       kFeatNeon,                                            kArm) \
  X(kNeonDot,    "neondot",    kFeatNeon | kFeatNeonDot,                             kArm)
// clang-format on

// An instruction-set level (a row of LOWBIT_ISA_TABLE). A variant is allowed under a ceiling when
// its level's features are a subset of the ceiling's.
enum class Isa : uint8_t {
#define LOWBIT_ISA_ENUMERATOR(id, name, features, arch) id,
  LOWBIT_ISA_TABLE(LOWBIT_ISA_ENUMERATOR)
#undef LOWBIT_ISA_ENUMERATOR
};

struct IsaInfo {
  Isa isa;
  std::string_view name;
  uint32_t features;  // CpuFeature bits
  IsaArch arch;
};

inline constexpr IsaInfo kIsaTable[] = {
#define LOWBIT_ISA_ROW(id, name, features, arch) {Isa::id, name, features, IsaArch::arch},
    LOWBIT_ISA_TABLE(LOWBIT_ISA_ROW)
#undef LOWBIT_ISA_ROW
};

// The architecture this build compiles variants for.
inline constexpr IsaArch kBuildArch =
#if defined(__x86_64__)
    IsaArch::kX86;
#elif defined(__aarch64__)
    IsaArch::kArm;
#else
    IsaArch::kAny;
#endif

// The table row of `isa`.
const IsaInfo& isa_info(Isa isa);
// Every ISA, in table order (scalar first).
std::span<const Isa> all_isas();
std::string_view isa_name(Isa isa);  // "scalar", "avx2", "avx512", "avxvnni", "avx512vnni", ...
std::optional<Isa> parse_isa(std::string_view name);
// The valid names, in table order, separated by ", " (LOWBIT_ISA's error message).
std::string isa_names();
// The ISAs this build has variants for: scalar and its architecture's levels, in table order
// (the parameters of the kernel tests' ISA sweeps).
std::vector<Isa> build_isas();

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

  uint32_t bits() const;  // CpuFeature bits present, each on its own
  uint32_t mask() const;  // CpuFeature bits of the complete ISA levels present (union of the
                          // features of every level whose features are all in bits())
};

// Detected once, on first use.
const CpuFeatures& cpu_features();
uint32_t isa_features(Isa isa);
bool cpu_supports(Isa isa);
// The ISAs this CPU runs, in table order.
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
