// LWC (quant/lwc.h) on a small random checkpoint: with no training it is round to nearest exactly;
// trained, the quantized model is closer to the full-precision one than round to nearest, alone
// and after DuQuant under W4A4 with a 4-bit KV cache (where the engine models the q/k Hadamard
// and the query quantizer); what it cannot combine with fails before any work.
#include "quant/lwc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "io/model_loader.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class LwcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    spec.heads = 4;
    spec.kv_heads = 2;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    std::string text;
    for (int i = 0; i < 100; ++i)
      text += "Once upon a time there was a little girl named Lily. She liked to play outside. ";
    testing::write_file(dir_ / "calib.txt", text);
  }

  QuantizeOptions options(const std::string& method, int wbits, int abits, int kvbits = 16) {
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight = QuantSpec{.bits = wbits, .symmetric = false};  // min-max, OmniQuant's start
    o.act.bits = abits;
    o.kv.bits = kvbits;
    o.query.bits = kvbits;
    o.params.set("duquant-block", 32);
    o.params.set("lwc-epochs", 8);
    o.params.set("lwc-lr", 0.05);  // few steps here: OmniQuant's 1e-2 moves a logit 1e-2 a step
    o.head_weight.bits = 16;
    o.head_act.bits = 16;
    o.calib.file = dir_ / "calib.txt";
    o.calib.samples = 6;
    o.calib.seq_len = 48;
    o.calib.sample_rows = 128;
    o.calib.progress = false;
    return o;
  }

  // Logits of a sentence like the calibration text (not one of its windows).
  std::vector<float> logits(LoadedModel& m) {
    const auto ids = m.tokenizer->encode("Lily liked to play outside with a little girl. Once");
    KVCache cache = m.model->make_cache(static_cast<int>(ids.size()));
    const auto out = m.model->forward(ids, cache, LogitsFor::kAllTokens);
    return {out.begin(), out.end()};
  }

  std::vector<float> quantized_logits(const QuantizeOptions& o) {
    LoadedModel m = load_model(dir_.path());
    quantize_model(*m.model, *m.tokenizer, o);
    return logits(m);
  }

  static double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      num += double(a[i] - b[i]) * (a[i] - b[i]);
      den += double(b[i]) * b[i];
    }
    return std::sqrt(num / den);
  }

  testing::TempDir dir_;
};

TEST_F(LwcTest, UntrainedIsRoundToNearest) {
  auto o = options("lwc", 3, 16);
  o.params.set("lwc-epochs", 0);
  EXPECT_EQ(quantized_logits(o), quantized_logits(options("rtn", 3, 16)));
}

TEST_F(LwcTest, TrainedIsCloserToFullPrecisionThanRoundToNearest) {
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  const double rtn = relative_error(quantized_logits(options("rtn", 4, 16)), want);
  const double lwc = relative_error(quantized_logits(options("lwc", 4, 16)), want);
  EXPECT_LT(lwc, 0.95 * rtn) << "rtn " << rtn << ", lwc " << lwc;
}

TEST_F(LwcTest, AfterDuQuantAtW4A4WithQuantizedKeysAndQueries) {
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  const auto o = options("duquant+lwc", 4, 4, 4);
  ASSERT_EQ(o.method.name(), "duquant+rtn+lwc");
  const double rtn = relative_error(quantized_logits(options("duquant", 4, 4, 4)), want);
  LoadedModel m = load_model(dir_.path());
  quantize_model(*m.model, *m.tokenizer, o);
  EXPECT_TRUE(m.model->attention_quant().qk_hadamard);
  const double lwc = relative_error(logits(m), want);
  EXPECT_LT(lwc, rtn) << "duquant+rtn " << rtn << ", duquant+lwc " << lwc;
}

TEST_F(LwcTest, RejectsWhatItCannotTrain) {
  LoadedModel m = load_model(dir_.path());
  const auto run = [&](QuantizeOptions o) {
    return testing::error_of([&] { quantize_model(*m.model, *m.tokenizer, o); });
  };
  EXPECT_NE(run(options("gptq+lwc", 4, 16)).find("combine it with rtn, not gptq"),
            std::string::npos);
  EXPECT_NE(run(options("lwc", 16, 16)).find("needs quantized weights"), std::string::npos);
  auto bad = options("lwc", 4, 16);
  bad.params.set("lwc-epochs", -1);
  EXPECT_NE(run(bad).find("--lwc-epochs"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
