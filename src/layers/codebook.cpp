#include "layers/codebook.h"

#include <algorithm>
#include <array>

#include "core/error.h"

namespace lowbit {
namespace {

// bitsandbytes functional.py (get_4bit_type "nf4"), QLoRA appendix E: create_normal_map with
// offset 0.9677083: 8 positive quantiles of N(0, 1) on linspace(offset, 0.5, 9), 7 negative on
// linspace(offset, 0.5, 8), and 0, divided by the largest.
constexpr std::array<float, 16> kNf4 = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

}  // namespace

std::string_view codebook_name(Codebook c) {
  switch (c) {
    case Codebook::kNone:
      return "none";
    case Codebook::kNf4:
      return "nf4";
    case Codebook::kPerRow:
      return "per-row";
  }
  return "?";
}

Codebook parse_codebook(std::string_view name, const std::string& where) {
  for (Codebook c : {Codebook::kNone, Codebook::kNf4, Codebook::kPerRow})
    if (codebook_name(c) == name) return c;
  fail("{}: unknown codebook '{}' (known: none, nf4, per-row)", where, name);
}

std::span<const float> nf4_table() {
  return kNf4;
}

uint8_t nearest_code(std::span<const float> table, float x) {
  // Binary search for the first entry >= x, then the nearer of it and its predecessor.
  const auto it = std::lower_bound(table.begin(), table.end(), x);
  if (it == table.begin()) return 0;
  if (it == table.end()) return static_cast<uint8_t>(table.size() - 1);
  const auto hi = static_cast<size_t>(it - table.begin());
  return static_cast<uint8_t>(x - table[hi - 1] <= table[hi] - x ? hi - 1 : hi);
}

}  // namespace lowbit
