// The quantization pipeline on a small random checkpoint: every transform is exact in full
// precision, quantization behaves as configured, and impossible settings fail before any work.
#include "quant/pipeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>

#include "core/error.h"
#include "io/model_loader.h"
#include "layers/fake_quant_linear.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyModelSpec spec;
    spec.dim = 64;
    spec.hidden = 128;
    spec.heads = 4;
    spec.kv_heads = 2;
    testing::write_tiny_checkpoint(dir_.path(), spec);
    std::string text;
    for (int i = 0; i < 200; ++i)
      text += "Once upon a time there was a little girl named Lily. She liked to play. ";
    testing::write_file(dir_ / "calib.txt", text);
  }

  QuantizeOptions options(const std::string& method, int wbits, int abits, int kvbits = 16) {
    QuantizeOptions o;
    o.method = MethodSpec::parse(method);
    o.weight.bits = wbits;
    o.act.bits = abits;
    o.kv.bits = kvbits;
    o.params.set("duquant-block", 32);
    o.head_weight.bits = 16;  // these tests look at the projections; the head has its own test
    o.head_act.bits = 16;
    o.calib.file = dir_ / "calib.txt";
    o.calib.samples = 8;
    o.calib.seq_len = 64;
    o.calib.sample_rows = 128;
    o.calib.progress = false;
    return o;
  }

  std::vector<float> logits(LoadedModel& m) {
    const std::vector<int32_t> ids = {1, 300, 301, 45, 46, 47, 200, 201, 202, 90, 91, 92};
    KVCache cache = m.model->make_cache(static_cast<int>(ids.size()));
    const auto out = m.model->forward(ids, cache, LogitsFor::kAllTokens);
    return {out.begin(), out.end()};
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

TEST_F(PipelineTest, TransformsAreExactInFullPrecision) {
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  for (const char* method : {"smoothquant+rtn", "hadamard+rtn", "duquant+rtn", "awq"}) {
    LoadedModel m = load_model(dir_.path());
    quantize_model(*m.model, *m.tokenizer, options(method, 16, 16));
    EXPECT_LT(relative_error(logits(m), want), 1e-4) << method;
  }
}

TEST_F(PipelineTest, DuQuantCodeCompatIsAlsoExact) {
  LoadedModel ref = load_model(dir_.path());
  LoadedModel m = load_model(dir_.path());
  auto o = options("duquant", 16, 16);
  o.params.set("duquant-code-compat", 1);
  quantize_model(*m.model, *m.tokenizer, o);
  EXPECT_LT(relative_error(logits(m), logits(ref)), 1e-4);
}

TEST_F(PipelineTest, DuQuantOnTheMeanSequence) {
  // Exact in full precision like every transform; quantized, the rotations fitted on the mean
  // sequence through the quantized layers are not those fitted on sampled rows.
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  auto o = options("duquant", 16, 16);
  o.params.set("duquant-mean-seq", 1);
  LoadedModel exact = load_model(dir_.path());
  quantize_model(*exact.model, *exact.tokenizer, o);
  EXPECT_LT(relative_error(logits(exact), want), 1e-4);

  auto q = options("duquant", 4, 4);
  LoadedModel sampled = load_model(dir_.path());
  quantize_model(*sampled.model, *sampled.tokenizer, q);
  q.params.set("duquant-mean-seq", 1);
  LoadedModel mean = load_model(dir_.path());
  quantize_model(*mean.model, *mean.tokenizer, q);
  const double err = relative_error(logits(mean), want);
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 1.0);
  EXPECT_GT(relative_error(logits(mean), logits(sampled)), 1e-4);
}

TEST_F(PipelineTest, QuantizationErrorShrinksWithBits) {
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  double previous = 1e9;
  for (int bits : {3, 4, 8}) {
    LoadedModel m = load_model(dir_.path());
    quantize_model(*m.model, *m.tokenizer, options("rtn", bits, bits));
    const double err = relative_error(logits(m), want);
    EXPECT_GT(err, 0.0) << bits;
    EXPECT_LT(err, previous) << bits;
    previous = err;
  }
  EXPECT_LT(previous, 0.1);  // W8A8 on a random (chaotic) model
}

TEST_F(PipelineTest, EveryLinearIsReplacedAndKvQuantIsSet) {
  LoadedModel m = load_model(dir_.path());
  quantize_model(*m.model, *m.tokenizer, options("duquant+gptq", 4, 4, 4));
  for (const auto& L : m.model->weights().layers) {
    const auto* q = dynamic_cast<const FakeQuantLinear*>(L.wq.get());
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->act_spec().bits, 4);
    EXPECT_NE(q->transform(), nullptr);
    EXPECT_NE(dynamic_cast<const FakeQuantLinear*>(L.w_down.get()), nullptr);
  }
  EXPECT_EQ(m.model->kv_quant().bits, 4);
  EXPECT_EQ(m.model->kv_quant().group_size, m.model->config().head_dim);
  for (float v : logits(m)) EXPECT_TRUE(std::isfinite(v));
}

TEST_F(PipelineTest, Int8HeadAlsoServesTiedEmbeddings) {
  LoadedModel ref = load_model(dir_.path());
  LoadedModel m = load_model(dir_.path());
  auto o = options("rtn", 16, 16);
  o.head_weight.bits = 8;
  o.head_act.bits = 8;
  quantize_model(*m.model, *m.tokenizer, o);
  const auto& w = m.model->weights();
  EXPECT_EQ(w.embedding, nullptr);  // read from the quantized head's rows
  const auto* head = dynamic_cast<const FakeQuantLinear*>(w.lm_head.get());
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->weight_spec().bits, 8);
  const double err = relative_error(logits(m), logits(ref));
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 0.05);
}

