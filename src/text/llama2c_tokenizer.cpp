// llama2.c tokenizer.bin: int32 max_token_length, then per token a float score, an int32 length and
// the piece bytes. Encoding follows llama2.c's run.c: a dummy-prefix space, one token per UTF-8
// code point (bytes + 3 as fallback), then repeatedly merge the adjacent pair whose concatenation
// is in the vocabulary with the highest score.
#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/bpe_merge.h"
#include "text/chunked_encode.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

constexpr int32_t kByteTokenOffset = 3;  // <unk>, <s>, </s>, then <0x00>..<0xFF>
constexpr float kNoMerge = -1e30f;       // the initial best score of the merge scan

// The byte a "<0xXX>" piece stands for, or -1.
int raw_byte(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char ch : piece.substr(3, 2)) {
    value *= 16;
    if (ch >= '0' && ch <= '9')
      value += ch - '0';
    else if (ch >= 'A' && ch <= 'F')
      value += ch - 'A' + 10;
    else if (ch >= 'a' && ch <= 'f')
      value += ch - 'a' + 10;
    else
      return -1;
  }
  return value;
}

class Llama2cTokenizer final : public Tokenizer {
 public:
  explicit Llama2cTokenizer(const std::filesystem::path& path) {
    const std::string file = path.string();
    MappedFile mapped(path);
    const auto bytes = mapped.bytes();
    size_t off = 0;
    auto read = [&](void* dst, size_t n, const char* what) {
      if (n > bytes.size() - off)
        fail("{}: truncated at offset {} reading {} of token {}", file, off, what, pieces_.size());
      std::memcpy(dst, bytes.data() + off, n);
      off += n;
    };
    int32_t max_len = 0;
    read(&max_len, sizeof max_len, "max_token_length");
    if (max_len <= 0 || max_len > 4096) fail("{}: implausible max_token_length {}", file, max_len);
    while (off < bytes.size()) {
      float score = 0;
      int32_t len = 0;
      read(&score, sizeof score, "score");
      read(&len, sizeof len, "length");
      if (len < 0 || len > max_len)
        fail("{}: token {} has length {} (max_token_length {})", file, pieces_.size(), len,
             max_len);
      std::string piece(static_cast<size_t>(len), '\0');
      read(piece.data(), piece.size(), "piece");
      ids_.emplace(piece, static_cast<int32_t>(pieces_.size()));  // first occurrence wins
      pieces_.push_back(std::move(piece));
      scores_.push_back(score);
    }
    if (pieces_.size() < static_cast<size_t>(kByteTokenOffset + 256))
      fail("{}: only {} tokens; expected the 3 special and 256 byte tokens", file, pieces_.size());
    bos_id = 1;
    eos_id = 2;
    add_bos = true;
    // Merges only join the pieces of symbols in the text, so a cut after a newline is exact when
    // no piece that can appear there contains one (byte-fallback pieces are spelled "<0x0A>";
    // llama2.c's export spells BOS and EOS "\n<s>\n" and "\n</s>\n", but encode never emits
    // them and no other piece has a newline to merge into them).
    newline_cuts_ = true;
    for (size_t id = 0; id < pieces_.size(); ++id)
      if (id != 1 && id != 2 && pieces_[id].find('\n') != std::string::npos) newline_cuts_ = false;
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    return encode_pieces(text, /*dummy_prefix=*/true);
  }

  // A continuation has no dummy-prefix space: run.c adds it once, at the start of the text.
  std::vector<int32_t> encode_continuation(std::string_view text) const override {
    return encode_pieces(text, /*dummy_prefix=*/false);
  }

  bool is_exact_cut(std::string_view text, size_t pos) const override {
    return newline_cuts_ && pos > 0 && pos < text.size() && text[pos - 1] == '\n';
  }

 private:
  // Long text in pieces cut after newlines (exact: see newline_cuts_): the merge heap and the
  // symbol list of a 2 KB piece stay in cache, which makes the whole file ~1.5x faster.
  std::vector<int32_t> encode_pieces(std::string_view text, bool dummy_prefix) const {
    if (!newline_cuts_) return encode_text(text, dummy_prefix);
    std::vector<int32_t> out;
    for_each_exact_piece(
        text, 2048, [&](size_t pos) { return is_exact_cut(text, pos); },
        [&](size_t offset, std::string_view piece) {
          const auto ids = encode_text(piece, dummy_prefix && offset == 0);
          out.insert(out.end(), ids.begin(), ids.end());
          return true;
        });
    return out;
  }

