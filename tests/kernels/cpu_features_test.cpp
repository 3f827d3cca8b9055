// ISA names, detection invariants and the forcing mechanism the other kernel tests rely on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

TEST(KernelCpuFeatures, TableNamesRoundTrip) {
  ASSERT_EQ(all_isas().size(), std::size(kIsaTable));
  std::set<std::string_view> names;
  for (size_t i = 0; i < std::size(kIsaTable); ++i) {
    const IsaInfo& row = kIsaTable[i];
    EXPECT_EQ(all_isas()[i], row.isa);
    EXPECT_EQ(isa_name(row.isa), row.name);
    EXPECT_EQ(parse_isa(row.name), row.isa) << row.name;
    EXPECT_EQ(isa_features(row.isa), row.features) << row.name;
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate name " << row.name;
    // Names are file suffixes and LOWBIT_ISA values: lower-case letters and digits.
    EXPECT_FALSE(row.name.empty());
    for (char c : row.name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) << row.name;
  }
  for (const char* unknown : {"", "sse9", "AVX2", "avx", " avx2", "avx2 ", "avx512 vnni"})
    EXPECT_FALSE(parse_isa(unknown).has_value()) << "'" << unknown << "'";
}

TEST(KernelCpuFeatures, LevelsIncludeTheLevelsTheyBuildOn) {
  // The hierarchy of docs/kernels.md, written out here rather than read from the table: a level's
  // features must contain those of the level it builds on, or a ceiling of e.g. avx512vnni would
  // not allow the avx512 variants of the families without a VNNI one.
  const std::pair<Isa, Isa> builds_on[] = {
      {Isa::kAvx512, Isa::kAvx2},    {Isa::kAvxVnni, Isa::kAvx2}, {Isa::kAvx512Vnni, Isa::kAvx512},
      {Isa::kAmx, Isa::kAvx512Vnni}, {Isa::kNeonDot, Isa::kNeon},
  };
  for (const auto& [level, base] : builds_on) {
    const uint32_t f = isa_features(level), fb = isa_features(base);
    EXPECT_EQ(f & fb, fb) << isa_name(level) << " lacks features of " << isa_name(base);
    EXPECT_NE(f, fb) << isa_name(level) << " adds nothing to " << isa_name(base);
  }
  // Distinct levels need distinct features (a ceiling must tell them apart), and only the scalar
  // reference needs none.
  for (Isa a : all_isas()) {
    EXPECT_EQ(isa_features(a) == 0, a == Isa::kScalar) << isa_name(a);
    for (Isa b : all_isas()) {
      if (a == b) continue;
      EXPECT_NE(isa_features(a), isa_features(b)) << isa_name(a) << " " << isa_name(b);
    }
  }
}

// Whether the CPU runs `isa`, spelled out from the raw detected flags (not from the table).
bool expected_support(const CpuFeatures& f, Isa isa) {
  const bool avx2 = f.avx2 && f.fma;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return avx2;
    case Isa::kAvx512:
      return avx512;
    case Isa::kAvxVnni:
      return avx2 && f.avxvnni;
    case Isa::kAvx512Vnni:
      return avx512 && f.avx512vnni;
    case Isa::kAmx:
      return avx512 && f.avx512vnni && f.amx_int8;
    case Isa::kNeon:
      return f.neon;
    case Isa::kNeonDot:
      return f.neon && f.dotprod;
  }
  return false;
}

TEST(KernelCpuFeatures, DetectionMatchesRawFlags) {
  const CpuFeatures& f = cpu_features();
  for (Isa isa : all_isas())
    EXPECT_EQ(cpu_supports(isa), expected_support(f, isa)) << isa_name(isa);
  // The default ceiling is exactly the features of the levels present.
  uint32_t mask = 0;
  for (Isa isa : all_isas())
    if (expected_support(f, isa)) mask |= isa_features(isa);
  EXPECT_EQ(f.mask(), mask);
#if defined(__aarch64__)
  EXPECT_TRUE(cpu_supports(Isa::kNeon));  // Advanced SIMD is part of AArch64
#endif
  // Every level this CPU runs is one the ISA-swept kernel tests force.
  const std::vector<Isa> swept = build_isas();
  std::string list;
  for (Isa isa : supported_isas()) {
    EXPECT_NE(std::find(swept.begin(), swept.end(), isa), swept.end()) << isa_name(isa);
    list += std::string(isa_name(isa)) + " ";
  }
  RecordProperty("isas", list);
}

