#include "text/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>

#include "core/limits.h"
#include "text/jinja_error.h"
#include "text/jinja_json.h"
#include "text/jinja_strings.h"

namespace lowbit::jinja {

namespace {

[[noreturn]] void not_for(const std::string& filter, const Value& v) {
  fail_eval("filter '" + filter + "' does not apply to a " + v.kind_name());
}

const std::string& want_string(const Value* v, const char* what) {
  if (!v || !v->is_string()) fail_eval(std::string(what) + " must be a string");
  return v->str();
}

bool want_bool(const Value* v, bool fallback, const char* what) {
  if (!v) return fallback;
  if (v->kind() != Kind::Bool) fail_eval(std::string(what) + " must be a boolean");
  return v->as_bool();
}

Value checked_string(std::string s) {
  if (s.size() > limits::kMaxChatTemplateOutputBytes)
    fail_eval(fmt::format("a string grew past {} bytes", limits::kMaxChatTemplateOutputBytes));
  charge_work(static_cast<int64_t>(s.size() / 64));
  return Value::string(std::move(s));
}

// The text join() puts for an item: JavaScript's Array.join of the values.
std::string join_item(const Value& v) {
  if (v.is_none() || v.is_undefined()) return "";
  if (v.is_float()) return js_number(v.as_float());
  return to_js_string(v);
}

// The order of sort and dictsort: numbers (and booleans) by value, strings (case-insensitively
// unless asked), none equal to none; anything else cannot be compared.
int compare(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_undefined() && b.is_undefined()) return 0;
  const auto numeric = [](const Value& v) { return v.is_numeric() || v.kind() == Kind::Bool; };
  if (numeric(a) && numeric(b)) {
    const double x = a.as_number(), y = b.as_number();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    const std::string x = case_sensitive ? a.str() : ascii_lower(a.str());
    const std::string y = case_sensitive ? b.str() : ascii_lower(b.str());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  fail_eval(std::string("cannot compare a ") + a.kind_name() + " with a " + b.kind_name());
}

// "a.b.0": dict keys and list indices, undefined where the path leads nowhere.
Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (v.has_entries()) {
      const Value* f = v.obj().find(part);
      v = f ? *f : Value();
    } else if (v.is_array()) {
      char* end = nullptr;
      const long long i = std::strtoll(part.c_str(), &end, 10);
      if (end == part.c_str() || i < 0 || static_cast<size_t>(i) >= v.arr().size()) return Value();
      v = v.arr()[static_cast<size_t>(i)];
    } else {
      return Value();
    }
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

Value split(const std::string& s, const CallArgs& a) {
  const Value* sep = a.get(0, "sep");
  const Value* maxsplit_v = a.get(1, "maxsplit");
  if (sep && !sep->is_string() && !sep->is_none()) fail_eval("split: sep must be a string or none");
  if (maxsplit_v && !maxsplit_v->is_int()) fail_eval("split: maxsplit must be an integer");
  const int64_t maxsplit = maxsplit_v ? maxsplit_v->as_int() : -1;
  Array out;
  if (!sep || sep->is_none()) {  // runs of whitespace, no empty parts
    std::string_view rest = js_trim_start(s);
    while (!rest.empty()) {
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        out.push_back(Value::string(std::string(rest)));
        break;
      }
      size_t end = 0;
      while (end < rest.size() && js_trim_start(rest.substr(end)).size() == rest.size() - end)
        ++end;
      out.push_back(Value::string(std::string(rest.substr(0, end))));
      rest = js_trim_start(rest.substr(end));
    }
  } else {
    const std::string& d = sep->str();
    if (d.empty()) fail_eval("split: empty separator");
    size_t start = 0;
    while (true) {
      const size_t at = s.find(d, start);
      if (at == std::string::npos ||
          (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit)) {
        out.push_back(Value::string(s.substr(start)));
        break;
      }
      out.push_back(Value::string(s.substr(start, at - start)));
      start = at + d.size();
      charge_work(1);
    }
  }
  charge_work(static_cast<int64_t>(out.size()));
  return Value::array(std::move(out));
}

Value replace(const std::string& s, const CallArgs& a) {
  const std::string& from = want_string(a.get(0, "old"), "replace: old");
  const std::string& to = want_string(a.get(1, "new"), "replace: new");
  const Value* count_v = a.get(2, "count");
  if (count_v && !count_v->is_int() && !count_v->is_none())
    fail_eval("replace: count must be an integer or none");
  int64_t left =
      count_v && count_v->is_int() && count_v->as_int() >= 0 ? count_v->as_int() : INT64_MAX;
  std::string out;
  if (from.empty()) {  // between every code point, as Python does
    for (const auto cp : code_points(s)) {
      if (left > 0) {
        out += to;
        --left;
      }
      out += cp;
    }
    if (left > 0) out += to;
    return checked_string(std::move(out));
  }
  size_t start = 0;
  while (left > 0) {
    const size_t at = s.find(from, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += to;
    start = at + from.size();
    --left;
    if (out.size() > limits::kMaxChatTemplateOutputBytes) break;
  }
  out.append(s, start, std::string::npos);
  return checked_string(std::move(out));
}

Value string_method(const Value& self, const std::string& name) {
  const std::string s = self.str();
  const auto method = [](auto f) { return Value::function(std::move(f)); };
  if (name == "length") return Value::integer(utf16_length(s));
  if (name == "upper")
    return method([s](const CallArgs&) { return Value::string(ascii_upper(s)); });
  if (name == "lower")
    return method([s](const CallArgs&) { return Value::string(ascii_lower(s)); });
  // strip() takes no characters there: an argument is ignored, as in the reference.
  if (name == "strip")
    return method([s](const CallArgs&) { return Value::string(std::string(js_trim(s))); });
  if (name == "lstrip")
    return method([s](const CallArgs&) { return Value::string(std::string(js_trim_start(s))); });
  if (name == "rstrip")
    return method([s](const CallArgs&) { return Value::string(std::string(js_trim_end(s))); });
  if (name == "title") return method([s](const CallArgs&) { return Value::string(title_case(s)); });
  if (name == "capitalize")
    return method([s](const CallArgs&) {
      std::string c = s;
      if (!c.empty() && c[0] >= 'a' && c[0] <= 'z') c[0] = static_cast<char>(c[0] - 'a' + 'A');
      return Value::string(c);
    });
  if (name == "startswith" || name == "endswith") {
    const bool starts = name == "startswith";
    return method([s, starts, name](const CallArgs& a) {
      const Value* p = a.get(0, "prefix");
      if (!p) fail_eval(name + "() needs an argument");
      const auto check = [&](const Value& v) {
        if (!v.is_string()) fail_eval(name + "() takes a string or a tuple of strings");
        const std::string& x = v.str();
        return x.size() <= s.size() && (starts ? s.compare(0, x.size(), x) == 0
                                               : s.compare(s.size() - x.size(), x.size(), x) == 0);
      };
      if (p->is_array()) {
        for (const Value& v : p->arr())
          if (check(v)) return Value::boolean(true);
        return Value::boolean(false);
      }
      return Value::boolean(check(*p));
    });
  }
  if (name == "split") return method([s](const CallArgs& a) { return split(s, a); });
  if (name == "replace") return method([s](const CallArgs& a) { return replace(s, a); });
  return Value();
}

Value items_of(const Object& o) {
  Array out;
  for (const auto& [k, v] : o.entries) out.push_back(Value::array({Value::string(k), v}));
  charge_work(static_cast<int64_t>(out.size()));
  return Value::array(std::move(out));
}

Value object_method(const Value& self, const std::string& name) {
  if (name == "items")
    return Value::function([self](const CallArgs&) { return items_of(self.obj()); });
  if (name == "keys")
    return Value::function([self](const CallArgs&) {
      Array out;
      for (const auto& e : self.obj().entries) out.push_back(Value::string(e.first));
      return Value::array(std::move(out));
    });
  if (name == "values")
    return Value::function([self](const CallArgs&) {
      Array out;
      for (const auto& e : self.obj().entries) out.push_back(e.second);
      return Value::array(std::move(out));
    });
  if (name == "get")
    return Value::function([self](const CallArgs& a) {
      const std::string& key = want_string(a.get(0, "key"), "get: key");
      if (const Value* v = self.obj().find(key)) return *v;
      const Value* d = a.get(1, "default");
      return d ? *d : Value::none();
    });
  return Value();
}

Value indent(const std::string& s, const CallArgs* a) {
  const Value* width = a ? a->get(0, "width") : nullptr;
  std::string pad = "    ";
  if (width) {
    if (width->is_int())
      pad = std::string(static_cast<size_t>(std::clamp<int64_t>(width->as_int(), 0, 256)), ' ');
    else if (width->is_string())
      pad = width->str();
    else
      fail_eval("indent: width must be an integer or a string");
  }
  const bool first = a ? a->get(1, "first") && a->get(1, "first")->truthy() : false;
  const bool blank = a ? a->get(2, "blank") && a->get(2, "blank")->truthy() : false;
  std::string out;
  size_t start = 0, line = 0;
  while (true) {
    const size_t nl = s.find('\n', start);
    const std::string_view part(s.data() + start,
                                (nl == std::string::npos ? s.size() : nl) - start);
    if (line > 0) out += '\n';
    if (!((!first && line == 0) || (!blank && part.empty()))) out += pad;
    out += part;
    if (nl == std::string::npos) break;
    start = nl + 1;
    ++line;
  }
  return checked_string(std::move(out));
}

// parseInt / parseFloat on a string: the longest numeric prefix after leading whitespace.
std::optional<double> parse_number_prefix(const std::string& s, bool integer) {
  const std::string t(js_trim_start(s));
  char* end = nullptr;
  const double d = integer ? static_cast<double>(std::strtoll(t.c_str(), &end, 10))
                           : std::strtod(t.c_str(), &end);
  if (end == t.c_str()) return std::nullopt;
  return d;
}

// A double truncated to an integer, refused where it does not fit (NaN, infinities, beyond 2^63).
Value truncated(double d) {
  if (!(std::fabs(d) < 9.2e18)) fail_eval("int: " + js_number(d) + " does not fit an integer");
  return Value::integer(static_cast<int64_t>(std::trunc(d)));
}

Value to_int_or_float(const std::string& name, const Value& v, const CallArgs* a) {
  const bool integer = name == "int";
  const Value* dflt = a ? a->get(0, "default") : nullptr;
  const Value fallback = dflt ? *dflt : integer ? Value::integer(0) : Value::number(0);
  switch (v.kind()) {
    case Kind::String: {
      const auto d = parse_number_prefix(v.str(), integer);
      if (!d) return fallback;
      return integer ? truncated(*d) : Value::number(*d);
    }
    case Kind::Int:
    case Kind::Float:
      return integer ? truncated(v.as_number()) : Value::number(v.as_number());
    case Kind::Bool:
      return integer ? Value::integer(v.as_bool()) : Value::number(v.as_bool());
    default:
      not_for(name, v);
  }
}

Value array_filter_with_args(const std::string& name, const Value& operand, const CallArgs& a) {
  const Array& items = operand.arr();
  if (name == "sort") {
    const bool reverse = want_bool(a.get(0, "reverse"), false, "sort: reverse");
    const bool case_sensitive =
        want_bool(a.get(1, "case_sensitive"), false, "sort: case_sensitive");
    const Value* attr = a.get(2, "attribute");
    if (attr && !attr->is_string() && !attr->is_int() && !attr->is_none())
      fail_eval("sort: attribute must be a string or an integer");
    const auto key = [&](const Value& v) {
      if (!attr || attr->is_none()) return v;
      return attribute_path(v, attr->is_int() ? std::to_string(attr->as_int()) : attr->str());
    };
    Array out = items;
    charge_work(static_cast<int64_t>(out.size()) * 20);
    std::stable_sort(out.begin(), out.end(), [&](const Value& x, const Value& y) {
      const int c = compare(key(x), key(y), case_sensitive);
      return reverse ? c > 0 : c < 0;
    });
    return Value::array(std::move(out));
  }
  if (name == "selectattr" || name == "rejectattr") {
    const bool select = name == "selectattr";
    for (const Value& v : items)
      if (!v.has_entries()) fail_eval(name + " applies to a list of dicts");
    const std::string& attr = want_string(a.get(0, ""), name.c_str());
    const Value* test = a.get(1, "");
    const Value arg = a.positional.size() > 2 ? a.positional[2] : Value();
    if (test && !test->is_string()) fail_eval(name + ": the test must be a string");
    Array out;
    for (const Value& v : items) {
      const Value* field = v.obj().find(attr);
      // As there: an item without the attribute never passes the test (not even `undefined`).
      const bool passed = field && (test ? apply_test(test->str(), *field, arg) : field->truthy());
      if (passed == select) out.push_back(v);
    }
    charge_work(static_cast<int64_t>(items.size()));
    return Value::array(std::move(out));
  }
  if (name == "map") {
    const Value* attr = nullptr;
    const Value* dflt = nullptr;
    for (const auto& [k, v] : a.keyword) {
      if (k == "attribute") attr = &v;
      if (k == "default") dflt = &v;
    }
    if (!attr) fail_eval("map without attribute= is not supported");
    const std::string& path = want_string(attr, "map: attribute");
    Array out;
    for (const Value& v : items) {
      if (!v.has_entries()) fail_eval("map: items must be dicts");
      Value x = attribute_path(v, path);
      out.push_back(x.is_undefined() && dflt ? *dflt : x);
    }
    charge_work(static_cast<int64_t>(items.size()));
    return Value::array(std::move(out));
  }
  fail_eval("unknown filter '" + name + "' for a list");
}

}  // namespace

Value member(const Value& object, const Value& key) {
  if (object.has_entries()) {
    if (!key.is_string())
      fail_eval(std::string("a dict key must be a string, not a ") + key.kind_name());
    if (const Value* v = object.obj().find(key.str())) return *v;
    return object.is_object() ? object_method(object, key.str()) : Value();
  }
  if (object.is_array() || object.is_string()) {
    if (key.is_int()) {
      if (object.is_array()) {
        const auto n = static_cast<int64_t>(object.arr().size());
        const int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
        return i >= 0 && i < n ? object.arr()[static_cast<size_t>(i)] : Value();
      }
      const auto cps = code_points(object.str());
      const auto n = static_cast<int64_t>(cps.size());
      const int64_t i = key.as_int() < 0 ? key.as_int() + n : key.as_int();
      return i >= 0 && i < n ? Value::string(std::string(cps[static_cast<size_t>(i)])) : Value();
    }
    if (key.is_string()) {
      if (object.is_array())
        return key.str() == "length" ? Value::integer(static_cast<int64_t>(object.arr().size()))
                                     : Value();
      return string_method(object, key.str());
    }
    fail_eval(std::string("cannot index a ") + object.kind_name() + " with a " + key.kind_name());
  }
  if (!key.is_string())
    fail_eval(std::string("cannot index a ") + object.kind_name() + " with a " + key.kind_name());
  return Value();
}

bool apply_test(const std::string& name, const Value& v, const Value& arg) {
  const Kind k = v.kind();
  if (name == "defined") return k != Kind::Undefined;
  if (name == "undefined") return k == Kind::Undefined;
  if (name == "none") return k == Kind::None;
  if (name == "boolean") return k == Kind::Bool;
  if (name == "true") return k == Kind::Bool && v.as_bool();
  if (name == "false") return k == Kind::Bool && !v.as_bool();
  if (name == "string") return k == Kind::String;
  if (name == "number") return v.is_numeric();
  if (name == "integer") return k == Kind::Int;
  if (name == "iterable") return k == Kind::List || k == Kind::String;
  if (name == "mapping") return k == Kind::Dict;
  if (name == "sequence") return k == Kind::List || k == Kind::Dict || k == Kind::String;
  if (name == "callable") return k == Kind::Callable;
  if (name == "lower") return k == Kind::String && v.str() == ascii_lower(v.str());
  if (name == "upper") return k == Kind::String && v.str() == ascii_upper(v.str());
  if (name == "odd" || name == "even") {
    if (k != Kind::Int)
      fail_eval("test '" + name + "' applies to an integer, not a " + v.kind_name());
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "equalto" || name == "eq") return strict_equal(v, arg);
  fail_eval("unknown test '" + name + "'");
}

Value apply_filter(const std::string& name, const Value& operand, const CallArgs* args) {
  const CallArgs none;
  const CallArgs& a = args ? *args : none;
  if (name == "safe") return operand;
  if (name == "tojson") {
    JsonOptions o;
    for (const auto& [k, v] : a.keyword) {
      if (k == "indent") {
        if (!v.is_int() && !v.is_none()) fail_eval("tojson: indent must be an integer");
        if (v.is_int()) o.indent = v.as_int();
      } else if (k == "ensure_ascii") {
        o.ensure_ascii = want_bool(&v, false, "tojson: ensure_ascii");
      } else if (k == "sort_keys") {
        o.sort_keys = want_bool(&v, false, "tojson: sort_keys");
      } else if (k == "separators") {
        if (v.is_none()) continue;
        if (!v.is_array() || v.arr().size() != 2 || !v.arr()[0].is_string() ||
            !v.arr()[1].is_string())
          fail_eval("tojson: separators must be a pair of strings");
        o.separators = std::make_pair(v.arr()[0].str(), v.arr()[1].str());
      }
    }
    std::string out = to_json(operand, o);
    return checked_string(std::move(out));
  }
  if (name == "default") {
    const Value* d = a.get(0, "default_value");
    const bool boolean = want_bool(a.get(1, "boolean"), false, "default: boolean");
    if (operand.is_undefined() || (boolean && !operand.truthy())) return d ? *d : Value::string("");
    return operand;
  }
  if (name == "int" || name == "float") return to_int_or_float(name, operand, args);
  if (name == "join" && args) {
    const Value* sep_v = a.get(0, "d");
    const std::string sep = sep_v ? want_string(sep_v, "join: separator") : "";
    std::string out;
    if (operand.is_string()) {
      const auto cps = code_points(operand.str());
      for (size_t i = 0; i < cps.size(); ++i) out += (i ? sep : "") + std::string(cps[i]);
    } else if (operand.is_array()) {
      for (size_t i = 0; i < operand.arr().size(); ++i)
        out += (i ? sep : "") + join_item(operand.arr()[i]);
    } else {
      not_for(name, operand);
    }
    return checked_string(std::move(out));
  }
  switch (operand.kind()) {
    case Kind::List: {
      if (args) return array_filter_with_args(name, operand, a);
      const Array& items = operand.arr();
      if (name == "list") return operand;
      if (name == "first") return items.empty() ? Value() : items.front();
      if (name == "last") return items.empty() ? Value() : items.back();
      if (name == "length") return Value::integer(static_cast<int64_t>(items.size()));
      if (name == "reverse") return Value::array(Array(items.rbegin(), items.rend()));
      if (name == "sort") return array_filter_with_args(name, operand, a);
      if (name == "join") return apply_filter(name, operand, &none);
      if (name == "string") {
        JsonOptions o;
        o.undefined_as_null = false;
        return checked_string(to_json(operand, o));
      }
      if (name == "unique") {
        Array out;
        for (const Value& v : items) {
          bool seen = false;
          for (const Value& u : out) seen = seen || strict_equal(u, v);
          if (!seen) out.push_back(v);
          charge_work(static_cast<int64_t>(out.size()));
        }
        return Value::array(std::move(out));
      }
      break;
    }
    case Kind::String: {
      const std::string& s = operand.str();
      if (name == "length") return Value::integer(utf16_length(s));
      if (name == "upper") return Value::string(ascii_upper(s));
      if (name == "lower") return Value::string(ascii_lower(s));
      if (name == "title") return Value::string(title_case(s));
      if (name == "capitalize") return string_method(operand, name).fn()(none);
      if (name == "trim") return Value::string(std::string(js_trim(s)));
      if (name == "indent") return indent(s, args);
      if (name == "join" || name == "string") return operand;
      if (name == "replace" && args) return replace(s, a);
      break;
    }
    case Kind::Int:
    case Kind::Float: {
      if (name == "abs") {
        if (operand.is_float()) return Value::number(std::fabs(operand.as_float()));
        if (operand.as_int() == INT64_MIN) fail_eval("integer overflow in abs");
        return Value::integer(operand.as_int() < 0 ? -operand.as_int() : operand.as_int());
      }
      if (name == "string") return Value::string(to_output(operand));
      break;
    }
    case Kind::Dict: {
      if (name == "items" && !args) return items_of(operand.obj());
      if (name == "length" && !args)
        return Value::integer(static_cast<int64_t>(operand.obj().size()));
      const Value m = object_method(operand, name);
      if (!m.is_undefined()) return m.fn()(a);
      break;
    }
    case Kind::Bool: {
      if (name == "bool") return operand;
      if (name == "string") return Value::string(operand.as_bool() ? "true" : "false");
      break;
    }
    default:
      break;
  }
  fail_eval("filter '" + name + "' does not apply to a " + operand.kind_name());
}

Object global_names(std::chrono::system_clock::time_point now) {
  Object g;
  g.set("true", Value::boolean(true));
  g.set("false", Value::boolean(false));
  g.set("none", Value::none());
  g.set("True", Value::boolean(true));
  g.set("False", Value::boolean(false));
  g.set("None", Value::none());
  g.set("raise_exception", Value::function([](const CallArgs& a) -> Value {
          const Value* m = a.get(0, "message");
          throw Raised{m ? to_output(*m) : std::string()};
        }));
  g.set("namespace", Value::function([](const CallArgs& a) {
          if (a.positional.size() > 1)
            fail_eval("namespace() takes at most one positional argument");
          Object o;
          if (a.positional.size() == 1) {
            const Value& src = a.positional[0];
            if (src.is_object()) {
              for (const auto& [k, v] : src.obj().entries) o.set(k, v);
            } else if (src.is_array()) {
              for (const Value& pair : src.arr()) {
                if (!pair.is_array() || pair.arr().size() != 2 || !pair.arr()[0].is_string())
                  fail_eval("namespace() takes a dict or a list of [key, value] pairs");
                o.set(pair.arr()[0].str(), pair.arr()[1]);
              }
            } else {
              fail_eval(std::string("namespace() cannot read a ") + src.kind_name());
            }
          }
          for (const auto& [k, v] : a.keyword) o.set(k, v);
          return Value::namespace_object(std::move(o));
        }));
  g.set("range", Value::function([](const CallArgs& a) {
          for (const Value& v : a.positional)
            if (!v.is_int()) fail_eval("range() takes integers");
          if (a.positional.empty() || a.positional.size() > 3)
            fail_eval("range() takes 1 to 3 integers");
          int64_t start = 0, stop = 0, step = 1;
          if (a.positional.size() == 1) {
            stop = a.positional[0].as_int();
          } else {
            start = a.positional[0].as_int();
            stop = a.positional[1].as_int();
            if (a.positional.size() == 3) step = a.positional[2].as_int();
          }
          if (step == 0) fail_eval("range() step must not be zero");
          const double n = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) /
                                     static_cast<double>(step));
          charge_work(static_cast<int64_t>(std::clamp(n, 0.0, 1e18)));  // before allocating it
          Array out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.push_back(Value::integer(i));
            if (__builtin_add_overflow(i, step, &i)) break;
            i -= step;
          }
          return Value::array(std::move(out));
        }));
  g.set("strftime_now", Value::function([now](const CallArgs& a) {
          const std::string& f = want_string(a.get(0, "format"), "strftime_now: format");
          const std::time_t t = std::chrono::system_clock::to_time_t(now);
          std::tm tm{};
          gmtime_r(&t, &tm);
          static const char* kMonths[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};
          const auto pad2 = [](int n) {
            std::string d = std::to_string(n);
            if (d.size() < 2) d.insert(0, 1, '0');
            return d;
          };
          std::string out;
          for (size_t i = 0; i < f.size(); ++i) {
            if (f[i] != '%' || i + 1 >= f.size()) {
              out += f[i];
              continue;
            }
            const char c = f[++i];
            switch (c) {
              case 'Y':
                out += std::to_string(tm.tm_year + 1900);
                break;
              case 'm':
                out += pad2(tm.tm_mon + 1);
                break;
              case 'd':
                out += pad2(tm.tm_mday);
                break;
              case 'b':
                out += std::string(kMonths[tm.tm_mon]).substr(0, 3);
                break;
              case 'B':
                out += kMonths[tm.tm_mon];
                break;
              case 'H':
                out += pad2(tm.tm_hour);
                break;
              case 'M':
                out += pad2(tm.tm_min);
                break;
              case '%':
                out += '%';
                break;
              default:
                out += '%';
                out += c;  // left as written, as there
            }
          }
          return Value::string(out);
        }));
  return g;
}

}  // namespace lowbit::jinja
