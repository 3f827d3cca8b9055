#include "kernels/cpu_features.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <iterator>
#include <string>

#include "core/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace lowbit::kernels {
namespace {

constexpr size_t kIsaCount = std::size(kIsaTable);

// The table's rows are in enum order (the enum is generated from them), so a level's row is at
// its enum value.
constexpr bool rows_in_enum_order() {
  for (size_t i = 0; i < kIsaCount; ++i)
    if (static_cast<size_t>(kIsaTable[i].isa) != i) return false;
  return true;
}
static_assert(rows_in_enum_order());
static_assert(kIsaTable[0].isa == Isa::kScalar && kIsaTable[0].features == 0,
              "the scalar reference comes first and needs nothing");

constexpr std::array<Isa, kIsaCount> make_all_isas() {
  std::array<Isa, kIsaCount> out{};
  for (size_t i = 0; i < kIsaCount; ++i) out[i] = kIsaTable[i].isa;
  return out;
}
constexpr std::array<Isa, kIsaCount> kAllIsas = make_all_isas();

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the OS saves on context switch. A CPU can report AVX-512 while the
// OS (or hypervisor) leaves zmm state unmanaged; using it then corrupts registers, so both count.
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux gives a process AMX tile data (8 KB of extra state per thread) only on request; without
// it the first tile instruction faults. Asked once, at detection, for the whole process.
bool request_amx_permission() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return f;
  const bool osxsave = (ecx >> 27) & 1;
  const bool cpu_avx = (ecx >> 28) & 1;
  const bool cpu_fma = (ecx >> 12) & 1;
  const bool cpu_f16c = (ecx >> 29) & 1;
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_ymm = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  f.avx = cpu_avx && os_ymm;
  f.fma = f.avx && cpu_fma;
  f.f16c = f.avx && cpu_f16c;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    f.avx2 = f.avx && ((ebx >> 5) & 1);
    f.avx512f = os_zmm && ((ebx >> 16) & 1);
    f.avx512dq = f.avx512f && ((ebx >> 17) & 1);
    f.avx512bw = f.avx512f && ((ebx >> 30) & 1);
    f.avx512vl = f.avx512f && ((ebx >> 31) & 1);
    f.avx512vnni = f.avx512f && ((ecx >> 11) & 1);
    const bool os_tiles = (xcr0 & 0x60000) == 0x60000;            // XTILECFG + XTILEDATA
    const bool cpu_amx = ((edx >> 24) & 1) && ((edx >> 25) & 1);  // AMX-TILE, AMX-INT8
    f.amx_int8 = f.avx512vnni && os_tiles && cpu_amx && request_amx_permission();
    const unsigned max_sub = eax;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, eax, ebx, ecx, edx);
      f.avxvnni = f.avx2 && ((eax >> 4) & 1);
    }
  }
  return f;
}
#elif defined(__aarch64__)
CpuFeatures detect() {
  CpuFeatures f;
  f.neon = true;  // Advanced SIMD is mandatory in AArch64
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
  f.dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
#endif
  return f;
}
#else
CpuFeatures detect() {
  return {};
}
#endif

uint32_t detected_mask() {
  static const uint32_t mask = cpu_features().mask();
  return mask;
}

// The ceiling: CpuFeature bits plus kCeilingSet once initialised, so 0 means "not yet read".
constexpr uint32_t kCeilingSet = 1u << 31;
std::atomic<uint32_t> g_ceiling{0};

uint32_t default_ceiling() {
  const uint32_t detected = detected_mask();
  const char* env = std::getenv("LOWBIT_ISA");
  if (env == nullptr || *env == '\0') return detected;
  const auto isa = parse_isa(env);
  if (!isa) fail("LOWBIT_ISA: unknown ISA '{}' ({})", env, isa_names());
  if (!cpu_supports(*isa)) fail("LOWBIT_ISA: this CPU does not support '{}'", env);
  return isa_features(*isa);
}

}  // namespace

std::span<const Isa> all_isas() {
  return kAllIsas;
}

const IsaInfo& isa_info(Isa isa) {
  const auto i = static_cast<size_t>(isa);
  if (i >= kIsaCount) fail("unknown ISA {}", i);
  return kIsaTable[i];
}

std::string_view isa_name(Isa isa) {
  return isa_info(isa).name;
}

std::optional<Isa> parse_isa(std::string_view name) {
  for (const IsaInfo& row : kIsaTable)
    if (row.name == name) return row.isa;
  return std::nullopt;
}

std::string isa_names() {
  std::string out;
  for (const IsaInfo& row : kIsaTable) {
    if (!out.empty()) out += ", ";
    out += row.name;
  }
  return out;
}

std::vector<Isa> build_isas() {
  std::vector<Isa> out;
  for (const IsaInfo& row : kIsaTable)
    if (row.arch == IsaArch::kAny || row.arch == kBuildArch) out.push_back(row.isa);
  return out;
}

uint32_t CpuFeatures::bits() const {
  uint32_t b = 0;
  if (avx2 && fma) b |= kFeatAvx2;
  if (avx512f && avx512bw && avx512vl && avx512dq) b |= kFeatAvx512;
  if (avx512vnni) b |= kFeatAvx512Vnni;
  if (avxvnni) b |= kFeatAvxVnni;
  if (amx_int8) b |= kFeatAmx;
  if (neon) b |= kFeatNeon;
  if (dotprod) b |= kFeatNeonDot;
  return b;
}

uint32_t CpuFeatures::mask() const {
  // A bit counts only as part of a complete level (e.g. AVX-512 VNNI reported without AVX-512 BW
  // enables nothing).
  const uint32_t present = bits();
  uint32_t m = 0;
  for (const IsaInfo& row : kIsaTable)
    if ((present & row.features) == row.features) m |= row.features;
  return m;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

uint32_t isa_features(Isa isa) {
  return isa_info(isa).features;
}

bool cpu_supports(Isa isa) {
  const uint32_t need = isa_features(isa);
  return (detected_mask() & need) == need;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas)
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

void force_isa(std::optional<Isa> isa) {
  if (!isa) {
    g_ceiling.store(default_ceiling() | kCeilingSet);
    return;
  }
  if (!cpu_supports(*isa))
    fail("cannot force ISA '{}': this CPU does not support it", isa_name(*isa));
  g_ceiling.store(isa_features(*isa) | kCeilingSet);
}

uint32_t isa_ceiling() {
  uint32_t c = g_ceiling.load(std::memory_order_relaxed);
  if (c == 0) {
    // Concurrent first calls compute the same value; whichever store lands is fine.
    c = default_ceiling() | kCeilingSet;
    g_ceiling.store(c);
  }
  return c & ~kCeilingSet;
}

ScopedIsa::ScopedIsa(Isa isa) : saved_(g_ceiling.load()) {
  force_isa(isa);
}

ScopedIsa::~ScopedIsa() {
  g_ceiling.store(saved_);  // raw, so restoring never re-reads (or fails on) LOWBIT_ISA
}

Isa select_isa(std::span<const Isa> implemented) {
  const uint32_t allowed = isa_ceiling() & detected_mask();
  for (Isa isa : implemented) {
    const uint32_t need = isa_features(isa);
    if ((allowed & need) == need) return isa;
  }
  return Isa::kScalar;
}

}  // namespace lowbit::kernels
