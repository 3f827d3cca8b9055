#pragma once
// Chat-template source -> tokens. The rules are the reference renderer's (@huggingface/jinja, as
// transformers configures Jinja): one trailing newline dropped, lstrip_blocks (spaces and tabs
// before a block or comment tag at the start of a line removed), trim_blocks (the newline after
// a block or comment tag removed), `{%-`/`-%}` (and the same on `{{ }}` and `{# #}`) strip the
// whitespace on that side. Each token keeps the source line it came from, for errors.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::jinja {

enum class Tok : uint8_t {
  Text,
  Number,  // text holds the literal, a leading sign included ("-1", "2.5")
  String,  // text holds the value, escapes resolved
  Identifier,
  Equals,
  OpenParen,
  CloseParen,
  OpenStatement,
  CloseStatement,
  OpenExpression,
  CloseExpression,
  OpenSquare,
  CloseSquare,
  OpenCurly,
  CloseCurly,
  Comma,
  Dot,
  Colon,
  Pipe,
  Additive,        // + - ~
  Multiplicative,  // * / // %
  Power,           // **
  Comparison,      // < > <= >= == !=
  Unary,           // a sign not followed by a number
  Comment,
};

struct Token {
  Tok type;
  std::string text;
  int line;
};

// Throws Failure{message} with the line in `line_out` on a malformed template (unterminated
// string or comment, unknown character, bad escape).
std::vector<Token> tokenize(std::string_view source, int& line_out);

}  // namespace lowbit::jinja
