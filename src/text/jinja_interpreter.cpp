#include "text/jinja_interpreter.h"

#include <cmath>
#include <unordered_map>

#include "core/limits.h"
#include "text/jinja_builtins.h"
#include "text/jinja_error.h"
#include "text/jinja_json.h"
#include "text/jinja_strings.h"

namespace lowbit::jinja {

namespace {

thread_local int64_t* t_work_left = nullptr;

struct Scope {
  std::unordered_map<std::string, Value> vars;
  const Scope* parent = nullptr;

  Value lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      const auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value();
  }
};

struct BreakSignal {};
struct ContinueSignal {};

class Interpreter {
 public:
  explicit Interpreter(int& line) : line_(line) {}

  void block(const std::vector<NodePtr>& nodes, Scope& scope, std::string& out) {
    for (const auto& n : nodes) statement(*n, scope, out);
  }

 private:
  void append(std::string& out, const std::string& s) {
    out += s;
    if (out.size() > limits::kMaxChatTemplateOutputBytes)
      fail_eval(fmt::format("output larger than {} bytes", limits::kMaxChatTemplateOutputBytes));
    charge_work(static_cast<int64_t>(s.size() / 64));
  }

  void statement(const Node& n, Scope& scope, std::string& out) {
    line_ = n.line;
    charge_work(1);
    switch (n.kind) {
      case NodeKind::Text:
        append(out, n.text);
        return;
      case NodeKind::Output: {
        const Value v = eval(*n.kids[0], scope);
        append(out, to_output(v));
        return;
      }
      case NodeKind::If: {
        const Value c = eval(*n.kids[0], scope);
        block(c.truthy() ? n.body : n.alt, scope, out);
        return;
      }
      case NodeKind::For:
        run_for(n, scope, out);
        return;
      case NodeKind::Set:
        run_set(n, scope);
        return;
      case NodeKind::Break:
        throw BreakSignal{};
      case NodeKind::Continue:
        throw ContinueSignal{};
      default:
        append(out, to_output(eval(n, scope)));
        return;
    }
  }

  void bind(const Node& target, const Value& item, Scope& scope) {
    if (target.kind == NodeKind::Identifier) {
      scope.vars[target.text] = item;
      return;
    }
    if (!item.is_array()) fail_eval(std::string("cannot unpack a ") + item.kind_name());
    if (item.arr().size() != target.kids.size())
      fail_eval(fmt::format("cannot unpack {} items into {} names", item.arr().size(),
                            target.kids.size()));
    for (size_t i = 0; i < target.kids.size(); ++i)
      scope.vars[target.kids[i]->text] = item.arr()[i];
  }

