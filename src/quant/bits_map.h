#pragma once
// Per-layer bit allocation: `--bits-map` rules that give some projections other weight bits than
// --wbits, like llama.cpp's mixed k-quants (which keep e.g. attn_v and ffn_down at more bits).
//
// Grammar: comma-separated RULE = PATTERN '=' BITS ['g' GROUP].
//   PATTERN  PROJ                       that projection in every layer (e.g. down_proj)
//          | layers.L.PROJ              layer L, L a number, a range A-B (inclusive) or '*'
//   PROJ     q_proj | k_proj | v_proj | o_proj | gate_proj | up_proj | down_proj | '*'
//   BITS     2..8, or 16 (full precision)
//   GROUP    the weights per scale for those projections instead of --group: 0 for one scale
//            per row, else a size dividing the projection's input width
// e.g. "down_proj=6,layers.0-1.*=8g0". A later rule wins over an earlier one for the projections
// both match (its group too: a rule without one restores --group). Every rule must match at least
// one projection of the model (a typo is an error, not a silent no-op).
#include <string>
#include <string_view>
#include <vector>

#include "layers/quantizer.h"
#include "model/config.h"

namespace lowbit {

struct BitsRule {
  int first_layer = 0, last_layer = -1;  // inclusive; last_layer -1: every layer from first
  std::string projection;                // "*" or one of the seven names
  int bits = 4;
  int group = -1;    // -1: the run's --group; 0: one scale per row; else the group size
  std::string text;  // the rule as written (for messages)
};

class BitsMap {
 public:
  // Throws lowbit::Error naming --bits-map and the rule for malformed rules.
  static BitsMap parse(const std::string& text);

  bool empty() const { return rules_.empty(); }
  const std::vector<BitsRule>& rules() const { return rules_; }
  std::string text() const;  // the rules joined as given
  // The bits of (layer, projection) after the rules, or `fallback` when none matches.
  int bits_for(int layer, std::string_view projection, int fallback) const;
  // `base` with the bits and group of the last rule matching (layer, projection), if any.
  QuantSpec spec_for(int layer, std::string_view projection, QuantSpec base) const;
  bool sets_groups() const;  // whether any rule gives a group
  // Throws naming the rule when it reaches past the model's layers or matches no projection.
  void validate(const ModelConfig& config) const;

 private:
  std::vector<BitsRule> rules_;
};

// The seven projection names of a decoder layer, in WorkLayer order.
inline constexpr std::string_view kLayerProjections[] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

}  // namespace lowbit