  std::vector<int32_t> encode_text(std::string_view text, bool dummy_prefix) const {
    std::vector<int32_t> tokens;
    if (text.empty()) return tokens;
    if (auto it = ids_.find(" "); dummy_prefix && it != ids_.end()) tokens.push_back(it->second);
    for (size_t i = 0; i < text.size();) {
      size_t len = 1;
      const auto lead = static_cast<unsigned char>(text[i]);
      if (lead >= 0xF0)
        len = 4;
      else if (lead >= 0xE0)
        len = 3;
      else if (lead >= 0xC0)
        len = 2;
      len = std::min(len, text.size() - i);
      const std::string cp(text.substr(i, len));
      if (auto it = ids_.find(cp); it != ids_.end()) {
        tokens.push_back(it->second);
      } else {
        for (unsigned char b : cp) tokens.push_back(static_cast<int32_t>(b) + kByteTokenOffset);
      }
      i += len;
    }
    // run.c's rule: merge the pair with the highest score (the leftmost among equal scores)
    // until none is in the vocabulary; a heap makes it O(n log n) instead of a rescan per merge.
    // Scores at or below the scan's initial best (kNoMerge) never merge.
    std::string merged;
    return bpe_merge(
        std::move(tokens), [&](int32_t a, int32_t b) -> std::optional<MergeCandidate<int32_t>> {
          merged.assign(pieces_[static_cast<size_t>(a)]).append(pieces_[static_cast<size_t>(b)]);
          const auto it = ids_.find(merged);
          if (it == ids_.end()) return std::nullopt;
          const float score = scores_[static_cast<size_t>(it->second)];
          if (!(score > kNoMerge)) return std::nullopt;
          return MergeCandidate<int32_t>{-static_cast<double>(score), it->second};
        });
  }

 public:
  // As run.c prints: "<0xXX>" pieces are raw bytes, and the leading space of the first piece (the
  // dummy prefix) is dropped. BOS/EOS are skipped.
  std::string decode(std::span<const int32_t> ids) const override {
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab_size()) fail("token id {} out of range [0, {})", id, vocab_size());
      if (id == 1 || id == 2) continue;
      std::string_view piece = pieces_[static_cast<size_t>(id)];
      if (const int byte = raw_byte(piece); byte >= 0) {
        out.push_back(static_cast<char>(byte));
      } else {
        if (first && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
        out.append(piece);
      }
      first = false;
    }
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  std::string piece(int32_t id) const override {
    if (id < 0 || static_cast<size_t>(id) >= pieces_.size())
      fail("token id {} out of range [0, {})", id, pieces_.size());
    return pieces_[static_cast<size_t>(id)];
  }

  // llama2.c's export of a SentencePiece model: id 0 unknown, 1 and 2 BOS and EOS (spelled
  // "\n<s>\n" and "\n</s>\n" there, "<s>" and "</s>" in the model it came from), then the 256
  // byte-fallback pieces.
  Vocabulary vocabulary() const override {
    Vocabulary v;
    v.model = "llama";
    // llama2.c's export spells SentencePiece's space marker U+2581 as a plain space; GGUF's
    // "llama" tokenizer expects the marker.
    for (const std::string& piece : pieces_) {
      std::string spm;
      for (const char c : piece) spm += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
      v.tokens.push_back(std::move(spm));
    }
    v.tokens[1] = "<s>";
    v.tokens[2] = "</s>";
    v.scores = scores_;
    v.types.assign(pieces_.size(), TokenType::kNormal);
    v.types[0] = TokenType::kUnknown;
    v.types[1] = v.types[2] = TokenType::kControl;
    for (size_t b = 0; b < 256; ++b)
      v.types[static_cast<size_t>(kByteTokenOffset) + b] = TokenType::kByte;
    v.unknown_id = 0;
    return v;
  }

 private:
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> ids_;
  bool newline_cuts_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& bin_file) {
  return std::make_unique<Llama2cTokenizer>(bin_file);
}

}  // namespace lowbit
