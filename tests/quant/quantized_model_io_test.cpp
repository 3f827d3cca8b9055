// Saving a quantized model and loading it back gives the same logits; bad folders are rejected.
#include "quant/quantized_model_io.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "model/loader.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class QuantizedIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    testing::write_tiny_checkpoint(dir_ / "src", spec);
    std::string text;
    for (int i = 0; i < 100; ++i) text += "The quick brown fox jumps over the lazy dog. ";
    testing::write_file(dir_ / "calib.txt", text);
  }

  std::vector<float> logits(LoadedModel& m) {
    const std::vector<int32_t> ids = {1, 300, 301, 45, 46, 47, 200};
    KVCache cache = m.model->make_cache(16);
    const auto out = m.model->forward(ids, cache, LogitsFor::kAllTokens);
    return {out.begin(), out.end()};
  }

  void round_trip(const std::string& method, int wbits, int abits, int kvbits, int group) {
    LoadedModel m = load_model(dir_ / "src");
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight = {wbits, true, group, 1.0f, true};
    o.act = {abits, true, 0, 1.0f, false};
    o.kv = {kvbits, false, 0, 1.0f, false};
    o.duquant_block = 32;
    o.calib = {dir_ / "calib.txt", 4, 64, 0, 64, true, false};
    quantize_model(*m.model, *m.tokenizer, o);
    save_quantized_model(*m.model, dir_ / "src", dir_ / "out", {{"method", method}});
    LoadedModel back = load_model(dir_ / "out");
    EXPECT_EQ(back.format, "lowbit-quantized");
    EXPECT_EQ(back.model->kv_quant().bits, kvbits);
    EXPECT_EQ(logits(back), logits(m)) << method;
  }

  testing::TempDir dir_;
};

TEST_F(QuantizedIoTest, RoundTripsEveryTransform) {
  round_trip("rtn", 4, 4, 4, 32);
  round_trip("smoothquant+rtn", 8, 8, 16, 0);
  round_trip("hadamard+rtn", 4, 8, 8, 0);
  round_trip("duquant+rtn", 4, 4, 16, 0);
  round_trip("awq", 3, 16, 16, 16);
  round_trip("rtn", 16, 8, 16, 0);
}

TEST_F(QuantizedIoTest, OverwritesOnlyQuantizedFolders) {
  round_trip("rtn", 4, 16, 16, 0);
  round_trip("rtn", 8, 16, 16, 0);  // replaces the previous output
  LoadedModel m = load_model(dir_ / "src");
  std::filesystem::create_directories(dir_ / "precious");
  EXPECT_THROW(save_quantized_model(*m.model, dir_ / "src", dir_ / "precious", {}), Error);
}

TEST_F(QuantizedIoTest, RejectsCorruptMetadata) {
  round_trip("rtn", 4, 16, 16, 0);
  testing::write_file(dir_ / "out" / kQuantMetadataFile,
                      "{\"format\": \"lowbit-quantized\", \"version\": 99}");
  EXPECT_THROW(load_model(dir_ / "out"), Error);
  testing::write_file(dir_ / "out" / kQuantMetadataFile, "not json");
  EXPECT_THROW(load_model(dir_ / "out"), Error);
}

}  // namespace
}  // namespace lowbit
