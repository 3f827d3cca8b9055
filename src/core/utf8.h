#pragma once
#include <cstddef>
#include <string_view>

namespace lowbit {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos if `s` is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t find_invalid_utf8(std::string_view s);

// Length of the longest prefix of `s` that does not end inside a multi-byte sequence.
size_t complete_utf8_prefix(std::string_view s);

}  // namespace lowbit
