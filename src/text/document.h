#pragma once
// A whole document as the model reads it for perplexity and calibration: [BOS] (when the
// tokenizer adds one) followed by encode(text).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace lowbit {

// With max_tokens > 0, only a prefix of the document's ids that is at least max_tokens long (or
// the whole document if shorter): the text is encoded in pieces cut where the tokenizer proves
// the cut exact (text/chunked_encode.h) and reading stops once enough ids are there, so
// `--max-windows` does not tokenize text it will not use. The prefix equals the whole-document
// ids' first tokens.
std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, std::string_view text,
                                       size_t max_tokens = 0);

}  // namespace lowbit
