#include "serve/token_logprobs.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lowbit::serve {
namespace {

TEST(TokenLogprobs, LogSoftmaxAndTopK) {
  const float logits[] = {1.0f, 3.0f, 2.0f, 3.0f};
  const auto lp = token_logprobs(logits, 2, 3);
  const double z = std::log(std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(lp.chosen, 2.0 - z, 1e-6);
  ASSERT_EQ(lp.top.size(), 3u);
  EXPECT_EQ(lp.top[0].first, 1);  // tie broken by id
  EXPECT_EQ(lp.top[1].first, 3);
  EXPECT_EQ(lp.top[2].first, 2);
  EXPECT_NEAR(lp.top[0].second, 3.0 - z, 1e-6);
  EXPECT_TRUE(token_logprobs(logits, 0, 0).top.empty());
  EXPECT_EQ(token_logprobs(logits, 0, 10).top.size(), 4u);
}

}  // namespace
}  // namespace lowbit::serve
