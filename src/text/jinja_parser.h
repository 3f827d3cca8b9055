#pragma once
// Tokens -> the statement list of a template (jinja_ast.h), with the reference renderer's
// grammar and operator precedence (lowest first): `x if c else y`, or, and, not, comparisons and
// `in`, + - ~, * / // %, **, `is` tests, `|` filters, unary signs, calls/members/slices.
// Statements: if/elif/else, for (with an `if` filter and else), set (name, tuple, namespace
// attribute, block), break, continue. Macros, call/filter blocks and anything else are refused.
#include <vector>

#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"

namespace lowbit::jinja {

// Throws Failure with `line_out` set on a malformed template or nesting deeper than
// limits::kMaxChatTemplateDepth.
std::vector<NodePtr> parse(const std::vector<Token>& tokens, int& line_out);

}  // namespace lowbit::jinja
