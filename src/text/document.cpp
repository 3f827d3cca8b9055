#include "text/document.h"

namespace lowbit {

std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<int32_t> ids;
  if (tokenizer.add_bos && tokenizer.bos_id) ids.push_back(*tokenizer.bos_id);
  const auto body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

}  // namespace lowbit
