#include "text/jinja_parser.h"

#include <cstdlib>
#include <initializer_list>

#include "core/limits.h"
#include "text/jinja_error.h"

namespace lowbit::jinja {

namespace {

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  std::vector<NodePtr> run(int& line_out) {
    std::vector<NodePtr> program;
    try {
      while (cur_ < t_.size()) {
        if (auto n = parse_any()) program.push_back(std::move(n));
      }
    } catch (const Failure&) {
      line_out = line();
      throw;
    }
    return program;
  }

 private:
  // Bounds the parser's (and so the interpreter's) recursion.
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) {
      if (++depth > limits::kMaxChatTemplateDepth)
        fail_eval(fmt::format("nested deeper than {} levels", limits::kMaxChatTemplateDepth));
    }
    ~DepthGuard() { --depth; }
    int& depth;
  };
  // A left-associative chain (a + b + c ..., a.b.c, x | f | g) builds a tree as deep as it is
  // long: each link counts one level until the chain is done, so that the interpreter's
  // recursion over it stays bounded too.
  struct ChainGuard {
    explicit ChainGuard(int& d) : depth(d) {}
    void link() {
      if (++depth > limits::kMaxChatTemplateDepth)
        fail_eval(fmt::format("nested deeper than {} levels", limits::kMaxChatTemplateDepth));
      ++added;
    }
    ~ChainGuard() { depth -= added; }
    int& depth;
    int added = 0;
  };

  int line() const {
    if (t_.empty()) return 1;
    return t_[std::min(cur_, t_.size() - 1)].line;
  }
  bool at_end() const { return cur_ >= t_.size(); }
  bool is(Tok type) const { return cur_ < t_.size() && t_[cur_].type == type; }
  bool is_ident(const char* name, size_t offset = 0) const {
    return cur_ + offset < t_.size() && t_[cur_ + offset].type == Tok::Identifier &&
           t_[cur_ + offset].text == name;
  }
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::OpenStatement)) return false;
    for (const char* n : names)
      if (is_ident(n, 1)) return true;
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (!is(type))
      fail_eval(std::string("expected ") + what +
                (at_end() ? " but the template ended" : ", found '" + t_[cur_].text + "'"));
    return t_[cur_++];
  }
  void expect_ident(const char* name) {
    if (!is_ident(name)) fail_eval(std::string("expected '") + name + "'");
    ++cur_;
  }
  NodePtr node(NodeKind k) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = line();
    return n;
  }
  // Statements until one of `ends` (not consumed); the template ending first is an error.
  std::vector<NodePtr> block_until(std::initializer_list<const char*> ends, const char* opener) {
    std::vector<NodePtr> out;
    while (!is_statement(ends)) {
      if (at_end()) fail_eval(std::string("'") + opener + "' block is never closed");
      if (auto n = parse_any()) out.push_back(std::move(n));
    }
    return out;
  }

  NodePtr parse_any() {
    DepthGuard g(depth_);
    const Token& tok = t_[cur_];
    switch (tok.type) {
      case Tok::Comment:
        ++cur_;
        return nullptr;
      case Tok::Text: {
        auto n = node(NodeKind::Text);
        n->text = tok.text;
        ++cur_;
        return n;
      }
      case Tok::OpenStatement:
        return parse_statement();
      case Tok::OpenExpression: {
        ++cur_;
        auto n = node(NodeKind::Output);
        n->kids.push_back(parse_expression());
        expect(Tok::CloseExpression, "'}}'");
        return n;
      }
      default:
        fail_eval("unexpected '" + tok.text + "'");
    }
  }

  NodePtr parse_statement() {
    expect(Tok::OpenStatement, "'{%'");
    if (!is(Tok::Identifier)) fail_eval("expected a statement name after '{%'");
    const std::string name = t_[cur_].text;
    ++cur_;
    if (name == "set") return parse_set();
    if (name == "if") {
      auto n = parse_if();
      expect(Tok::OpenStatement, "'{% endif %}'");
      expect_ident("endif");
      expect(Tok::CloseStatement, "'%}'");
      return n;
    }
    if (name == "for") {
      auto n = parse_for();
      expect(Tok::OpenStatement, "'{% endfor %}'");
      expect_ident("endfor");
      expect(Tok::CloseStatement, "'%}'");
      return n;
    }
    if (name == "break" || name == "continue") {
      auto n = node(name == "break" ? NodeKind::Break : NodeKind::Continue);
      expect(Tok::CloseStatement, "'%}'");
      return n;
    }
    if (name == "macro" || name == "call" || name == "filter" || name == "generation" ||
        name == "raw" || name == "include" || name == "import" || name == "extends" ||
        name == "block")
      fail_eval("'{% " + name + " %}' is not supported (docs/chat-templates.md)");
    fail_eval("unknown statement '" + name + "'");
  }

  NodePtr parse_set() {
    auto n = node(NodeKind::Set);
    n->kids.push_back(parse_expression_sequence(false));
    const NodeKind target = n->kids[0]->kind;
    if (target != NodeKind::Identifier && target != NodeKind::Tuple && target != NodeKind::Member)
      fail_eval("'set' needs a name, a tuple of names or a namespace attribute");
    if (is(Tok::Equals)) {
      ++cur_;
      n->kids.push_back(parse_expression_sequence(false));
    } else {
      n->kids.push_back(nullptr);
      expect(Tok::CloseStatement, "'%}'");
      n->body = block_until({"endset"}, "set");
      expect(Tok::OpenStatement, "'{%'");
      expect_ident("endset");
    }
    expect(Tok::CloseStatement, "'%}'");
    return n;
  }

  NodePtr parse_if() {
    auto n = node(NodeKind::If);
    n->kids.push_back(parse_expression());
    expect(Tok::CloseStatement, "'%}'");
    n->body = block_until({"elif", "else", "endif"}, "if");
    if (is_statement({"elif"})) {
      cur_ += 2;
      DepthGuard g(depth_);
      n->alt.push_back(parse_if());
    } else if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      n->alt = block_until({"endif"}, "if");
    }
    return n;
  }

  NodePtr parse_for() {
    auto n = node(NodeKind::For);
    auto target = parse_expression_sequence(true);
    if (target->kind != NodeKind::Identifier && target->kind != NodeKind::Tuple)
      fail_eval("'for' needs a name or a tuple of names before 'in'");
    if (target->kind == NodeKind::Tuple)
      for (const auto& k : target->kids)
        if (k->kind != NodeKind::Identifier) fail_eval("'for' can only unpack into names");
    n->kids.push_back(std::move(target));
    expect_ident("in");
    n->kids.push_back(parse_expression());
    expect(Tok::CloseStatement, "'%}'");
    n->body = block_until({"endfor", "else"}, "for");
    if (is_statement({"else"})) {
      cur_ += 2;
      expect(Tok::CloseStatement, "'%}'");
      n->alt = block_until({"endfor"}, "for");
    }
    return n;
  }

  NodePtr parse_expression_sequence(bool primary) {
    auto first = primary ? parse_primary() : parse_expression();
    if (!is(Tok::Comma)) return first;
    auto tuple = node(NodeKind::Tuple);
    tuple->kids.push_back(std::move(first));
    while (is(Tok::Comma)) {
      ++cur_;
      tuple->kids.push_back(primary ? parse_primary() : parse_expression());
    }
    return tuple;
  }

  NodePtr parse_expression() {
    DepthGuard g(depth_);
    auto a = parse_or();
    if (!is_ident("if")) return a;
    ++cur_;
    auto test = parse_or();
    if (is_ident("else")) {
      ++cur_;
      auto n = node(NodeKind::Ternary);
      n->kids.push_back(std::move(test));
      n->kids.push_back(std::move(a));
      n->kids.push_back(parse_expression());
      return n;
    }
    auto n = node(NodeKind::Select);
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(test));
    return n;
  }

  NodePtr binary(std::string op, NodePtr l, NodePtr r) {
    auto n = node(NodeKind::Binary);
    n->text = std::move(op);
    n->kids.push_back(std::move(l));
    n->kids.push_back(std::move(r));
    return n;
  }

  NodePtr parse_or() {
    auto left = parse_and();
    ChainGuard chain(depth_);
    while (is_ident("or")) {
      chain.link();
      ++cur_;
      left = binary("or", std::move(left), parse_and());
    }
    return left;
  }
  NodePtr parse_and() {
    auto left = parse_not();
    ChainGuard chain(depth_);
    while (is_ident("and")) {
      chain.link();
      ++cur_;
      left = binary("and", std::move(left), parse_not());
    }
    return left;
  }
  NodePtr parse_not() {
    if (!is_ident("not")) return parse_comparison();
    ++cur_;
    DepthGuard g(depth_);
    auto n = node(NodeKind::Unary);
    n->text = "not";
    n->kids.push_back(parse_not());
    return n;
  }
  NodePtr parse_comparison() {
    auto left = parse_additive();
    ChainGuard chain(depth_);
    while (true) {
      std::string op;
      if (is_ident("not") && is_ident("in", 1)) {
        op = "not in";
        cur_ += 2;
      } else if (is_ident("in")) {
        op = "in";
        ++cur_;
      } else if (is(Tok::Comparison)) {
        op = t_[cur_++].text;
      } else {
        break;
      }
      chain.link();
      left = binary(op, std::move(left), parse_additive());
    }
    return left;
  }
  NodePtr parse_additive() {
    auto left = parse_multiplicative();
    ChainGuard chain(depth_);
    while (is(Tok::Additive)) {
      chain.link();
      const std::string op = t_[cur_++].text;
      left = binary(op, std::move(left), parse_multiplicative());
    }
    return left;
  }
  NodePtr parse_multiplicative() {
    auto left = parse_power();
    ChainGuard chain(depth_);
    while (is(Tok::Multiplicative)) {
      chain.link();
      const std::string op = t_[cur_++].text;
      left = binary(op, std::move(left), parse_power());
    }
    return left;
  }
  NodePtr parse_power() {
    auto left = parse_test();
    ChainGuard chain(depth_);
    while (is(Tok::Power)) {
      chain.link();
      ++cur_;
      left = binary("**", std::move(left), parse_test());
    }
    return left;
  }
  NodePtr parse_test() {
    auto operand = parse_filter();
    ChainGuard chain(depth_);
    while (is_ident("is")) {
      chain.link();
      ++cur_;
      auto n = node(NodeKind::Test);
      if (is_ident("not")) {
        n->flag = true;
        ++cur_;
      }
      // `none`, `true`, `false` are tests here, not constants.
      if (!is(Tok::Identifier)) fail_eval("expected a test name after 'is'");
      n->text = t_[cur_++].text;
      n->kids.push_back(std::move(operand));
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr parse_filter() {
    auto operand = parse_unary();
    ChainGuard chain(depth_);
    while (is(Tok::Pipe)) {
      chain.link();
      ++cur_;
      if (!is(Tok::Identifier)) fail_eval("expected a filter name after '|'");
      auto n = node(NodeKind::Filter);
      n->text = t_[cur_++].text;
      n->kids.push_back(std::move(operand));
      if (is(Tok::OpenParen)) {
        n->flag = true;
        parse_args(*n);
      }
      operand = std::move(n);
    }
    return operand;
  }
  NodePtr parse_unary() {
    if ((is(Tok::Unary) || is(Tok::Additive)) && (t_[cur_].text == "-" || t_[cur_].text == "+")) {
      DepthGuard g(depth_);
      auto n = node(NodeKind::Unary);
      n->text = t_[cur_++].text;
      n->kids.push_back(parse_unary());
      return n;
    }
    return parse_call_member();
  }
  NodePtr parse_call_member() {
    auto e = parse_member(parse_primary());
    ChainGuard chain(depth_);
    while (is(Tok::OpenParen)) {
      chain.link();
      auto call = node(NodeKind::Call);
      call->kids.push_back(std::move(e));
      parse_args(*call);
      e = parse_member(std::move(call));
    }
    return e;
  }
  // (a, b, name=c): appended to n.kids from index 1, names in n.arg_names.
  void parse_args(Node& n) {
    expect(Tok::OpenParen, "'('");
    while (!is(Tok::CloseParen)) {
      if (at_end()) fail_eval("argument list is never closed");
      if (is(Tok::Identifier) && cur_ + 1 < t_.size() && t_[cur_ + 1].type == Tok::Equals) {
        n.arg_names.push_back(t_[cur_].text);
        cur_ += 2;
      } else {
        if (!n.arg_names.empty() && !n.arg_names.back().empty())
          fail_eval("a positional argument follows a keyword argument");
        n.arg_names.emplace_back();
      }
      n.kids.push_back(parse_expression());
      if (!is(Tok::Comma)) break;
      ++cur_;
    }
    expect(Tok::CloseParen, "')'");
  }
  NodePtr parse_member(NodePtr object) {
    ChainGuard chain(depth_);
    while (is(Tok::Dot) || is(Tok::OpenSquare)) {
      chain.link();
      const bool computed = is(Tok::OpenSquare);
      ++cur_;
      if (!computed) {
        auto n = node(NodeKind::Member);
        auto key = node(NodeKind::Literal);
        if (is(Tok::Identifier)) {
          key->literal = Value::string(t_[cur_].text);
        } else if (is(Tok::Number) &&
                   t_[cur_].text.find_first_not_of("0123456789") == std::string::npos) {
          key->literal = Value::integer(std::strtoll(t_[cur_].text.c_str(), nullptr, 10));
        } else {
          fail_eval("expected a name after '.'");
        }
        ++cur_;
        n->kids.push_back(std::move(object));
        n->kids.push_back(std::move(key));
        object = std::move(n);
        continue;
      }
      // [key] or a slice [start:stop:step]
      std::vector<NodePtr> parts;
      bool slice = false;
      while (!is(Tok::CloseSquare)) {
        if (at_end()) fail_eval("'[' is never closed");
        if (is(Tok::Colon)) {
          parts.push_back(nullptr);
          ++cur_;
          slice = true;
        } else {
          parts.push_back(parse_expression());
          if (is(Tok::Colon)) {
            ++cur_;
            slice = true;
          }
        }
      }
      if (parts.empty()) fail_eval("'[]' needs a key or a slice");
      if (slice && parts.size() > 3) fail_eval("a slice takes at most three parts");
      if (!slice && parts.size() != 1) fail_eval("'[...]' takes one key");
      expect(Tok::CloseSquare, "']'");
      auto n = node(slice ? NodeKind::Slice : NodeKind::Member);
      n->kids.push_back(std::move(object));
      for (auto& p : parts) n->kids.push_back(std::move(p));
      while (slice && n->kids.size() < 4) n->kids.push_back(nullptr);
      object = std::move(n);
    }
    return object;
  }
  NodePtr parse_primary() {
    DepthGuard g(depth_);
    if (at_end()) fail_eval("the template ended inside an expression");
    const Token& tok = t_[cur_++];
    switch (tok.type) {
      case Tok::Number: {
        auto n = node(NodeKind::Literal);
        if (tok.text.find('.') != std::string::npos) {
          n->literal = Value::number(std::strtod(tok.text.c_str(), nullptr));
        } else {
          errno = 0;
          const long long v = std::strtoll(tok.text.c_str(), nullptr, 10);
          if (errno == ERANGE) fail_eval("integer literal " + tok.text + " out of range");
          n->literal = Value::integer(v);
        }
        return n;
      }
      case Tok::String: {
        auto n = node(NodeKind::Literal);
        std::string s = tok.text;
        while (is(Tok::String)) s += t_[cur_++].text;  // adjacent literals concatenate
        n->literal = Value::string(std::move(s));
        return n;
      }
      case Tok::Identifier: {
        auto n = node(NodeKind::Identifier);
        n->text = tok.text;
        return n;
      }
      case Tok::OpenParen: {
        auto e = parse_expression_sequence(false);
        expect(Tok::CloseParen, "')'");
        return e;
      }
      case Tok::OpenSquare: {
        auto n = node(NodeKind::List);
        while (!is(Tok::CloseSquare)) {
          if (at_end()) fail_eval("'[' is never closed");
          n->kids.push_back(parse_expression());
          if (is(Tok::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      case Tok::OpenCurly: {
        auto n = node(NodeKind::Dict);
        while (!is(Tok::CloseCurly)) {
          if (at_end()) fail_eval("'{' is never closed");
          n->kids.push_back(parse_expression());
          expect(Tok::Colon, "':' between a key and its value");
          n->kids.push_back(parse_expression());
          if (is(Tok::Comma)) ++cur_;
        }
        ++cur_;
        return n;
      }
      default:
        fail_eval("unexpected '" + tok.text + "' in an expression");
    }
  }

  const std::vector<Token>& t_;
  size_t cur_ = 0;
  int depth_ = 0;
};

}  // namespace

std::vector<NodePtr> parse(const std::vector<Token>& tokens, int& line_out) {
  line_out = 1;
  return Parser(tokens).run(line_out);
}

}  // namespace lowbit::jinja
