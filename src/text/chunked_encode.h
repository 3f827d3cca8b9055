#pragma once
// Encoding text piece by piece, cut only where the tokenizer proves the cut exact
// (Tokenizer::is_exact_cut), so the ids equal one encode() of the whole text. Two uses: a caller
// that needs only the first N tokens of a file (perplexity with --max-windows) stops reading
// early, and a tokenizer whose library is superlinear in the input length (SentencePiece) stays
// near-linear by encoding short pieces.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace lowbit {

// Calls piece(offset, text) for consecutive pieces covering text, each at least min_bytes long
// except the last, cut only at positions p where cut_ok(p) (cut candidates: right after a
// newline). Stops early when piece returns false. Linear in the text.
template <class CutOk, class Piece>
void for_each_exact_piece(std::string_view text, size_t min_bytes, CutOk&& cut_ok, Piece&& piece) {
  size_t from = 0;
  while (from < text.size()) {
    size_t to = text.size();
    for (size_t nl = text.find('\n', from + (min_bytes > 0 ? min_bytes - 1 : 0));
         nl != std::string_view::npos && nl + 1 < text.size(); nl = text.find('\n', nl + 1)) {
      if (cut_ok(nl + 1)) {
        to = nl + 1;
        break;
      }
    }
    if (!piece(from, text.substr(from, to - from))) return;
    from = to;
  }
}

// The ids of text (no BOS), encoded in pieces of at least min_bytes; with max_tokens > 0 it stops
// after the piece that reaches max_tokens ids (the result is then a prefix of encode(text), at
// least max_tokens long unless the text ends first).
std::vector<int32_t> encode_in_pieces(const Tokenizer& tokenizer, std::string_view text,
                                      size_t min_bytes, size_t max_tokens = 0);

}  // namespace lowbit
