// The forward-pass profile (core/op_profile.h): timers add to their operator, the total leaves out
// the projections' parts, and the active profile is the calling thread's for a scope.
#include "core/op_profile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace lowbit {
namespace {

TEST(OpProfile, TimersAddToTheirOperatorAndTheTotalSkipsParts) {
  ForwardProfile p;
  {
    OpTimer t(&p, ForwardOp::kAttention);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  { OpTimer t(nullptr, ForwardOp::kNorm); }  // no profile: nothing recorded, no crash
  p.add(ForwardOp::kActQuant, 5.0);          // a part of the projections
  p.add(ForwardOp::kQkvProj, 1.0);
  EXPECT_GE(p.seconds[static_cast<size_t>(ForwardOp::kAttention)], 0.002);
  EXPECT_EQ(p.seconds[static_cast<size_t>(ForwardOp::kNorm)], 0.0);
  EXPECT_DOUBLE_EQ(p.total(), 1.0 + p.seconds[static_cast<size_t>(ForwardOp::kAttention)]);
  for (int i = 0; i < static_cast<int>(ForwardOp::kCount); ++i)
    EXPECT_STRNE(forward_op_name(static_cast<ForwardOp>(i)), "?");
}

TEST(OpProfile, ActiveProfileIsScopedAndPerThread) {
  ForwardProfile outer, inner;
  EXPECT_EQ(active_profile(), nullptr);
  {
    ActiveProfileScope a(&outer);
    {
      ActiveProfileScope b(&inner);
      EXPECT_EQ(active_profile(), &inner);
      ForwardProfile* seen = &inner;
      std::thread([&] { seen = active_profile(); }).join();
      EXPECT_EQ(seen, nullptr);  // another thread has its own
    }
    EXPECT_EQ(active_profile(), &outer);
  }
  EXPECT_EQ(active_profile(), nullptr);
}

}  // namespace
}  // namespace lowbit
