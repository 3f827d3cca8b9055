#include "text/jinja_value.h"

#include <cmath>
#include <cstdlib>

#include "text/jinja_error.h"
#include "text/jinja_json.h"
#include "text/jinja_strings.h"

namespace lowbit::jinja {

const Value* CallArgs::get(size_t i, std::string_view name) const {
  if (i < positional.size()) return &positional[i];
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::String;
  v.s_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::array(Array a) {
  Value v;
  v.kind_ = Kind::List;
  v.a_ = std::make_shared<Array>(std::move(a));
  return v;
}
Value Value::object(Object o) {
  Value v;
  v.kind_ = Kind::Dict;
  v.o_ = std::make_shared<Object>(std::move(o));
  return v;
}
Value Value::namespace_object(Object o) {
  Value v = object(std::move(o));
  v.kind_ = Kind::Namespace;
  return v;
}
Value Value::function(Function f) {
  Value v;
  v.kind_ = Kind::Callable;
  v.fn_ = std::make_shared<const Function>(std::move(f));
  return v;
}

double Value::as_number() const {
  switch (kind_) {
    case Kind::Int:
      return static_cast<double>(i_);
    case Kind::Float:
      return f_;
    case Kind::Bool:
      return b_ ? 1 : 0;
    default:
      return std::nan("");
  }
}

namespace {
// Values whose containers are being freed by the outermost ~Value on this thread.
thread_local std::vector<Value>* t_pending = nullptr;
}  // namespace

Value::~Value() {
  const bool last_list = a_ && a_.use_count() == 1;
  const bool last_dict = o_ && o_.use_count() == 1;
  if (!last_list && !last_dict) return;
  const auto move_children = [&](std::vector<Value>& to) {
    if (last_list)
      for (Value& v : *a_)
        if (v.a_ || v.o_) to.push_back(std::move(v));
    if (last_dict)
      for (auto& e : o_->entries)
        if (e.second.a_ || e.second.o_) to.push_back(std::move(e.second));
  };
  if (t_pending) {  // an outer ~Value is draining: hand the children to it
    move_children(*t_pending);
    return;
  }
  std::vector<Value> pending;
  t_pending = &pending;
  move_children(pending);
  while (!pending.empty()) {
    Value v = std::move(pending.back());
    pending.pop_back();
  }  // each v's destructor appends its own children to `pending`
  t_pending = nullptr;
}

const void* Value::identity() const {
  if (a_) return a_.get();
  if (o_) return o_.get();
  if (fn_) return fn_.get();
  return nullptr;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return b_;
    case Kind::Int:
      return i_ != 0;
    case Kind::Float:
      return f_ != 0 && !std::isnan(f_);
    case Kind::String:
      return !s_->empty();
    case Kind::List:
      return !a_->empty();
    case Kind::Dict:
      return o_->size() > 0;
    case Kind::Namespace:
    case Kind::Callable:
      return true;
  }
  return false;
}

const char* Value::kind_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "undefined";
    case Kind::None:
      return "none";
    case Kind::Bool:
      return "boolean";
    case Kind::Int:
      return "integer";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "string";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "namespace";
    case Kind::Callable:
      return "function";
  }
  return "?";
}

const Value* Object::find(const std::string& key) const {
  const auto it = index.find(key);
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void Object::set(const std::string& key, Value v) {
  const auto it = index.find(key);
  if (it != index.end()) {
    entries[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, entries.size());
  entries.emplace_back(key, std::move(v));
}

namespace {

// JavaScript's ToNumber of a string: trimmed, "" is 0, anything not a whole number literal NaN.
double js_to_number(const std::string& s) {
  const std::string t(js_trim(s));
  if (t.empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size() ? d : std::nan("");
}

}  // namespace

bool loose_equal(const Value& a, const Value& b) {
  const bool a_nullish = a.is_none() || a.is_undefined();
  const bool b_nullish = b.is_none() || b.is_undefined();
  if (a_nullish || b_nullish) return a_nullish && b_nullish;
  if (a.is_string() && b.is_string()) return a.str() == b.str();
  if (a.identity() || b.identity()) return a.identity() == b.identity();
  if (a.kind() == Kind::Bool && b.kind() == Kind::Bool) return a.as_bool() == b.as_bool();
  const double x = a.is_string() ? js_to_number(a.str()) : a.as_number();
  const double y = b.is_string() ? js_to_number(b.str()) : b.as_number();
  return x == y;
}

bool strict_equal(const Value& a, const Value& b) {
  if (a.is_numeric() && b.is_numeric()) return a.as_number() == b.as_number();
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::Bool:
      return a.as_bool() == b.as_bool();
    case Kind::String:
      return a.str() == b.str();
    default:
      return a.identity() == b.identity();
  }
}

std::string to_output(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return "";
    case Kind::Bool:
      return v.as_bool() ? "true" : "false";
    case Kind::Int:
      return std::to_string(v.as_int());
    case Kind::Float:
      return float_text(v.as_float());
    case Kind::String:
      return v.str();
    case Kind::List:
    case Kind::Dict:
    case Kind::Namespace: {
      JsonOptions o;
      o.undefined_as_null = false;
      return to_json(v, o);
    }
    case Kind::Callable:
      fail_eval("cannot print a function");
  }
  return "";
}

std::string to_js_string(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return "undefined";
    case Kind::None:
      return "null";
    case Kind::Bool:
      return v.as_bool() ? "true" : "false";
    case Kind::Int:
      return std::to_string(v.as_int());
    case Kind::Float:
      return js_number(v.as_float());
    case Kind::String:
      return v.str();
    default:
      fail_eval(std::string("cannot concatenate a ") + v.kind_name() + " to a string");
  }
}

}  // namespace lowbit::jinja
