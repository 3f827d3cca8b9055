// LLM.int8(): outlier features are found from calibration, their weight columns leave the int8
// grid for fp16, and on ref-llama-s with injected activation outliers (a few features x100, the
// model's function unchanged) plain W8A8 collapses while LLM.int8() stays at full precision.
#include "quant/llm_int8.h"

#include <gtest/gtest.h>

#include "eval/perplexity.h"
#include "io/model_loader.h"
#include "layers/fake_quant_linear.h"
#include "quant/pipeline.h"
#include "testing/fixtures.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

TEST(LlmInt8, OutlierFeaturesAreThoseAboveTheThreshold) {
  const std::vector<float> absmax = {0.5f, 7.0f, 6.0f, 100.0f, 6.01f};
  EXPECT_EQ(outlier_features(absmax, 6.0f), (std::vector<uint32_t>{1, 3, 4}));
  EXPECT_TRUE(outlier_features(absmax, 200.0f).empty());
}

TEST(LlmInt8, DecompositionKeepsTheColumnsInFp16) {
  WorkLinear p;
  p.in = 8;
  p.out = 2;
  p.w = {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -80};
  const std::vector<uint32_t> cols = {2, 7};
  decompose_and_quantize(p, cols, 6.0f, 8);
  ASSERT_TRUE(p.extras);
  EXPECT_EQ(p.extras->outliers.cols, cols);
  EXPECT_EQ(p.extras->outliers.weight, (std::vector<float>{3, 8, -3, -80}));
  const auto d = p.q->dequantize();
  EXPECT_EQ(d[2], 0.0f);
  EXPECT_EQ(d[15], 0.0f);
  // Row 1's scale is set by the remaining columns (|-7|), not by the outlier column's -80.
  EXPECT_FLOAT_EQ(p.q->params[1].scale, 7.0f / 127.0f);
}

// Multiplies RMSNorm weights of `channels` by `factor` and divides the matching input columns of
// the projections reading them, in every layer: the same function with activation outliers.
void inject_outliers(LlamaModel& model, const std::vector<size_t>& channels, float factor) {
  auto rescale = [&](std::unique_ptr<Linear>& slot) {
    const auto& dense = dynamic_cast<const DenseLinear&>(*slot);
    std::vector<float> w = dense.weight().to_f32();
    const size_t in = static_cast<size_t>(dense.in_features());
    for (size_t r = 0; r < static_cast<size_t>(dense.out_features()); ++r)
      for (size_t c : channels) w[r * in + c] /= factor;
    slot = std::make_unique<DenseLinear>(dense.in_features(), dense.out_features(), std::move(w));
  };
  for (auto& L : model.weights().layers) {
    for (size_t c : channels) {
      L.attn_norm[c] *= factor;
      L.ffn_norm[c] *= factor;
    }
    for (auto* slot : {&L.wq, &L.wk, &L.wv, &L.w_gate, &L.w_up}) rescale(*slot);
  }
}

double perplexity(LlamaModel& model, const std::vector<int32_t>& ids) {
  return evaluate_perplexity(model, ids, {512, 4, false}).perplexity;
}

TEST(LlmInt8, RecoversW8A8OnInjectedOutliers) {
  const auto dir = testing::ref_llama_dir();
  QuantizeOptions o;
  o.weight = QuantSpec{.bits = 8, .symmetric = true, .group_size = 0};
  o.act = QuantSpec{.bits = 8};
  o.head_weight.bits = 16;
  o.head_act.bits = 16;
  o.calib.file = testing::shared_dir() / "data/corpus/calib.txt";
  o.calib.samples = 16;
  o.calib.seq_len = 256;
  o.calib.progress = false;
  const std::vector<size_t> channels = {5, 77, 200, 301};

  LoadedModel fp = load_model(dir);
  const auto ids = tokenize_document(
      *fp.tokenizer, read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw"),
      4 * 512 + 1);
  const double base = perplexity(*fp.model, ids);
  inject_outliers(*fp.model, channels, 100.0f);
  const double injected = perplexity(*fp.model, ids);
  EXPECT_NEAR(injected / base, 1.0, 1e-3);  // the same function

  auto quantized = [&](const char* method) {
    LoadedModel m = load_model(dir);
    inject_outliers(*m.model, channels, 100.0f);
    o.method = MethodSpec::parse(method);
    quantize_model(*m.model, *m.tokenizer, o);
    return perplexity(*m.model, ids);
  };
  const double plain = quantized("rtn");
  const double int8 = quantized("llm-int8");
  EXPECT_GT(plain / injected, 1.05) << plain << " vs " << injected;
  EXPECT_LT(int8 / injected, 1.005) << int8 << " vs " << injected;
}

}  // namespace
}  // namespace lowbit
