// KL divergence against a base model: zero against itself; the perplexities it reports are the
// perplexity protocol's; a quantized model diverges; the CLI prints llama.cpp's report and refuses
// combinations it cannot honour.
#include "eval/kl_divergence.h"

#include <gtest/gtest.h>

#include <cmath>

#include "io/model_loader.h"
#include "testing/fixtures.h"
#include "text/document.h"
#include "text/text_file.h"

namespace lowbit {
namespace {

TEST(KlDivergence, OfTwoRowsByHand) {
  const float p[] = {1.0f, 2.0f, 0.5f};
  const float q[] = {0.0f, 2.5f, 0.5f};
  const auto softmax = [](const float* z) {
    std::vector<double> e(3);
    double s = 0;
    for (int i = 0; i < 3; ++i) s += e[i] = std::exp(static_cast<double>(z[i]));
    for (auto& x : e) x /= s;
    return e;
  };
  const auto a = softmax(p), b = softmax(q);
  double kl = 0;
  for (int i = 0; i < 3; ++i) kl += a[i] * std::log(a[i] / b[i]);
  EXPECT_NEAR(kl_divergence(p, q), kl, 1e-9);
  EXPECT_NEAR(kl_divergence(p, p), 0.0, 1e-12);
}

std::vector<int32_t> wiki_ids(const Tokenizer& tok, size_t tokens) {
  return tokenize_document(
      tok, read_text_file(testing::shared_dir() / "data/wikitext-2/wiki.test.raw"), tokens);
}

TEST(KlDivergence, AgainstItselfIsZeroAndPerplexityIsTheProtocols) {
  LoadedModel a = load_model(testing::ref_llama_dir());
  LoadedModel b = load_model(testing::ref_llama_dir());
  const auto ids = wiki_ids(*a.tokenizer, 2 * 128);
  const PerplexityOptions opts{128, 2, false};
  const auto r = evaluate_kl_divergence(*a.model, *b.model, ids, opts);
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.predictions, 2 * 127);
  EXPECT_NEAR(r.kld_mean, 0.0, 1e-12);
  EXPECT_NEAR(r.kld_max, 0.0, 1e-12);
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_NEAR(r.delta_ppl, 0.0, 1e-9);
  EXPECT_NEAR(r.nll_correlation, 1.0, 1e-9);
  const auto p = evaluate_perplexity(*a.model, ids, opts);
  EXPECT_NEAR(r.ppl_base, p.perplexity, 1e-9 * p.perplexity);
}

TEST(KlDivergence, CliReportsAQuantizedModel) {
  testing::TempDir tmp;
  const auto model = tmp / "w4a8.lowbit";
  const std::string ref = testing::ref_llama_dir().string();
  const std::string wiki = (testing::shared_dir() / "data/wikitext-2/wiki.test.raw").string();
  ASSERT_EQ(testing::run_lowbit("quantize -m " + ref + " --method rtn --wbits 4 --abits 8 -o " +
                                model.string())
                .exit_code,
            0);
  const auto r = testing::run_lowbit("perplexity -m " + model.string() + " -f " + wiki +
                                     " --ctx 128 --max-windows 3 -q --kl-divergence " + ref);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {"base perplexity: ", "delta ppl: ", "95% CI", "KL divergence: mean ",
                           "top-1 agreement: ", "p99 "})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  // The quantized model's perplexity line equals what plain `perplexity` reports.
  const auto plain = testing::run_lowbit("perplexity -m " + model.string() + " -f " + wiki +
                                         " --ctx 128 --max-windows 3 -q");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const auto line_of = [](const std::string& out, const std::string& key) {
    const size_t at = out.find("\n" + key);
    return at == std::string::npos ? std::string()
                                   : out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  };
  EXPECT_EQ(line_of(r.out, "perplexity: "), line_of(plain.out, "perplexity: "));
  const double mean = std::stod(r.out.substr(r.out.find("KL divergence: mean ") + 20));
  EXPECT_GT(mean, 1e-4);  // W4A8 is not the base model
  EXPECT_LT(mean, 1.0);

  const auto nll =
      testing::run_lowbit("perplexity -m " + model.string() + " -f " + wiki + " --kl-divergence " +
                          ref + " --nll-out " + (tmp / "n.txt").string());
  EXPECT_NE(nll.exit_code, 0);
  EXPECT_NE(nll.err.find("does not combine with --nll-out"), std::string::npos) << nll.err;
  const auto stories = (testing::shared_dir() / "models/stories260K/stories260K.bin").string();
  const auto vocab =
      testing::run_lowbit("perplexity -m " + model.string() + " -f " + wiki +
                          " --ctx 128 --max-windows 1 -q --kl-divergence " + stories);
  EXPECT_NE(vocab.exit_code, 0);
  EXPECT_NE(vocab.err.find("lowbit: error:"), std::string::npos) << vocab.err;
}

}  // namespace
}  // namespace lowbit
