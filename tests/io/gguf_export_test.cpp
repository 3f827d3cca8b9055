// lowbit export-gguf without external readers: the q/k row order, and the refusals (one line
// naming the quantize flags that would make an exportable file, no output written).
#include "io/gguf_export.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "testing/fixtures.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

TEST(GgufExport, RopeRowOrderInterleavesEachHeadsHalves) {
  // convert_hf_to_gguf.py's permute for 2 heads of head_dim 4: within a head, rows
  // (0, 2, 1, 3): the first half's row i goes to 2i, the second half's to 2i + 1.
  EXPECT_EQ(llama_rope_row_order(2, 4), (std::vector<size_t>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(llama_rope_row_order(1, 6), (std::vector<size_t>{0, 3, 1, 4, 2, 5}));
}

// ref-llama-s quantized once per flag set, shared by the tests of this file.
fs::path quantized(const std::string& name, const std::string& flags) {
  static testing::TempDir dir;
  const fs::path out = dir / (name + ".lowbit");
  if (!fs::exists(out)) {
    const auto r = testing::run_lowbit("quantize -m " + testing::ref_llama_dir().string() + " " +
                                       flags + " -o " + out.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  return out;
}

// export-gguf fails with one line that contains every one of `needles`, and writes nothing.
void expect_refused(const fs::path& model, const std::vector<std::string>& needles) {
  testing::TempDir tmp;
  const fs::path out = tmp / "out.gguf";
  const auto r = testing::run_lowbit("export-gguf -m " + model.string() + " -o " + out.string());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("cannot be exported to GGUF"), std::string::npos) << r.err;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << n << "\n" << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(tmp.path())) << "a temporary file was left behind";
}

TEST(GgufExport, RefusesActivationQuantization) {
  expect_refused(quantized("w4a8", "--method rtn --wbits 4 --abits 8 --group 32"),
                 {"activation quantization (int8; use --abits 16)", "--head-abits 16",
                  "per-channel output-head weights", "--head-group 32 or --head-bits 16"});
}

TEST(GgufExport, RefusesOnlineHadamardRotations) {
  expect_refused(quantized("hadamard",
                           "--method hadamard+rtn --wbits 4 --abits 16 --group 32 "
                           "--head-bits 16 --head-abits 16"),
                 {"online activation transforms from method 'hadamard+rtn'", "--method rtn"});
}

TEST(GgufExport, RefusesGroupsOtherThan32) {
  expect_refused(quantized("g128",
                           "--method rtn --wbits 4 --abits 16 --group 128 --head-bits 16 "
                           "--head-abits 16"),
                 {"weight group size 128", "use --group 32"});
}

TEST(GgufExport, RefusesAsymmetricAndOtherWidths) {
  expect_refused(
      quantized("w3asym",
                "--method rtn --wbits 3 --w-asym --abits 16 --group 32 "
                "--head-bits 16 --head-abits 16"),
      {"3-bit weights", "--wbits 4 or 8", "asymmetric (zero-point) weights", "without --w-asym"});
}

TEST(GgufExport, RefusesKvCacheQuantization) {
  expect_refused(quantized("kv4",
                           "--method rtn --wbits 4 --abits 16 --group 32 --kvbits 4 "
                           "--head-bits 16 --head-abits 16"),
                 {"KV-cache quantization (int4; use --kvbits 16)"});
}

TEST(GgufExport, RefusesWhatIsNotALowbitModel) {
  testing::TempDir tmp;
  testing::write_file(tmp / "x.lowbit", "not a model");
  const auto r = testing::run_lowbit("export-gguf -m " + (tmp / "x.lowbit").string() + " -o " +
                                     (tmp / "x.gguf").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a .lowbit model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp / "x.gguf"));
  // The output is never one of the inputs.
  const fs::path model = quantized("w4a8", "--method rtn --wbits 4 --abits 8 --group 32");
  const auto same =
      testing::run_lowbit("export-gguf -m " + model.string() + " -o " + model.string());
  EXPECT_EQ(same.exit_code, 1);
  EXPECT_NE(same.err.find("is an input of this command"), std::string::npos) << same.err;
}

}  // namespace
}  // namespace lowbit
