#include "text/jinja_json.h"

#include <algorithm>

#include "core/limits.h"
#include "text/jinja_error.h"
#include "text/jinja_strings.h"

namespace lowbit::jinja {

namespace {

void write_json(const Value& v, const JsonOptions& o, int depth, std::string& out) {
  if (depth > limits::kMaxChatTemplateDepth)
    fail_eval(
        fmt::format("tojson: value nested deeper than {} levels", limits::kMaxChatTemplateDepth));
  if (out.size() > limits::kMaxChatTemplateOutputBytes)
    fail_eval(
        fmt::format("tojson: output larger than {} bytes", limits::kMaxChatTemplateOutputBytes));
  const bool indented = o.indent && *o.indent > 0;
  const std::string item_sep = o.separators ? o.separators->first : indented ? "," : ", ";
  const std::string key_sep = o.separators ? o.separators->second : ": ";
  const std::string unit =
      indented ? std::string(static_cast<size_t>(std::min<int64_t>(*o.indent, 64)), ' ') : "";
  std::string base = "\n";
  for (int i = 0; i < depth; ++i) base += unit;
  const std::string child = base + unit;
  switch (v.kind()) {
    case Kind::Undefined:
      out += o.undefined_as_null ? "null" : "undefined";
      return;
    case Kind::None:
      out += "null";
      return;
    case Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Kind::Float: {
      const double f = v.as_float();
      out += std::isfinite(f) ? js_number(f) : "null";
      return;
    }
    case Kind::String:
      out += json_quote(v.str(), o.ensure_ascii);
      return;
    case Kind::List: {
      const Array& a = v.arr();
      out += '[';
      for (size_t i = 0; i < a.size(); ++i) {
        if (i > 0) out += item_sep;
        if (indented) out += child;
        write_json(a[i], o, depth + 1, out);
      }
      if (indented && !a.empty()) out += base;
      out += ']';
      return;
    }
    case Kind::Dict:
    case Kind::Namespace: {
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.obj().entries) entries.push_back(&e);
      if (o.sort_keys)
        std::stable_sort(entries.begin(), entries.end(),
                         [](auto* a, auto* b) { return a->first < b->first; });
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += item_sep;
        if (indented) out += child;
        out += json_quote(entries[i]->first, o.ensure_ascii);
        out += key_sep;
        write_json(entries[i]->second, o, depth + 1, out);
      }
      if (indented && !entries.empty()) out += base;
      out += '}';
      return;
    }
    case Kind::Callable:
      fail_eval("tojson: cannot convert a function to JSON");
  }
}

Value from_json_at(const nlohmann::ordered_json& j, int depth) {
  if (depth > limits::kMaxChatTemplateDepth)
    fail_eval(fmt::format("input nested deeper than {} levels", limits::kMaxChatTemplateDepth));
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      return u > static_cast<uint64_t>(INT64_MAX) ? Value::number(static_cast<double>(u))
                                                  : Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(from_json_at(e, depth + 1));
      return Value::array(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      for (const auto& [k, e] : j.items()) o.set(k, from_json_at(e, depth + 1));
      return Value::object(std::move(o));
    }
    default:
      fail_eval("input holds a JSON value of an unsupported kind (binary)");
  }
}

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  write_json(v, options, 0, out);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  return from_json_at(j, 0);
}

}  // namespace lowbit::jinja
