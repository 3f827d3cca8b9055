#include "core/json.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <set>
#include <vector>

#include "core/error.h"
#include "core/limits.h"

namespace lowbit {
namespace {

std::string type_name(const Json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number_float()) return "number";
  return v.type_name();
}

// A short rendering of a value for messages.
std::string shown(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

Json parse_json(std::string_view text, std::string_view what) {
  // The parser itself is iterative; the depth bound protects the code that walks the result, the
  // key sets catch duplicates (nlohmann keeps the last silently; other readers keep the first).
  std::vector<std::set<std::string>> keys;
  const auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= limits::kMaxJsonDepth)
          fail("{}: JSON nested deeper than {} levels", what, limits::kMaxJsonDepth);
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
          fail("{}: duplicate JSON key \"{}\"", what, parsed.get<std::string>());
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." without the tag.
    std::string_view message = e.what();
    if (const size_t p = message.find("] "); message.starts_with("[json.") && p != message.npos)
      message.remove_prefix(p + 2);
    fail("{}: invalid JSON: {}", what, message);
  }
}

Json read_json_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: no such file", file);
  if (!S_ISREG(st.st_mode)) fail("{}: not a regular file", file);
  if (static_cast<uint64_t>(st.st_size) > limits::kMaxJsonFileBytes)
    fail("{}: {} bytes, more than the {} a JSON file may have", file, st.st_size,
         limits::kMaxJsonFileBytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", file);
  std::string text(static_cast<size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<size_t>(in.gcount()) != text.size()) fail("{}: read failed", file);
  return parse_json(text, file);
}

int64_t json_integer(const Json& v, int64_t lo, int64_t hi, std::string_view what,
                     std::string_view field) {
  int64_t out = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      fail("{}: {} = {} is out of range [{}, {}]", what, field, u, lo, hi);
    out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d))
      fail("{}: {} = {} is not an integer", what, field, shown(v));
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
      fail("{}: {} = {} is out of range [{}, {}]", what, field, shown(v), lo, hi);
    out = static_cast<int64_t>(d);
  } else {
    fail("{}: {} must be an integer, got {} {}", what, field, type_name(v), shown(v));
  }
  if (out < lo || out > hi) fail("{}: {} = {} is out of range [{}, {}]", what, field, out, lo, hi);
  return out;
}

JsonFields::JsonFields(const Json& j, std::string what, std::string path)
    : j_(j), what_(std::move(what)), path_(std::move(path)) {
  if (!j_.is_object())
    fail("{}: {} must be an object, got {}", what_, path_.empty() ? "the document" : path_,
         type_name(j_));
}

std::string JsonFields::field_name(std::string_view key) const {
  std::string out = path_;
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

bool JsonFields::has(std::string_view key) const {
  const auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

const Json& JsonFields::at(std::string_view key) const {
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) fail("{}: missing field {}", what_, field_name(key));
  return *it;
}

int64_t JsonFields::integer(std::string_view key, int64_t lo, int64_t hi) const {
  return json_integer(at(key), lo, hi, what_, field_name(key));
}

int64_t JsonFields::integer_or(std::string_view key, int64_t fallback, int64_t lo,
                               int64_t hi) const {
  return has(key) ? integer(key, lo, hi) : fallback;
}

double JsonFields::real(std::string_view key) const {
  const Json& v = at(key);
  if (!v.is_number())
    fail("{}: {} must be a number, got {} {}", what_, field_name(key), type_name(v), shown(v));
  const double d = v.get<double>();
  if (!std::isfinite(d)) fail("{}: {} = {} is not finite", what_, field_name(key), shown(v));
  return d;
}

double JsonFields::real_or(std::string_view key, double fallback) const {
  return has(key) ? real(key) : fallback;
}

bool JsonFields::boolean(std::string_view key) const {
  const Json& v = at(key);
  if (!v.is_boolean())
    fail("{}: {} must be true or false, got {}", what_, field_name(key), shown(v));
  return v.get<bool>();
}

bool JsonFields::boolean_or(std::string_view key, bool fallback) const {
  return has(key) ? boolean(key) : fallback;
}

std::string JsonFields::string(std::string_view key) const {
  const Json& v = at(key);
  if (!v.is_string())
    fail("{}: {} must be a string, got {} {}", what_, field_name(key), type_name(v), shown(v));
  return v.get<std::string>();
}

std::string JsonFields::string_or(std::string_view key, std::string_view fallback) const {
  return has(key) ? string(key) : std::string(fallback);
}

JsonFields JsonFields::object(std::string_view key) const {
  return JsonFields(at(key), what_, field_name(key));
}

}  // namespace lowbit
