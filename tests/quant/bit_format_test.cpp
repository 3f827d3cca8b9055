// The one parser of "W4A4KV4g128"-style bit formats (bench --formats, eval --configs).
#include "quant/bit_format.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lowbit {
namespace {

TEST(BitFormat, ParsesEveryPart) {
  const auto a = BitFormat::parse("W4A8", "--formats");
  EXPECT_EQ(a.name, "W4A8");
  EXPECT_EQ(a.wbits, 4);
  EXPECT_EQ(a.abits, 8);
  EXPECT_EQ(a.kvbits, 16);
  EXPECT_EQ(a.group, 0);
  const auto b = BitFormat::parse("W4A4KV4g128", "--configs");
  EXPECT_EQ(b.wbits, 4);
  EXPECT_EQ(b.abits, 4);
  EXPECT_EQ(b.kvbits, 4);
  EXPECT_EQ(b.group, 128);
  const auto c = BitFormat::parse("W3A16g64", "--configs");
  EXPECT_EQ(c.wbits, 3);
  EXPECT_EQ(c.abits, 16);
  EXPECT_EQ(c.kvbits, 16);
  EXPECT_EQ(c.group, 64);
}

TEST(BitFormat, RejectsMalformedTextNamingTheFlag) {
  for (const char* bad : {"", "W4", "A4W4", "W4A", "W4A8KV", "W4A8g", "W4A8x", "W-4A8", "w4a8",
                          "W4A8g128KV4", "W99999999999A8", " W4A8", "W4A8 "}) {
    try {
      BitFormat::parse(bad, "--configs");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("--configs: '") + bad +
                    "' is not of the form W<bits>A<bits>[KV<bits>][g<group>]");
    }
  }
}

}  // namespace
}  // namespace lowbit