TEST_F(PipelineTest, UntiedEmbeddingIsStoredWithTheHeadSpec) {
  LoadedModel ref = load_model(dir_.path());
  LoadedModel m = load_model(dir_.path());
  auto o = options("hadamard+rtn", 16, 16);  // the rotation unties the head
  o.head_weight = {8, true, 32, 1.0f, true};
  o.head_act.bits = 8;
  quantize_model(*m.model, *m.tokenizer, o);
  const auto& w = m.model->weights();
  EXPECT_FALSE(w.config.tied_embeddings);
  EXPECT_EQ(w.embedding, nullptr);  // no fp32 table left
  const auto* emb = dynamic_cast<const FakeQuantLinear*>(w.quantized_embedding.get());
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->weight_spec().bits, 8);
  EXPECT_EQ(emb->weight_spec().group_size, 32);
  EXPECT_EQ(emb->in_features(), m.model->config().dim);
  EXPECT_EQ(emb->out_features(), m.model->config().vocab_size);
  const double err = relative_error(logits(m), logits(ref));
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 0.05);
}

// QuaRot and DuQuant rotate q and k per head after RoPE when the K cache is quantized: exact in
// full precision, so the logits do not move; the registry says which methods do it.
TEST_F(PipelineTest, RotationMethodsRotateQueriesAndKeysUnderAQuantizedKCache) {
  LoadedModel ref = load_model(dir_.path());
  const auto want = logits(ref);
  auto rotated = LlamaModel::AttentionQuant{.qk_hadamard = true, .query = {}};
  ref.model->set_attention_quant(rotated);
  EXPECT_LT(relative_error(logits(ref), want), 1e-5);

  for (const auto& [method, kvbits, expect] :
       {std::tuple{"hadamard+rtn", 4, true}, std::tuple{"duquant+rtn", 8, true},
        std::tuple{"hadamard+rtn", 16, false}, std::tuple{"rtn", 4, false},
        std::tuple{"smoothquant+rtn", 4, false}}) {
    LoadedModel m = load_model(dir_.path());
    quantize_model(*m.model, *m.tokenizer, options(method, 4, 8, kvbits));
    EXPECT_EQ(m.model->attention_quant().qk_hadamard, expect) << method << " KV" << kvbits;
    EXPECT_FALSE(m.model->attention_quant().query.enabled());
  }
  // A 4-bit query moves the logits (by 22% on this random 16-wide-head model), not wildly.
  LoadedModel m = load_model(dir_.path());
  m.model->set_attention_quant({.qk_hadamard = true, .query = {.bits = 4}});
  const double err = relative_error(logits(m), want);
  EXPECT_GT(err, 1e-4);
  EXPECT_LT(err, 0.5);
}

TEST_F(PipelineTest, ImpossibleSettingsFailBeforeWork) {
  LoadedModel m = load_model(dir_.path());
  EXPECT_THROW(MethodSpec::parse("rtn+frobnicate"), Error);
  EXPECT_THROW(MethodSpec::parse("hadamard+duquant"), Error);
  EXPECT_THROW(MethodSpec::parse("gptq+awq"), Error);
  auto o = options("rtn", 4, 1);
  EXPECT_THROW(quantize_model(*m.model, *m.tokenizer, o), Error);  // abits 1
  o = options("rtn", 4, 16);
  o.weight.group_size = 48;  // does not divide 64
  EXPECT_THROW(quantize_model(*m.model, *m.tokenizer, o), Error);
  o = options("gptq", 4, 16);
  o.calib.seq_len = 100000;  // longer than the calibration text
  EXPECT_THROW(quantize_model(*m.model, *m.tokenizer, o), Error);
  o = options("duquant", 4, 4);
  o.params.set("duquant-block", 48);
  EXPECT_THROW(quantize_model(*m.model, *m.tokenizer, o), Error);
  o = options("gptq", 4, 16);
  o.calib.file.clear();
  EXPECT_THROW(quantize_model(*m.model, *m.tokenizer, o), Error);
  o = options("rtn", 4, 8);
  o.head_weight.group_size = 7;  // does not divide the model dimension
  try {
    quantize_model(*m.model, *m.tokenizer, o);
    ADD_FAILURE() << "a head group that does not divide dim was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--head-group"), std::string::npos) << e.what();
  }
  // Nothing was replaced by the failed attempts.
  EXPECT_NE(dynamic_cast<const DenseLinear*>(m.model->weights().layers[0].wq.get()), nullptr);
}

TEST_F(PipelineTest, QuantizedModelIsNotQuantizedAgain) {
  LoadedModel m = load_model(dir_.path());
  quantize_model(*m.model, *m.tokenizer, options("rtn", 4, 16));
  const auto before = logits(m);
  try {
    quantize_model(*m.model, *m.tokenizer, options("hadamard+rtn", 4, 8));
    ADD_FAILURE() << "a quantized model was quantized again";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 q_proj"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already quantized"), std::string::npos) << e.what();
  }
  // Refused before any work: the rotation did not touch the model.
  EXPECT_EQ(logits(m), before);
}

}  // namespace
}  // namespace lowbit
