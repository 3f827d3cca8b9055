#pragma once
// Reading JSON from untrusted files: one parser entry point that bounds the nesting depth,
// rejects duplicate keys (which would make two readers see different values) and names the file
// in every error; and typed field access that rejects what a cast would coerce (fractions,
// out-of-range integers, wrong types), naming the file and field.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace lowbit {

using Json = nlohmann::json;

// Parses `text`; `what` names it in errors (a file, or "file: header").
Json parse_json(std::string_view text, std::string_view what);
// Reads and parses a regular file (at most limits::kMaxJsonFileBytes).
Json read_json_file(const std::filesystem::path& path);

// Fields of an object `j` read from `what`. `name` is the field's path for messages (e.g.
// "model.vocab"); the key looked up is its last component after '.'.
class JsonFields {
 public:
  JsonFields(const Json& j, std::string what, std::string path = "");
  bool has(std::string_view key) const;  // present and not null
  const Json& at(std::string_view key) const;
  // An integer in [lo, hi]; integral floats (4096.0) are accepted, fractions are not.
  int64_t integer(std::string_view key, int64_t lo, int64_t hi) const;
  int64_t integer_or(std::string_view key, int64_t fallback, int64_t lo, int64_t hi) const;
  double real(std::string_view key) const;
  double real_or(std::string_view key, double fallback) const;
  bool boolean(std::string_view key) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string_view fallback) const;
  // The fields of a nested object.
  JsonFields object(std::string_view key) const;
  std::string field_name(std::string_view key) const;
  const std::string& what() const { return what_; }
  const Json& json() const { return j_; }

 private:
  const Json& j_;
  std::string what_, path_;
};

// An integer JSON value in [lo, hi], or an Error naming `what` and `field`.
int64_t json_integer(const Json& v, int64_t lo, int64_t hi, std::string_view what,
                     std::string_view field);

}  // namespace lowbit
