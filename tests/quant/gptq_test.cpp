// GPTQ against round-to-nearest on correlated activations with outlier channels.
#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "core/error.h"

namespace lowbit {
namespace {

struct Layer {
  size_t n = 2048, in = 64, out = 48;
  std::vector<float> x, w;
  std::vector<double> h;
  explicit Layer(uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0, 1);
    std::vector<float> mix(in * in), z(n * in);
    for (auto& v : mix) v = g(rng) * 0.3f;
    for (auto& v : z) v = g(rng);
    x.assign(n * in, 0.0f);
    for (size_t r = 0; r < n; ++r)
      for (size_t j = 0; j < in; ++j) {
        float s = z[r * in + j];
        for (size_t k = 0; k < in; ++k) s += z[r * in + k] * mix[k * in + j];
        x[r * in + j] = s * (j % 16 == 3 ? 20.0f : 1.0f);  // a few outlier channels
      }
    w.resize(out * in);
    for (auto& v : w) v = g(rng);
    h.assign(in * in, 0.0);
    for (size_t r = 0; r < n; ++r)
      for (size_t i = 0; i < in; ++i)
        for (size_t j = 0; j < in; ++j) h[i * in + j] += double(x[r * in + i]) * x[r * in + j];
  }
  double output_error(const std::vector<float>& wq) const {
    double e = 0;
    for (size_t r = 0; r < n; ++r)
      for (size_t o = 0; o < out; ++o) {
        double d = 0;
        for (size_t j = 0; j < in; ++j)
          d += double(x[r * in + j]) * (w[o * in + j] - wq[o * in + j]);
        e += d * d;
      }
    return e;
  }
};

// Lazy batches change only when the trailing columns receive their updates, not what they
// receive: with one block as wide as the row, the solver is the unblocked column-by-column GPTQ of
// before, and blocked runs must give the same codes (up to the order of the double-precision sums,
// which moves no code on this layer).
TEST(Gptq, LazyBatchesGiveTheUnblockedCodes) {
  const Layer layer(11);
  for (int bits : {3, 4})
    for (int group : {0, 16, 32})
      for (bool act_order : {false, true})
        for (int block : {8, 16, 24}) {
          GptqOptions o;
          o.weight = {.bits = bits, .symmetric = false, .group_size = group, .mse_clip = true};
          o.act_order = act_order;
          o.block_size = 1 << 20;  // one block: the unblocked algorithm
          auto unblocked_w = layer.w;
          const auto unblocked = gptq_quantize(unblocked_w, layer.out, layer.in, layer.h, o);
          o.block_size = block;
          auto blocked_w = layer.w;
          const auto blocked = gptq_quantize(blocked_w, layer.out, layer.in, layer.h, o);
          const std::string what = "bits " + std::to_string(bits) + " group " +
                                   std::to_string(group) + " act_order " +
                                   std::to_string(act_order) + " block " + std::to_string(block);
          EXPECT_EQ(blocked.codes, unblocked.codes) << what;
          ASSERT_EQ(blocked.params.size(), unblocked.params.size());
          for (size_t i = 0; i < blocked.params.size(); ++i) {
            EXPECT_EQ(blocked.params[i].scale, unblocked.params[i].scale) << what;
            EXPECT_EQ(blocked.params[i].zero, unblocked.params[i].zero) << what;
          }
          EXPECT_EQ(blocked_w, unblocked_w) << what;
        }
}

TEST(Gptq, BeatsRoundToNearestOnLayerOutput) {
  const Layer layer(7);
  for (int bits : {3, 4})
    for (int group : {0, 16})
      for (bool act_order : {false, true}) {
        GptqOptions o;
        o.weight = {bits, true, group, 1.0f, false};
        o.act_order = act_order;
        auto rtn = layer.w;
        fake_quantize_rows(rtn, layer.out, layer.in, o.weight);
        auto gptq = layer.w;
        const auto q = gptq_quantize(gptq, layer.out, layer.in, layer.h, o);
        EXPECT_LT(layer.output_error(gptq), layer.output_error(rtn))
            << bits << " bits, group " << group << ", act_order " << act_order;
        EXPECT_EQ(q.dequantize(), gptq);          // the codes describe exactly the returned weights
        for (size_t r = 0; r < layer.out; ++r) {  // at most 2^bits levels per group
          const size_t g = group ? size_t(group) : layer.in;
          for (size_t k = 0; k < layer.in; k += g) {
            std::set<float> levels(gptq.begin() + long(r * layer.in + k),
                                   gptq.begin() + long(r * layer.in + k + g));
            EXPECT_LE(levels.size(), size_t{1} << bits);
          }
        }
      }
}

TEST(Gptq, IdentityHessianIsRoundToNearest) {
  const size_t in = 32, out = 8;
  std::vector<double> h(in * in, 0.0);
  for (size_t i = 0; i < in; ++i) h[i * in + i] = 1.0;
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> w(out * in);
  for (auto& v : w) v = g(rng);
  GptqOptions o;
  o.weight = {4, true, 0, 1.0f, false};
  auto rtn = w;
  fake_quantize_rows(rtn, out, in, o.weight);
  gptq_quantize(w, out, in, h, o);
  EXPECT_EQ(w, rtn);
}

TEST(Gptq, DeadInputsAreZeroedAndSizesChecked) {
  const size_t in = 16, out = 4;
  std::vector<double> h(in * in, 0.0);
  for (size_t i = 0; i < in; ++i) h[i * in + i] = i == 5 ? 0.0 : 2.0;
  std::vector<float> w(out * in, 0.7f);
  GptqOptions o;
  o.weight = {4, false, 0, 1.0f, false};
  gptq_quantize(w, out, in, h, o);
  for (size_t r = 0; r < out; ++r) {
    EXPECT_EQ(w[r * in + 5], 0.0f);
    for (size_t c = 0; c < in; ++c) EXPECT_TRUE(std::isfinite(w[r * in + c]));
  }
  std::vector<double> bad(in * in - 1);
  EXPECT_THROW(gptq_quantize(w, out, in, bad, o), Error);
}

}  // namespace
}  // namespace lowbit