  void run_for(const Node& n, Scope& scope, std::string& out) {
    Scope inner;
    inner.parent = &scope;
    const Node& target = *n.kids[0];
    const Node* test = nullptr;
    Value iterable;
    if (n.kids[1]->kind == NodeKind::Select) {
      iterable = eval(*n.kids[1]->kids[0], inner);
      test = n.kids[1]->kids[1].get();
    } else {
      iterable = eval(*n.kids[1], inner);
    }
    Array candidates;
    if (iterable.is_array()) {
      candidates = iterable.arr();
    } else if (iterable.is_object()) {
      for (const auto& e : iterable.obj().entries) candidates.push_back(Value::string(e.first));
    } else {
      fail_eval(std::string("cannot loop over a ") + iterable.kind_name());
    }
    Array items;
    for (const Value& c : candidates) {
      charge_work(1);
      if (target.kind == NodeKind::Tuple && (!c.is_array() || c.arr().size() != target.kids.size()))
        fail_eval("cannot unpack a loop item into " + std::to_string(target.kids.size()) +
                  " names");
      if (test) {
        Scope probe;
        probe.parent = &inner;
        bind(target, c, probe);
        if (!eval(*test, probe).truthy()) continue;
      }
      items.push_back(c);
    }
    bool iterated = false;
    const auto count = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < count; ++i) {
      charge_work(1);
      Object loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(count - i));
      loop.set("revindex0", Value::integer(count - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == count - 1));
      loop.set("length", Value::integer(count));
      loop.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value());
      loop.set("nextitem", i + 1 < count ? items[static_cast<size_t>(i + 1)] : Value());
      inner.vars["loop"] = Value::object(std::move(loop));
      bind(target, items[static_cast<size_t>(i)], inner);
      try {
        block(n.body, inner, out);
      } catch (const ContinueSignal&) {
        continue;
      } catch (const BreakSignal&) {
        break;
      }
      iterated = true;
    }
    if (!iterated) block(n.alt, inner, out);
  }

  void run_set(const Node& n, Scope& scope) {
    Value v;
    if (n.kids[1]) {
      v = eval(*n.kids[1], scope);
    } else {
      std::string text;
      block(n.body, scope, text);
      v = Value::string(std::move(text));
    }
    const Node& target = *n.kids[0];
    if (target.kind == NodeKind::Member) {
      const Value object = eval(*target.kids[0], scope);
      if (object.kind() != Kind::Namespace) fail_eval("only a namespace's attributes can be set");
      const Value key = eval(*target.kids[1], scope);
      if (!key.is_string()) fail_eval("a namespace attribute is a name");
      object.obj().set(key.str(), v);
      return;
    }
    if (target.kind == NodeKind::Tuple) {
      for (const auto& k : target.kids)
        if (k->kind != NodeKind::Identifier) fail_eval("'set' can only unpack into names");
    }
    bind(target, v, scope);
  }

  Value eval(const Node& n, const Scope& scope) {
    line_ = n.line;
    charge_work(1);
    switch (n.kind) {
      case NodeKind::Literal:
        return n.literal;
      case NodeKind::Identifier:
        return scope.lookup(n.text);
      case NodeKind::List:
      case NodeKind::Tuple: {
        Array a;
        for (const auto& k : n.kids) a.push_back(eval(*k, scope));
        return Value::array(std::move(a));
      }
      case NodeKind::Dict: {
        Object o;
        for (size_t i = 0; i + 1 < n.kids.size(); i += 2) {
          const Value k = eval(*n.kids[i], scope);
          if (!k.is_string()) fail_eval("a dict key must be a string");
          o.set(k.str(), eval(*n.kids[i + 1], scope));
        }
        return Value::object(std::move(o));
      }
      case NodeKind::Member: {
        const Value object = eval(*n.kids[0], scope);
        const Value key = eval(*n.kids[1], scope);
        return member(object, key);
      }
      case NodeKind::Slice:
        return slice(n, scope);
      case NodeKind::Call: {
        const CallArgs args = arguments(n, scope);
        const Value callee = eval(*n.kids[0], scope);
        line_ = n.line;
        if (callee.kind() != Kind::Callable)
          fail_eval(std::string("cannot call a ") + callee.kind_name() + " (an unknown function?)");
        return callee.fn()(args);
      }
      case NodeKind::Filter: {
        const Value operand = eval(*n.kids[0], scope);
        if (!n.flag) return apply_filter(n.text, operand, nullptr);
        const CallArgs args = arguments(n, scope);
        line_ = n.line;
        return apply_filter(n.text, operand, &args);
      }
      case NodeKind::Test: {
        const bool r = apply_test(n.text, eval(*n.kids[0], scope), Value());
        return Value::boolean(n.flag ? !r : r);
      }
      case NodeKind::Unary: {
        const Value v = eval(*n.kids[0], scope);
        if (n.text == "not") return Value::boolean(!v.truthy());
        const int sign = n.text == "-" ? -1 : 1;
        if (v.is_float()) return Value::number(sign * v.as_float());
        if (v.is_int()) {
          if (v.as_int() == INT64_MIN && sign < 0) fail_eval("integer overflow in unary -");
          return Value::integer(sign * v.as_int());
        }
        if (v.kind() == Kind::Bool) return Value::integer(sign * static_cast<int>(v.as_bool()));
        fail_eval(std::string("unary ") + n.text + " does not apply to a " + v.kind_name());
      }
      case NodeKind::Ternary:
        return eval(*n.kids[0], scope).truthy() ? eval(*n.kids[1], scope) : eval(*n.kids[2], scope);
      case NodeKind::Select:
        return eval(*n.kids[1], scope).truthy() ? eval(*n.kids[0], scope) : Value();
      case NodeKind::Binary:
        return binary(n, scope);
      default:
        fail_eval("a statement where an expression was expected");
    }
  }

  CallArgs arguments(const Node& n, const Scope& scope) {
    CallArgs a;
    for (size_t i = 1; i < n.kids.size(); ++i) {
      Value v = eval(*n.kids[i], scope);
      const std::string& name = n.arg_names[i - 1];
      if (name.empty()) {
        a.positional.push_back(std::move(v));
      } else {
        for (const auto& kw : a.keyword)
          if (kw.first == name) fail_eval("keyword argument '" + name + "' given twice");
        a.keyword.emplace_back(name, std::move(v));
      }
    }
    return a;
  }

  Value slice(const Node& n, const Scope& scope) {
    const Value object = eval(*n.kids[0], scope);
    if (!object.is_array() && !object.is_string())
      fail_eval(std::string("cannot slice a ") + object.kind_name());
    std::optional<int64_t> part[3];
    for (int i = 0; i < 3; ++i) {
      if (!n.kids[static_cast<size_t>(i) + 1]) continue;
      const Value v = eval(*n.kids[static_cast<size_t>(i) + 1], scope);
      if (v.is_undefined()) continue;
      if (!v.is_int()) fail_eval("slice bounds must be integers");
      part[i] = v.as_int();
    }
    const int64_t step = part[2].value_or(1);
    if (step == 0) fail_eval("slice step cannot be zero");
    std::vector<std::string_view> cps;
    if (object.is_string()) cps = code_points(object.str());
    const auto len = static_cast<int64_t>(object.is_array() ? object.arr().size() : cps.size());
    int64_t start, stop;
    if (step > 0) {
      start = part[0].value_or(0);
      start = start < 0 ? std::max<int64_t>(len + start, 0) : std::min(start, len);
      stop = part[1].value_or(len);
      stop = stop < 0 ? std::max<int64_t>(len + stop, 0) : std::min(stop, len);
    } else {
      start = part[0].value_or(len - 1);
      start = start < 0 ? std::max<int64_t>(len + start, -1) : std::min(start, len - 1);
      stop = part[1].value_or(-1);
      stop = stop < -1 ? std::max<int64_t>(len + stop, -1) : std::min(stop, len - 1);
    }
    Array items;
    std::string text;
    for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
      charge_work(1);
      if (object.is_array())
        items.push_back(object.arr()[static_cast<size_t>(i)]);
      else
        text += cps[static_cast<size_t>(i)];
      if (__builtin_add_overflow(i, step, &i)) break;  // a huge step: past the end
    }
    return object.is_array() ? Value::array(std::move(items)) : Value::string(std::move(text));
  }

  static Value checked_string(std::string s) {
    if (s.size() > limits::kMaxChatTemplateOutputBytes)
      fail_eval(fmt::format("a string grew past {} bytes", limits::kMaxChatTemplateOutputBytes));
    charge_work(static_cast<int64_t>(s.size() / 64));
    return Value::string(std::move(s));
  }

  Value arithmetic(const std::string& op, const Value& l, const Value& r) {
    if (l.is_int() && r.is_int() &&
        (op == "+" || op == "-" || op == "*" || op == "//" || op == "%")) {
      const int64_t a = l.as_int(), b = r.as_int();
      int64_t out = 0;
      bool overflow = false;
      if (op == "+") overflow = __builtin_add_overflow(a, b, &out);
      if (op == "-") overflow = __builtin_sub_overflow(a, b, &out);
      if (op == "*") overflow = __builtin_mul_overflow(a, b, &out);
      if (op == "//" || op == "%") {
        if (b == 0) fail_eval("division by zero");
        if (a == INT64_MIN && b == -1)
          overflow = true;
        else if (op == "%")
          out = a % b;  // the sign of the dividend, as JavaScript's %
        else
          out = static_cast<int64_t>(std::floor(static_cast<double>(a) / static_cast<double>(b)));
      }
      if (overflow) fail_eval("integer overflow in " + op);
      return Value::integer(out);
    }
    const double a = l.as_number(), b = r.as_number();
    if (op == "+") return Value::number(a + b);
    if (op == "-") return Value::number(a - b);
    if (op == "*") return Value::number(a * b);
    if (op == "/") {
      if (b == 0) fail_eval("division by zero");
      return Value::number(a / b);
    }
    if (op == "//") {
      if (b == 0) fail_eval("division by zero");
      return Value::number(std::floor(a / b));
    }
    if (op == "%") {
      if (b == 0) fail_eval("division by zero");
      return Value::number(std::fmod(a, b));
    }
    if (op == "<") return Value::boolean(a < b);
    if (op == ">") return Value::boolean(a > b);
    if (op == "<=") return Value::boolean(a <= b);
    if (op == ">=") return Value::boolean(a >= b);
    fail_eval("operator '" + op + "' does not apply to numbers");
  }

  Value binary(const Node& n, const Scope& scope) {
    const std::string& op = n.text;
    const Value l = eval(*n.kids[0], scope);
    if (op == "and") return l.truthy() ? eval(*n.kids[1], scope) : l;
    if (op == "or") return l.truthy() ? l : eval(*n.kids[1], scope);
    const Value r = eval(*n.kids[1], scope);
    line_ = n.line;
    if (op == "==") return Value::boolean(loose_equal(l, r));
    if (op == "!=") return Value::boolean(!loose_equal(l, r));
    const bool in = op == "in" || op == "not in";
    const auto membership = [&](bool found) { return Value::boolean(op == "in" ? found : !found); };
    if (l.is_numeric() && r.is_numeric() && op != "~" && op != "**" && !in)
      return arithmetic(op, l, r);
    if (l.is_undefined() || r.is_undefined()) {
      if (r.is_undefined() && in) return Value::boolean(op == "not in");
      if (op == "~" && !l.is_none() && !r.is_none())
        return checked_string((l.is_undefined() ? "" : to_js_string(l)) +
                              (r.is_undefined() ? "" : to_js_string(r)));
      fail_eval("operator '" + op + "' on an undefined value");
    }
    if (l.is_none() || r.is_none()) fail_eval("operator '" + op + "' on none");
    if (op == "~") return checked_string(to_js_string(l) + to_js_string(r));
    if (op == "**") {
      const auto numeric = [](const Value& v) { return v.is_numeric() || v.kind() == Kind::Bool; };
      if (numeric(l) && numeric(r)) {
        const double a = l.as_number(), b = r.as_number();
        const double p = std::pow(a, b);
        if (!std::isfinite(p)) fail_eval("'**' result is not a finite number");
        if (l.is_float() || r.is_float() || b < 0) return Value::number(p);
        if (std::fabs(p) > 9.0e15) fail_eval("integer overflow in **");
        return Value::integer(static_cast<int64_t>(p));
      }
    }
    if (l.is_array() && r.is_array() && op == "+") {
      Array a = l.arr();
      a.insert(a.end(), r.arr().begin(), r.arr().end());
      charge_work(static_cast<int64_t>(a.size()));
      return Value::array(std::move(a));
    }
    if (r.is_array() && in) {
      bool found = false;
      for (const Value& x : r.arr()) {
        charge_work(1);
        if (strict_equal(x, l)) {
          found = true;
          break;
        }
      }
      return membership(found);
    }
    if ((l.is_string() || r.is_string()) && op == "+")
      return checked_string(to_js_string(l) + to_js_string(r));
    if (l.is_string() && r.is_string() && in) {
      charge_work(static_cast<int64_t>(r.str().size() / 64));
      return membership(r.str().find(l.str()) != std::string::npos);
    }
    if (l.is_string() && r.is_object() && in) return membership(r.obj().find(l.str()) != nullptr);
    fail_eval("operator '" + op + "' does not apply to a " + l.kind_name() + " and a " +
              r.kind_name());
  }

  int& line_;
};

}  // namespace

void charge_work(int64_t units) {
  if (!t_work_left) return;
  *t_work_left -= units;
  if (*t_work_left < 0)
    fail_eval(
        fmt::format("more than {} steps of work (a runaway loop?)", limits::kMaxChatTemplateWork));
}

std::string interpret(const std::vector<NodePtr>& program, const RenderInput& input,
                      int& line_out) {
  int64_t work = limits::kMaxChatTemplateWork;
  struct WorkScope {
    explicit WorkScope(int64_t* w) : saved(t_work_left) { t_work_left = w; }
    ~WorkScope() { t_work_left = saved; }
    int64_t* saved;
  } work_scope(&work);
  Scope globals;
  for (auto& [k, v] : global_names(input.now).entries) globals.vars[k] = v;
  for (const auto& [k, v] : input.variables.entries) globals.vars[k] = v;
  Scope top;
  top.parent = &globals;
  std::string out;
  line_out = 1;
  Interpreter interp(line_out);
  try {
    interp.block(program, top, out);
  } catch (const BreakSignal&) {
    fail_eval("'break' outside a loop");
  } catch (const ContinueSignal&) {
    fail_eval("'continue' outside a loop");
  }
  return out;
}

}  // namespace lowbit::jinja
