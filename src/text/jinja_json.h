#pragma once
// JSON in and out of template values: the request's messages and tools come in as JSON; `tojson`
// and printing a list or dict go out as JSON, spaced like Python's json.dumps (", " and ": ";
// "," with an indent) as the reference renderer does.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "text/jinja_value.h"

namespace lowbit::jinja {

struct JsonOptions {
  std::optional<int64_t> indent;
  bool ensure_ascii = false;
  bool sort_keys = false;
  std::optional<std::pair<std::string, std::string>> separators;  // item, key
  bool undefined_as_null = true;  // printing a list writes "undefined" instead
};

// Throws Failure past limits::kMaxChatTemplateDepth levels or kMaxChatTemplateOutputBytes.
std::string to_json(const Value& v, const JsonOptions& options);
// Keeps key order (ordered_json); integers stay integers, floats floats. Throws Failure past
// limits::kMaxChatTemplateDepth levels.
Value from_json(const nlohmann::ordered_json& j);

}  // namespace lowbit::jinja
