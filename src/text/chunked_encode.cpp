#include "text/chunked_encode.h"

namespace lowbit {

std::vector<int32_t> encode_in_pieces(const Tokenizer& tokenizer, std::string_view text,
                                      size_t min_bytes, size_t max_tokens) {
  std::vector<int32_t> ids;
  for_each_exact_piece(
      text, min_bytes, [&](size_t pos) { return tokenizer.is_exact_cut(text, pos); },
      [&](size_t offset, std::string_view piece) {
        const auto part =
            offset == 0 ? tokenizer.encode(piece) : tokenizer.encode_continuation(piece);
        ids.insert(ids.end(), part.begin(), part.end());
        return max_tokens == 0 || ids.size() < max_tokens;
      });
  return ids;
}

}  // namespace lowbit
