// A lowbit W4A16 g32 model exported to GGUF (Q4_0) and read back: every weight is the .lowbit
// file's code times its scale rounded to fp16; with those rounded scales (and the fp16
// embeddings the export writes) the .lowbit model gives the same logits bit for bit; and the two
// files' perplexities agree within 0.1%.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>

#include "core/float16.h"
#include "eval/perplexity.h"
#include "io/lowbit_file.h"
#include "io/model_loader.h"
#include "io/quantized_model_io.h"
#include "kernels/packed_weights.h"
#include "layers/packed_linear.h"
#include "testing/fixtures.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

const char* kNames[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                        "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                        "mlp.down_proj"};

std::unique_ptr<Linear>& slot(LayerWeights& L, int i) {
  std::unique_ptr<Linear>* all[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
  return *all[i];
}

float f16_round(float x) {
  return f16_to_f32(f32_to_f16(x));
}

struct Files {
  testing::TempDir dir;
  fs::path lowbit = dir / "ref-w4.lowbit", gguf = dir / "ref-w4.gguf";
  Files() {
    auto r = testing::run_lowbit(fmt::format(
        "quantize -m '{}' --method rtn --wbits 4 --abits 16 --group 32 --head-bits 16 "
        "--head-abits 16 -o '{}'",
        testing::ref_llama_dir().string(), lowbit.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = testing::run_lowbit(
        fmt::format("export-gguf -m '{}' -o '{}'", lowbit.string(), gguf.string()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
};

TEST(GgufRoundTrip, ExportedW4A16ReadsBackAsTheLowbitModel) {
  Files files;
  LoadedModel g = load_model(files.gguf);
  ASSERT_EQ(g.format, "gguf");
  EXPECT_TRUE(g.gguf_requantized.empty());
  EXPECT_GT(g.dtype_params["Q4_0"], 0);

  // The .lowbit model with each scale rounded to fp16 and fp16 embeddings: what the export wrote.
  const LowbitFile file(files.lowbit);
  QuantizedModel lq = load_quantized_model(files.lowbit, QuantExecution::kPacked);
  LlamaWeights& w = lq.weights;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    for (int i = 0; i < 7; ++i) {
      const std::string name = "model.layers." + std::to_string(l) + "." + kNames[i];
      const auto view = kernels::PackedWeightsView::parse(file.tensor(name + ".packed").data);
      auto u = kernels::unpack_weights(view);
      for (auto& s : u.scales) s = f16_round(s);
      auto packed = std::make_shared<const kernels::PackedWeights>(
          kernels::pack_weights(u.codes, view.n(), view.k(), 4, 32, u.scales, {}, 8));
      // Every GGUF weight is the code times the rounded scale, in Hugging Face's row order.
      const LayerWeights& GL = g.model->weights().layers[l];
      const Linear* gls[] = {GL.wq.get(),     GL.wk.get(),   GL.wv.get(),    GL.wo.get(),
                             GL.w_gate.get(), GL.w_up.get(), GL.w_down.get()};
      const Linear& gl = *gls[i];
      std::vector<float> row(view.k());
      const auto expect = kernels::dequantize_weights(packed->view());
      size_t mismatches = 0;
      for (size_t r = 0; r < view.n(); ++r) {
        gl.weight_row(r, row);
        for (size_t c = 0; c < view.k(); ++c) mismatches += row[c] != expect[r * view.k() + c];
      }
      ASSERT_EQ(mismatches, 0u) << name;
      const QuantSpec wspec{4, true, 32};
      slot(w.layers[l], i) = std::make_unique<PackedLinear>(
          packed->view(), packed, wspec, std::vector<float>{}, QuantSpec{}, nullptr);
    }
  }
  ASSERT_TRUE(w.embedding);
  auto emb = std::make_shared<std::vector<uint16_t>>();
  for (const float x : w.embedding->to_f32()) emb->push_back(f32_to_f16(x));
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(emb->data()),
                                         emb->size() * 2);
  w.embedding = std::make_shared<const DenseMatrix>(w.embedding->rows(), w.embedding->cols(),
                                                    WeightDType::kF16, bytes, emb);
  ASSERT_TRUE(w.config.tied_embeddings);
  w.lm_head = std::make_unique<DenseLinear>(w.embedding);
  LlamaModel rounded(std::move(w));

  const std::string text =
      read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw").substr(0, 60000);
  const auto ids = tokenize_document(*g.tokenizer, text);
  const std::vector<int32_t> prompt(ids.begin(), ids.begin() + 24);
  KVCache c1 = rounded.make_cache(24), c2 = g.model->make_cache(24);
  const auto a = rounded.forward(prompt, c1, LogitsFor::kAllTokens);
  const std::vector<float> la(a.begin(), a.end());
  const auto b = g.model->forward(prompt, c2, LogitsFor::kAllTokens);
  EXPECT_EQ(la, std::vector<float>(b.begin(), b.end()));

  // Perplexity of the GGUF file and of the .lowbit file as it is (fp32 scales and embeddings).
  LoadedModel lb = load_model(files.lowbit);
  EXPECT_EQ(tokenize_document(*lb.tokenizer, text), ids);
  PerplexityOptions o;
  o.context = 128;
  o.max_windows = 12;
  const double pg = evaluate_perplexity(*g.model, ids, o).perplexity;
  const double pl = evaluate_perplexity(*lb.model, ids, o).perplexity;
  EXPECT_LT(std::abs(pg - pl) / pl, 1e-3) << "gguf " << pg << " lowbit " << pl;
  EXPECT_GT(pg, 1.0);
}

}  // namespace
}  // namespace lowbit
