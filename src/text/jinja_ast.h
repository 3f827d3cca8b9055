#pragma once
// The parsed template: one node type for statements and expressions (the interpreter switches on
// `kind`). Which fields a kind uses is listed beside it.
#include <memory>
#include <string>
#include <vector>

#include "text/jinja_value.h"

namespace lowbit::jinja {

enum class NodeKind : uint8_t {
  // statements
  Text,    // text
  Output,  // kids[0]: the expression printed
  If,      // kids[0]: condition; body; alt (else, or one nested If for elif)
  For,     // kids[0]: target (Identifier or Tuple); kids[1]: iterable (maybe Select); body; alt
  Set,     // kids[0]: target (Identifier, Tuple or Member); kids[1]: value, or null and body
  Break,
  Continue,
  // expressions
  Literal,     // literal
  Identifier,  // text
  List,        // kids: items
  Tuple,       // kids: items
  Dict,        // kids: key, value, key, value...
  Member,      // kids[0]: object; kids[1]: key expression (obj[key], obj.name as a string literal)
  Slice,       // kids[0]: object; kids[1..3]: start, stop, step (each may be null)
  Call,        // kids[0]: callee; kids[1..]: arguments, arg_names[i] for kids[i+1] ("" positional)
  Filter,      // kids[0]: operand; text: filter; flag: called with (); kids[1..]: arguments
  Test,        // kids[0]: operand; text: test; flag: negated (`is not`)
  Binary,      // text: operator; kids[0], kids[1]
  Unary,       // text: operator (not, -, +); kids[0]
  Ternary,     // kids[0]: condition, kids[1]: if true, kids[2]: if false
  Select,      // kids[0]: value, kids[1]: condition (`x if c` without else: undefined when false)
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string text;
  Value literal;
  bool flag = false;
  std::vector<std::unique_ptr<Node>> kids;
  std::vector<std::string> arg_names;
  std::vector<std::unique_ptr<Node>> body;
  std::vector<std::unique_ptr<Node>> alt;
};
using NodePtr = std::unique_ptr<Node>;

}  // namespace lowbit::jinja
