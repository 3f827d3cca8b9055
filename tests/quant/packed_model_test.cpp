// The integer kernels and the simulated path give the same WikiText-2 perplexity on ref-llama-s.
//
// The two paths compute the same codes (tests/kernels/fake_quant_equivalence_test.cpp) but sum in
// a different order, and a last-bit difference that moves an activation across a 4-bit rounding
// boundary changes it by a whole step (1/7 of the row's range). At W4A4 these flips compound
// through the layers, so on 3 windows the two perplexities differ by a few percent (measured:
// 326.4 vs 320.5; after a 1-ulp change to exp in softmax/SwiGLU, 322.9 vs 312.5) although they
// agree over the whole file (0.04%). The fast test therefore allows 5% at W4A4 and 0.5%
// elsewhere; the Long test holds W4A4 to 0.5% on the full file.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/perplexity.h"
#include "text/text_file.h"
#include "io/model_loader.h"
#include "layers/packed_linear.h"
#include "quant/pipeline.h"
#include "io/quantized_model_io.h"
#include "testing/fixtures.h"

namespace lowbit {
namespace {

double perplexity(const std::filesystem::path& model, bool simulate,
                  const std::vector<int32_t>& ids, int windows = 3) {
  LoadedModel m = load_model(model, {}, LoadOptions{simulate});
  return evaluate_perplexity(*m.model, ids, {512, windows, false}).perplexity;
}

TEST(PackedModel, KernelsMatchSimulationOnRefLlama) {
  testing::TempDir dir;
  LoadedModel fp = load_model(testing::ref_llama_dir());
  const auto ids = tokenize_document(
      *fp.tokenizer, read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw"));
  for (auto [wbits, abits, group] : {std::tuple{4, 4, 0}, {4, 8, 0}, {8, 8, 0}, {4, 16, 128}}) {
    LoadedModel m = load_model(testing::ref_llama_dir());
    QuantizeOptions o;
    o.weight = {wbits, true, group, 1.0f, true};
    o.act = {abits, true, 0, 1.0f, false};
    quantize_model(*m.model, *m.tokenizer, o);
    const auto file = dir / "m.lowbit";
    save_quantized_model(*m.model, testing::ref_llama_dir(), file, {});
    const double real = perplexity(file, false, ids), sim = perplexity(file, true, ids);
    const double tolerance = abits == 4 ? 0.05 : 0.005;
    EXPECT_LT(std::abs(real - sim) / sim, tolerance)
        << "W" << wbits << "A" << abits << ": " << real << " vs " << sim;
    // The file really holds packed low-bit weights: int4 + int8 head is under 0.4 of bf16.
    if (wbits == 4) {
      EXPECT_LT(std::filesystem::file_size(file), 0.4 * 49763024);
    }
  }
}

TEST(PackedModel, LongW4A4KernelsMatchSimulationOnFullWikiText2) {
  testing::TempDir dir;
  LoadedModel m = load_model(testing::ref_llama_dir());
  const auto ids = tokenize_document(
      *m.tokenizer, read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw"));
  QuantizeOptions o;
  o.weight = {4, true, 0, 1.0f, true};
  o.act = {4, true, 0, 1.0f, false};
  quantize_model(*m.model, *m.tokenizer, o);
  const auto file = dir / "m.lowbit";
  save_quantized_model(*m.model, testing::ref_llama_dir(), file, {});
  const double real = perplexity(file, false, ids, 0), sim = perplexity(file, true, ids, 0);
  EXPECT_LT(std::abs(real - sim) / sim, 0.005) << real << " vs " << sim;
}

}  // namespace
}  // namespace lowbit
