#include "quant/bits_map.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "core/error.h"

namespace lowbit {
namespace {

bool parse_int(std::string_view s, int& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool known_projection(std::string_view p) {
  return p == "*" || std::find(std::begin(kLayerProjections), std::end(kLayerProjections), p) !=
                         std::end(kLayerProjections);
}

BitsRule parse_rule(const std::string& rule) {
  const auto bad = [&](std::string_view why) {
    fail(
        "--bits-map: rule '{}': {} (rules are PROJ=BITS or layers.L.PROJ=BITS, L a number, A-B "
        "or *, BITS optionally followed by gGROUP)",
        rule, why);
  };
  BitsRule r;
  r.text = rule;
  const size_t eq = rule.find('=');
  if (eq == std::string::npos) bad("no '='");
  const std::string pattern = rule.substr(0, eq), value = rule.substr(eq + 1);
  const size_t g = value.find('g');
  const std::string bits = value.substr(0, g);
  if (!parse_int(bits, r.bits)) bad("bits are not a number");
  if (g != std::string::npos) {
    if (!parse_int(std::string_view(value).substr(g + 1), r.group) || r.group < 0)
      bad("the group after 'g' is not a number >= 0");
    if (r.group % 8 != 0) bad("the group size must be a multiple of 8 (0: one scale per row)");
  }
  if (r.bits != 16 && (r.bits < 2 || r.bits > 8)) bad("bits must be 2..8 or 16");
  if (pattern.starts_with("layers.")) {
    const std::string rest = pattern.substr(7);
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) bad("no projection after the layer");
    const std::string layers = rest.substr(0, dot);
    r.projection = rest.substr(dot + 1);
    if (layers == "*") {
      r.first_layer = 0;
      r.last_layer = -1;
    } else if (const size_t dash = layers.find('-'); dash != std::string::npos) {
      if (!parse_int(std::string_view(layers).substr(0, dash), r.first_layer) ||
          !parse_int(std::string_view(layers).substr(dash + 1), r.last_layer) ||
          r.first_layer < 0 || r.last_layer < r.first_layer)
        bad("layer range is not A-B with 0 <= A <= B");
    } else {
      if (!parse_int(layers, r.first_layer) || r.first_layer < 0) bad("layer is not a number");
      r.last_layer = r.first_layer;
    }
  } else {
    r.projection = pattern;
  }
  if (!known_projection(r.projection))
    bad(
        fmt::format("unknown projection '{}' (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, "
                    "down_proj or *)",
                    r.projection));
  return r;
}

bool matches(const BitsRule& r, int layer, std::string_view projection) {
  return layer >= r.first_layer && (r.last_layer < 0 || layer <= r.last_layer) &&
         (r.projection == "*" || r.projection == projection);
}

}  // namespace

BitsMap BitsMap::parse(const std::string& text) {
  BitsMap m;
  std::stringstream ss(text);
  for (std::string rule; std::getline(ss, rule, ',');) {
    rule.erase(std::remove(rule.begin(), rule.end(), ' '), rule.end());
    if (rule.empty()) fail("--bits-map '{}': empty rule", text);
    m.rules_.push_back(parse_rule(rule));
  }
  return m;
}

std::string BitsMap::text() const {
  std::string s;
  for (const auto& r : rules_) s += (s.empty() ? "" : ",") + r.text;
  return s;
}

int BitsMap::bits_for(int layer, std::string_view projection, int fallback) const {
  int bits = fallback;
  for (const auto& r : rules_)
    if (matches(r, layer, projection)) bits = r.bits;
  return bits;
}

QuantSpec BitsMap::spec_for(int layer, std::string_view projection, QuantSpec base) const {
  const int group = base.group_size;
  for (const auto& r : rules_)
    if (matches(r, layer, projection)) {
      base.bits = r.bits;
      base.group_size = r.group >= 0 ? r.group : group;
    }
  return base;
}

bool BitsMap::sets_groups() const {
  return std::any_of(rules_.begin(), rules_.end(), [](const BitsRule& r) { return r.group >= 0; });
}

void BitsMap::validate(const ModelConfig& config) const {
  for (const auto& r : rules_) {
    if (r.first_layer >= config.n_layers || r.last_layer >= config.n_layers)
      fail("--bits-map: rule '{}' names layer {} but the model has layers 0..{}", r.text,
           std::max(r.first_layer, r.last_layer), config.n_layers - 1);
    bool any = false;
    for (int l = 0; l < config.n_layers && !any; ++l)
      for (std::string_view p : kLayerProjections) any = any || matches(r, l, p);
    if (!any) fail("--bits-map: rule '{}' matches no layer of the model", r.text);
  }
}

}  // namespace lowbit
