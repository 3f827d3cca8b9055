#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace lowbit {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos if `s` is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t find_invalid_utf8(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a multi-byte sequence.
size_t complete_utf8_prefix(std::string_view s);

// `s` safe to print on a terminal: control characters (C0, DEL, C1) and bytes that are not valid
// UTF-8 become \xNN escapes (\n, \t, \r as themselves escaped); valid printable UTF-8 is kept.
// For messages that quote input: a file name or a JSON key must not move the cursor or ring.
std::string escape_nonprintable(std::string_view s);

}  // namespace lowbit
