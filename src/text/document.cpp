#include "text/document.h"

#include "text/chunked_encode.h"

namespace lowbit {

namespace {
// Pieces of this size when only a prefix is wanted: large enough that the per-piece cost is
// noise, small enough that little is encoded past the last window.
constexpr size_t kPrefixPieceBytes = size_t{64} << 10;
}  // namespace

std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, std::string_view text,
                                       size_t max_tokens) {
  std::vector<int32_t> ids;
  if (tokenizer.add_bos && tokenizer.bos_id) ids.push_back(*tokenizer.bos_id);
  const auto body = max_tokens == 0
                        ? tokenizer.encode(text)
                        : encode_in_pieces(tokenizer, text, kPrefixPieceBytes, max_tokens);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace lowbit
