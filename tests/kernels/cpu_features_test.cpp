// ISA names, detection invariants and the forcing mechanism the other kernel tests rely on.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "kernels/cpu_features.h"
#include "kernels/qgemm.h"

namespace lowbit::kernels {
namespace {

TEST(KernelCpuFeatures, NamesRoundTrip) {
  for (Isa isa : all_isas()) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  EXPECT_FALSE(parse_isa("sse9").has_value());
}

TEST(KernelCpuFeatures, DetectionIsConsistent) {
  const auto isas = supported_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), Isa::kScalar);
  // Every level implies the ones its features contain.
  EXPECT_TRUE(!cpu_supports(Isa::kAmx) || cpu_supports(Isa::kAvx512Vnni));
  EXPECT_TRUE(!cpu_supports(Isa::kAvx512Vnni) || cpu_supports(Isa::kAvx512));
  EXPECT_TRUE(!cpu_supports(Isa::kAvx512) || cpu_supports(Isa::kAvx2));
  EXPECT_TRUE(!cpu_supports(Isa::kAvxVnni) || cpu_supports(Isa::kAvx2));
  EXPECT_TRUE(!cpu_supports(Isa::kNeonDot) || cpu_supports(Isa::kNeon));
#if defined(__aarch64__)
  EXPECT_TRUE(cpu_supports(Isa::kNeon));
#endif
  std::string list;
  for (Isa isa : isas) list += std::string(isa_name(isa)) + " ";
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
  ::setenv("LOWBIT_ISA", "sse9", 1);
  EXPECT_THROW(force_isa(std::nullopt), Error);
  ::unsetenv("LOWBIT_ISA");
  force_isa(std::nullopt);
  EXPECT_EQ(isa_ceiling(), cpu_features().mask());
}

}  // namespace
}  // namespace lowbit::kernels
