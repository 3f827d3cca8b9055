#include "quant/bit_format.h"

#include <charconv>

#include "core/error.h"

namespace lowbit {
namespace {

// Consumes `prefix` and the decimal number after it from `rest`; false if either is missing or
// the number does not fit an int.
bool take_number(std::string_view& rest, std::string_view prefix, int& out) {
  if (!rest.starts_with(prefix)) return false;
  rest.remove_prefix(prefix.size());
  if (rest.empty() || rest.front() < '0' || rest.front() > '9') return false;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), out);
  if (ec != std::errc() || end == rest.data()) return false;
  rest.remove_prefix(static_cast<size_t>(end - rest.data()));
  return true;
}

}  // namespace

BitFormat BitFormat::parse(std::string_view text, std::string_view what) {
  BitFormat f;
  f.name = std::string(text);
  std::string_view rest = text;
  bool ok = take_number(rest, "W", f.wbits) && take_number(rest, "A", f.abits);
  if (ok && rest.starts_with("KV")) ok = take_number(rest, "KV", f.kvbits);
  if (ok && rest.starts_with("g")) ok = take_number(rest, "g", f.group);
  if (!ok || !rest.empty())
    fail("{}: '{}' is not of the form W<bits>A<bits>[KV<bits>][g<group>]", what, text);
  return f;
}

}  // namespace lowbit
