#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

#include "core/error.h"
#include "core/float16.h"
#include "core/thread_pool.h"
#include "core/utf8.h"

namespace lowbit {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), 7, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) hits[i]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  std::atomic<int> tasks{0};
  for (int round = 0; round < 100; ++round) pool.run(5, [&](size_t) { tasks++; });
  EXPECT_EQ(tasks.load(), 500);
}

TEST(ThreadPool, PropagatesExceptions) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.run(4,
                        [](size_t i) {
                          if (i == 2) fail("task {}", i);
                        }),
               Error);
  int ran = 0;
  pool.run(1, [&](size_t) { ++ran; });  // still usable
  EXPECT_EQ(ran, 1);
}

TEST(ThreadPool, NestedRegionsRunInline) {
  ThreadPool pool(2);
  std::vector<std::atomic<int>> hits(64 * 50);
  for (int round = 0; round < 20; ++round)
    pool.run(64, [&](size_t outer) {
      pool.parallel_for(50, 1, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) hits[outer * 50 + i]++;
      });
    });
  for (auto& h : hits) EXPECT_EQ(h.load(), 20);
  // An exception from a nested region reaches the outer caller, and the pool stays usable.
  EXPECT_THROW(pool.run(4,
                        [&](size_t) {
                          pool.run(3, [](size_t i) {
                            if (i == 1) fail("inner {}", i);
                          });
                        }),
               Error);
  int ran = 0;
  pool.run(1, [&](size_t) { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(Float16, Conversions) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0200), 3.0517578125e-05f);
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
}

TEST(Utf8, Validation) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("na\xC3\xAFve \xF0\x9F\x98\x80"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xFF"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);       // overlong
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);  // surrogate
  EXPECT_EQ(find_invalid_utf8("\xE2\x82"), 0u);       // truncated
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x82"), 2u);
  EXPECT_EQ(complete_utf8_prefix("ab\xE2\x82\xAC"), 5u);
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F"), 0u);
}

}  // namespace
}  // namespace lowbit
