#pragma once
// The bit-format names used across the CLI ("W4A8", "W4A4KV4", "W4A16g128"): weight bits,
// activation bits, optional KV-cache bits (default 16 = full precision) and optional weight group
// size (default 0 = per output channel). One parser for `bench --formats`, `eval --configs`.
#include <string>
#include <string_view>

namespace lowbit {

struct BitFormat {
  std::string name;  // as written
  int wbits = 16, abits = 16, kvbits = 16;
  int group = 0;

  // Throws lowbit::Error naming `what` (e.g. "--configs") and the text when it is not of the form
  // W<bits>A<bits>[KV<bits>][g<group>].
  static BitFormat parse(std::string_view text, std::string_view what);
};

}  // namespace lowbit
