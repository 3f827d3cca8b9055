#pragma once
// A whole document as the model reads it for perplexity and calibration: [BOS] (when the
// tokenizer adds one) followed by encode(text).
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace lowbit {

std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, std::string_view text);

}  // namespace lowbit
