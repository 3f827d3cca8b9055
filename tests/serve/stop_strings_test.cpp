// Stop sequences over streamed text: nothing shown is taken back, the stop string is not returned.
#include "serve/stop_strings.h"

#include <gtest/gtest.h>

namespace lowbit::serve {
namespace {

std::string feed(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += m.push(p);
  return out;
}

TEST(StopMatcher, CutsAtTheStopStringAcrossPieces) {
  StopMatcher m({"\n\n"});
  EXPECT_EQ(m.push("Hello"), "Hello");
  EXPECT_EQ(m.push(" world\n"), " world");  // the newline may start "\n\n": held
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("\nmore"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("ignored"), "");
}

TEST(StopMatcher, ReleasesHeldTextThatDidNotStop) {
  StopMatcher m({"END"});
  EXPECT_EQ(feed(m, {"a", "E", "N"}), "a");
  EXPECT_EQ(m.push("x"), "ENx");
  EXPECT_EQ(m.push("EN"), "");
  EXPECT_EQ(m.flush(), "EN");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, EarliestOfSeveralStopsWins) {
  StopMatcher m({"world", "o w"});
  EXPECT_EQ(feed(m, {"hello world"}), "hell");
  EXPECT_TRUE(m.stopped());
  StopMatcher none({});
  EXPECT_EQ(feed(none, {"a", "b"}), "ab");
  StopMatcher empty({""});  // an empty stop string never matches
  EXPECT_EQ(feed(empty, {"a"}), "a");
}

}  // namespace
}  // namespace lowbit::serve
