// `lowbit quantize --preset`: a paper's settings from the registry, with flags given on the
// command line taking precedence, recorded in the output file.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/error.h"
#include "io/model_loader.h"
#include "quant/method_registry.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class QuantizePreset : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 128;  // the awq preset's groups of 128 must divide every width
    spec.hidden = 256;
    testing::write_tiny_checkpoint(dir_ / "model", spec);
    std::string text;
    for (int i = 0; i < 400; ++i) text += "Once upon a time there was a little girl named Lily. ";
    testing::write_file(dir_ / "calib.txt", text);
  }

  testing::CommandResult quantize(const std::string& flags) {
    return testing::run_lowbit("quantize -q -m " + (dir_ / "model").string() + " --calib " +
                               (dir_ / "calib.txt").string() +
                               " --calib-samples 4 --calib-len 64 -o " +
                               (dir_ / "out.lowbit").string() + " " + flags);
  }

  testing::TempDir dir_;
};

TEST_F(QuantizePreset, AppliesTheAuthorsSettings) {
  const auto r = quantize("--preset awq");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("preset: awq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("method: awq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights: int4 asym g128"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activations: fp"), std::string::npos) << r.out;
  EXPECT_EQ(load_model(dir_ / "out.lowbit").quant_info.value("preset", ""), "awq");
}

TEST_F(QuantizePreset, CommandLineFlagsWin) {
  // The gptq preset sets per-channel asymmetric weights without MSE clipping and 2048-token
  // samples; the command line asks for groups of 32 and keeps its 64-token samples.
  const auto r = quantize("--preset gptq --group 32 --wbits 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("method: gptq"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights: int3 asym g32\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(256 tokens)"), std::string::npos) << r.out;  // 4 x 64, not 4 x 2048
}

TEST_F(QuantizePreset, UnknownPresetIsOneLineNamingTheKnownOnes) {
  const auto r = quantize("--preset frobnicate");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--preset 'frobnicate': unknown preset (known: duquant, quarot, gptq, awq, "
                       "hqq, nf4, llm-int8)"),
            std::string::npos)
      << r.err;
}

TEST_F(QuantizePreset, DuQuantPresetSetsTheAuthorsQuantizer) {
  const auto r = quantize("--preset duquant --duquant-block 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("method: duquant+rtn"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("weights: int4 asym clip0.80\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("activations: int4 asym clip0.90\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("output head: W16A16"), std::string::npos) << r.out;
}

TEST_F(QuantizePreset, ClipRatiosOutsideTheUnitIntervalFailBeforeWork) {
  for (const char* flags :
       {"--w-clip 0", "--w-clip 1.5", "--w-clip -0.2", "--a-clip 0", "--a-clip 1.01"}) {
    const auto r = quantize(flags);
    EXPECT_NE(r.exit_code, 0) << flags;
    EXPECT_EQ(r.err.rfind("lowbit: error: --", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("must be in (0, 1]"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "out.lowbit")) << flags;
  }
  const auto ok = quantize("--w-clip 0.85");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("weights: int4 sym clip0.85\n"), std::string::npos) << ok.out;
}

TEST(MethodPresets, EveryPresetNamesAMethodAndKnownFlags) {
  for (const MethodPreset& p : method_presets()) {
    EXPECT_EQ(&find_preset(p.name), &p);
    bool has_method = false;
    for (std::string_view f : p.flags) {
      EXPECT_TRUE(f.starts_with("--")) << p.name << ": " << f;
      if (f.starts_with("--method=")) {
        has_method = true;
        EXPECT_NO_THROW(MethodSpec::parse(std::string(f.substr(9)))) << p.name;
      }
    }
    EXPECT_TRUE(has_method) << p.name;
    EXPECT_FALSE(p.source.empty()) << p.name;
  }
  EXPECT_THROW(find_preset("nope"), Error);
}

}  // namespace
}  // namespace lowbit