TEST(KernelCpuFeatures, ForcingSelectsVariants) {
  {
    ScopedIsa scalar(Isa::kScalar);
    EXPECT_EQ(isa_ceiling(), 0u);
    EXPECT_EQ(qgemm_isa(), Isa::kScalar);
    EXPECT_EQ(qgemm_f32_isa(), Isa::kScalar);
    EXPECT_EQ(quantize_activations_isa(), Isa::kScalar);
  }
  if (cpu_supports(Isa::kAvx512Vnni)) {
    ScopedIsa vnni(Isa::kAvx512Vnni);
    EXPECT_EQ(qgemm_isa(), Isa::kAvx512Vnni);
    EXPECT_EQ(qgemm_f32_isa(), Isa::kAvx512);  // W4A16 needs no VNNI
  }
  if (cpu_supports(Isa::kAmx)) {
    ScopedIsa amx(Isa::kAmx);
    EXPECT_EQ(qgemm_isa(), Isa::kAmx);
    EXPECT_EQ(qgemm_f32_isa(), Isa::kAvx512);
  }
  if (cpu_supports(Isa::kAvx2)) {
    ScopedIsa avx2(Isa::kAvx2);
    EXPECT_EQ(qgemm_isa(), Isa::kAvx2);
  }
  // An ISA the CPU lacks cannot be forced.
  for (Isa isa : all_isas()) {
    if (!cpu_supports(isa)) {
      EXPECT_THROW(force_isa(isa), Error);
    }
  }
  // The implemented list must end with scalar; the first allowed one wins.
  const Isa order[] = {Isa::kAvx512Vnni, Isa::kNeonDot, Isa::kScalar};
  ScopedIsa scalar(Isa::kScalar);
  EXPECT_EQ(select_isa(order), Isa::kScalar);
}

TEST(KernelCpuFeatures, EnvironmentOverride) {
  ::setenv("LOWBIT_ISA", "scalar", 1);
  force_isa(std::nullopt);  // re-reads the default
  EXPECT_EQ(qgemm_isa(), Isa::kScalar);
  {
    ScopedIsa guard(supported_isas().back());
    EXPECT_EQ(isa_ceiling(), isa_features(supported_isas().back()));
  }
  EXPECT_EQ(isa_ceiling(), 0u);  // the guard restored the environment's ceiling
  ::unsetenv("LOWBIT_ISA");
  force_isa(std::nullopt);
  EXPECT_EQ(isa_ceiling(), cpu_features().mask());
}

TEST(KernelCpuFeatures, EnvironmentRejectsUnknownNamesListingEveryValidOne) {
  ::setenv("LOWBIT_ISA", "sse9", 1);
  std::string message;
  try {
    force_isa(std::nullopt);
  } catch (const Error& e) {
    message = e.what();
  }
  ::unsetenv("LOWBIT_ISA");
  force_isa(std::nullopt);
  ASSERT_NE(message.find("'sse9'"), std::string::npos) << message;
  // The list in parentheses names every level of the table, in order, and nothing else.
  const size_t open = message.rfind('('), close = message.rfind(')');
  ASSERT_TRUE(open != std::string::npos && close != std::string::npos && open < close) << message;
  std::vector<std::string> listed;
  std::stringstream list(message.substr(open + 1, close - open - 1));
  for (std::string name; std::getline(list, name, ',');)
    listed.push_back(name.substr(name.find_first_not_of(' ')));
  std::vector<std::string> expected;
  for (const IsaInfo& row : kIsaTable) expected.emplace_back(row.name);
  EXPECT_EQ(listed, expected) << message;
}

#if defined(LOWBIT_SOURCE_DIR)
// Every variant file is named after a level of its folder's architecture, and that level has a
// row of compiler flags in CMakeLists.txt's LOWBIT_ISA_FLAGS (the build fails on a file without
// one; this catches a misspelt suffix or a row for a level the table does not have).
TEST(KernelCpuFeatures, VariantFilesAndFlagRowsNameTableLevels) {
  namespace fs = std::filesystem;
  const fs::path root = LOWBIT_SOURCE_DIR;
  // The rows of `set(LOWBIT_ISA_FLAGS "<suffix>: <flags>" ...)`.
  std::ifstream cmake(root / "CMakeLists.txt");
  std::set<std::string> rows;
  bool in_list = false;
  for (std::string line; std::getline(cmake, line);) {
    if (line.find("set(LOWBIT_ISA_FLAGS") != std::string::npos) in_list = true;
    if (!in_list) continue;
    const size_t quote = line.find('"'), colon = line.find(':', quote);
    if (quote != std::string::npos && colon != std::string::npos)
      rows.insert(line.substr(quote + 1, colon - quote - 1));
    if (line.find(')') != std::string::npos) break;
  }
  EXPECT_FALSE(rows.empty()) << "no LOWBIT_ISA_FLAGS list in CMakeLists.txt";
  for (const std::string& suffix : rows) {
    const auto isa = parse_isa(suffix);
    EXPECT_TRUE(isa.has_value() && *isa != Isa::kScalar)
        << "flags row for unknown level " << suffix;
  }
  const std::pair<const char*, IsaArch> folders[] = {{"x86", IsaArch::kX86},
                                                     {"arm", IsaArch::kArm}};
  for (const auto& [folder, arch] : folders)
    for (const auto& entry : fs::directory_iterator(root / "src/kernels" / folder)) {
      if (entry.path().extension() != ".cpp") continue;
      const std::string stem = entry.path().stem().string();
      const std::string suffix = stem.substr(stem.rfind('_') + 1);
      const auto isa = parse_isa(suffix);
      ASSERT_TRUE(isa.has_value()) << entry.path() << ": suffix is no ISA level";
      EXPECT_EQ(isa_info(*isa).arch, arch) << entry.path();
      EXPECT_TRUE(rows.count(suffix)) << entry.path() << ": no LOWBIT_ISA_FLAGS row";
    }
}
#endif

}  // namespace
}  // namespace lowbit::kernels
