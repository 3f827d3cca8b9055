#pragma once
// The values a chat template computes with. The kinds and their behaviour (truthiness, equality,
// how they print) follow @huggingface/jinja, the renderer transformers.js uses and the reference
// our oracle test compares against (docs/chat-templates.md): a template must render the same
// bytes here as there.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lowbit::jinja {

class Value;
struct Object;
using Array = std::vector<Value>;

// Arguments of a call: positional, then keyword (name=value) in the order written.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  // The argument at `index`, else the keyword `name`, else nullptr.
  const Value* get(size_t index, std::string_view name) const;
};
using Function = std::function<Value(const CallArgs&)>;

enum class Kind : uint8_t {
  Undefined,
  None,
  Bool,
  Int,
  Float,
  String,
  List,
  Dict,
  Namespace,
  Callable
};

// A value: scalars by value, strings shared and immutable, lists/dicts/namespaces shared and
// mutable (a namespace assigned in a loop is seen after it, as in Jinja).
class Value {
 public:
  Value() = default;  // undefined
  Value(const Value&) = default;
  Value(Value&&) noexcept = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) noexcept = default;
  // Releasing the last reference to a list or dict frees the values inside it iteratively, not
  // recursively: a template can build a list nested a million deep ({% set ns.x = [ns.x] %} in a
  // loop), and freeing that recursively would overflow the stack.
  ~Value();
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value array(Array a);
  static Value object(Object o);
  static Value namespace_object(Object o);
  static Value function(Function f);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_numeric() const { return kind_ == Kind::Int || kind_ == Kind::Float; }
  bool is_array() const { return kind_ == Kind::List; }
  bool is_object() const { return kind_ == Kind::Dict; }
  // Objects and namespaces: what `.name` and `["name"]` read.
  bool has_entries() const { return kind_ == Kind::Dict || kind_ == Kind::Namespace; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return i_; }
  double as_float() const { return f_; }
  double as_number() const;  // int, float or bool as a double
  const std::string& str() const { return *s_; }
  Array& arr() const { return *a_; }
  Object& obj() const { return *o_; }
  const Function& fn() const { return *fn_; }
  // Identity of a list/dict/namespace/function (equality of containers is identity, as there).
  const void* identity() const;

  bool truthy() const;
  const char* kind_name() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<Array> a_;
  std::shared_ptr<Object> o_;
  std::shared_ptr<const Function> fn_;
};

// A dict or namespace: keys in insertion order (tojson prints them so, like Python's dict).
struct Object {
  std::vector<std::pair<std::string, Value>> entries;
  std::unordered_map<std::string, size_t> index;

  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
  size_t size() const { return entries.size(); }
};

// `==`: JavaScript's loose equality on the values (1 == 1.0 == true, "1" == 1, none == undefined),
// identity for containers. `in` uses strict equality (no conversions).
bool loose_equal(const Value& a, const Value& b);
bool strict_equal(const Value& a, const Value& b);

// What `{{ value }}` prints: numbers as there ("1.0" for an integral float, "true"/"false" for
// booleans), containers as JSON; none and undefined print nothing (the caller skips them).
std::string to_output(const Value& v);
// The JavaScript String(value) the `~` and string `+` operators use (a float prints as "1").
std::string to_js_string(const Value& v);

}  // namespace lowbit::jinja
