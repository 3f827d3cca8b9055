#pragma once
// String and number text as the reference renderer (@huggingface/jinja, JavaScript) produces it,
// on UTF-8 bytes: JavaScript's whitespace set for trim/strip, its shortest round-trip number
// format, JSON.stringify's string escapes. Byte-identical output depends on these details.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::jinja {

// JavaScript's String(number): shortest round-trip digits, exponent form below 1e-6 and from 1e21.
std::string js_number(double v);
// How a float prints in a template: "2.0" for an integral value, else js_number ("2.5").
std::string float_text(double v);

// JavaScript's trim/trimStart/trimEnd (its \s: ASCII whitespace, NBSP, the Unicode spaces, BOM).
std::string_view js_trim(std::string_view s);
std::string_view js_trim_start(std::string_view s);
std::string_view js_trim_end(std::string_view s);
// The code points of a UTF-8 string, each as its bytes (invalid bytes stand alone).
std::vector<std::string_view> code_points(std::string_view s);
// String length as JavaScript counts it (UTF-16 code units).
int64_t utf16_length(std::string_view s);
// ASCII case mapping (other letters unchanged: docs/chat-templates.md).
std::string ascii_upper(std::string_view s);
std::string ascii_lower(std::string_view s);
// Python-like title(): upper-cases the first letter of each word (JavaScript's /\b\w/).
std::string title_case(std::string_view s);
// JSON.stringify of a string; ensure_ascii escapes everything from U+007F as \uXXXX.
std::string json_quote(std::string_view s, bool ensure_ascii);

}  // namespace lowbit::jinja
