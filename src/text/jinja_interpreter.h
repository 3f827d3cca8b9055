#pragma once
// Runs a parsed template (jinja_parser.h) over variables and returns the text it prints, with
// the reference renderer's semantics: `for` opens a scope (a `set` inside it is gone after it;
// a namespace attribute is not), `if` does not. Work, output size and value nesting are bounded
// (core/limits.h).
#include <chrono>
#include <string>
#include <vector>

#include "text/jinja_ast.h"

namespace lowbit::jinja {

struct RenderInput {
  Object variables;  // name -> value, beside the globals (and shadowing them)
  std::chrono::system_clock::time_point now;
};

// Throws Failure / Raised with `line_out` set to the line being evaluated.
std::string interpret(const std::vector<NodePtr>& program, const RenderInput& input, int& line_out);

}  // namespace lowbit::jinja
