// Sampler: greedy at temperature 0; otherwise draws follow softmax(logits / T) restricted to the
// smallest top-probability set whose mass reaches top_p (renormalised), reproducibly per seed.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"

namespace lowbit {
namespace {

// The expected distribution, computed independently of the sampler: softmax of logits / T in
// double, then the nucleus: tokens by decreasing probability until the kept mass reaches top_p.
std::vector<double> nucleus(const std::vector<float>& logits, double temperature, double top_p) {
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += (p[i] = std::exp(logits[i] / temperature));
  for (auto& v : p) v /= sum;
  std::vector<size_t> order(p.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  std::vector<double> out(p.size(), 0.0);
  double kept = 0;
  for (size_t i : order) {
    if (kept >= top_p) break;
    kept += (out[i] = p[i]);
  }
  for (auto& v : out) v /= kept;
  return out;
}

std::vector<int32_t> draws(const std::vector<float>& logits, SamplerOptions o, size_t n) {
  Sampler s(o);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = s.sample(logits);
  return out;
}

// Over N seeded draws every kept token's frequency lies within 5 standard deviations
// (sqrt(p (1 - p) / N)) of its probability, and an excluded token is never drawn. The draws are
// deterministic for the seed, so this cannot flake; a wrong temperature, a cutoff one token off or
// a renormalisation error moves some frequency by >= 0.01, i.e. > 10 standard deviations here.
void expect_frequencies(const std::vector<float>& logits, float temperature, float top_p,
                        const std::vector<double>& want) {
  const size_t n = 200000;
  std::vector<size_t> count(logits.size(), 0);
  for (int32_t t : draws(logits, {temperature, top_p, 12345}, n)) {
    ASSERT_GE(t, 0);
    ASSERT_LT(static_cast<size_t>(t), logits.size());
    ++count[static_cast<size_t>(t)];
  }
  for (size_t i = 0; i < logits.size(); ++i) {
    const double f = static_cast<double>(count[i]) / static_cast<double>(n);
    if (want[i] == 0.0) {
      EXPECT_EQ(count[i], 0u) << "token " << i << " is outside the nucleus (T " << temperature
                              << ", top-p " << top_p << ")";
    } else {
      EXPECT_NEAR(f, want[i], 5 * std::sqrt(want[i] * (1 - want[i]) / static_cast<double>(n)))
          << "token " << i << " (T " << temperature << ", top-p " << top_p << ")";
    }
  }
}

// Distinct logits, not sorted, so the sampler must order them itself.
const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.2f, 3.0f, -0.3f, 0.0f, 1.7f};

TEST(Sampler, TemperatureZeroIsArgmax) {
  for (uint64_t seed : {0u, 1u, 99u}) {
    for (int32_t t : draws(kLogits, {0.0f, 1.0f, seed}, 50)) EXPECT_EQ(t, 4);
    for (int32_t t : draws(kLogits, {0.0f, 0.3f, seed}, 50)) EXPECT_EQ(t, 4);
  }
  EXPECT_EQ(argmax(kLogits), 4);
  const std::vector<float> ties = {1.0f, 5.0f, 5.0f, -2.0f};
  EXPECT_EQ(argmax(ties), 1);  // the first maximum
  EXPECT_EQ(Sampler({0.0f, 1.0f, 3}).sample(ties), 1);
}

TEST(Sampler, FullDistributionAtTemperatureOne) {
  expect_frequencies(kLogits, 1.0f, 1.0f, nucleus(kLogits, 1.0, 1.0));
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  for (float t : {0.5f, 2.0f}) expect_frequencies(kLogits, t, 1.0f, nucleus(kLogits, t, 1.0));
  // The two really differ from T = 1 (so the test above would see a temperature that is ignored).
  EXPECT_GT(nucleus(kLogits, 0.5, 1.0)[4] - nucleus(kLogits, 1.0, 1.0)[4], 0.1);
  EXPECT_LT(nucleus(kLogits, 2.0, 1.0)[4] - nucleus(kLogits, 1.0, 1.0)[4], -0.1);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingTheMass) {
  // Probabilities 0.5, 0.3, 0.15, 0.05 (tokens 2, 0, 3, 1): top-p 0.7 keeps {2, 0}; 0.9 keeps
  // {2, 0, 3}; 0.4 keeps {2} alone; 1.0 keeps all four.
  const std::vector<float> logits = {
      static_cast<float>(std::log(0.3)), static_cast<float>(std::log(0.05)),
      static_cast<float>(std::log(0.5)), static_cast<float>(std::log(0.15))};
  EXPECT_EQ(nucleus(logits, 1.0, 0.7)[3], 0.0);
  EXPECT_NEAR(nucleus(logits, 1.0, 0.7)[2], 0.5 / 0.8, 1e-6);
  EXPECT_EQ(nucleus(logits, 1.0, 0.9)[1], 0.0);
  EXPECT_NEAR(nucleus(logits, 1.0, 0.9)[3], 0.15 / 0.95, 1e-6);
  for (float top_p : {0.4f, 0.7f, 0.9f, 1.0f})
    expect_frequencies(logits, 1.0f, top_p, nucleus(logits, 1.0, top_p));
  // With temperature and top-p together the nucleus is taken after the temperature.
  // (At T 0.7 the top three hold 0.914 of the mass, the top two 0.812: five tokens drop out.)
  const auto tempered = nucleus(kLogits, 0.7, 0.9);
  EXPECT_EQ(std::count(tempered.begin(), tempered.end(), 0.0), 5);
  expect_frequencies(kLogits, 0.7f, 0.9f, tempered);
  // A tiny top-p is greedy.
  for (int32_t t : draws(kLogits, {1.5f, 1e-6f, 5}, 200)) EXPECT_EQ(t, 4);
}

TEST(Sampler, SameSeedSameDrawsOtherSeedOtherDraws) {
  const auto a = draws(kLogits, {0.9f, 0.95f, 7}, 500);
  EXPECT_EQ(a, draws(kLogits, {0.9f, 0.95f, 7}, 500));
  EXPECT_NE(a, draws(kLogits, {0.9f, 0.95f, 8}, 500));
  // Draws depend on the sequence of calls only, not on other samplers.
  Sampler s1({0.9f, 0.95f, 7}), s2({0.9f, 0.95f, 7}), other({0.9f, 0.95f, 7});
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(s1.sample(kLogits), a[i]);
    other.sample(kLogits);
    EXPECT_EQ(s2.sample(kLogits), a[i]);
  }
}

TEST(Sampler, RejectsBadOptions) {
  EXPECT_THROW(Sampler({-0.1f, 1.0f, 0}), Error);
  EXPECT_THROW(Sampler({NAN, 1.0f, 0}), Error);
  EXPECT_THROW(Sampler({1.0f, 0.0f, 0}), Error);
  EXPECT_THROW(Sampler({1.0f, 1.01f, 0}), Error);
  EXPECT_NO_THROW(Sampler({1.0f, 1.0f, 0}));
}

TEST(Sampler, TinyTopPOnAFlatDistributionIsTheTopToken) {
  // No token reaches the nucleus cut-off (1 - top_p) / (n - 1) here: the nucleus is one token.
  std::vector<float> flat(1000, 0.25f);
  flat[7] = 0.2500001f;
  for (int32_t t : draws(flat, {1.0f, 1e-6f, 5}, 20)) EXPECT_EQ(t, 7);
  EXPECT_EQ(Sampler({1.0f, 0.5f, 5}).sample(std::vector<float>{3.0f}), 0);
}

}  // namespace
}  // namespace lowbit
