// SentencePiece tokenizer.model through libsentencepiece (the reference implementation), so
// normalisation, byte fallback and the dummy-prefix rule match the model's training exactly.
//
// The library's BPE encode is superlinear in the input length (0.7 MB/s on the 1.3 MB WikiText-2
// test file in one call, 2.5 MB/s line by line), so long text is encoded in pieces cut after
// newlines (text/chunked_encode.h). A cut after a newline is exact when no piece of the
// vocabulary contains a newline and the normaliser keeps it (checked at load), so nothing merges
// across it. A piece that continues the text must not get the dummy prefix: it is encoded behind
// a newline ("\n" + piece, whose first ids are exactly encode("\n")) and those ids dropped, which
// also gives the piece's first characters the same left context as in the whole text (what
// remove_extra_whitespaces looks at).
#include <sentencepiece_processor.h>

#include <algorithm>
#include <exception>

#include "core/error.h"
#include "text/chunked_encode.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& path) {
    // The library reports most malformed models by status, but some by a C++ exception from
    // inside it (the fuzzer found darts-clone's "zero-length key" for an empty piece): both
    // become one error naming the file.
    library_call(path.string() + ": cannot load SentencePiece model",
                 [&] { return sp_.Load(path.string()); });
    init();
  }

  // A serialized ModelProto (the bytes of a tokenizer.model); `name` stands for the file.
  SentencePieceTokenizer(std::string_view serialized, const std::string& name) {
    library_call(name + ": cannot load SentencePiece model",
                 [&] { return sp_.LoadFromSerializedProto(serialized); });
    init();
  }

 private:
  void init() {
    if (sp_.bos_id() >= 0) bos_id = sp_.bos_id();
    if (sp_.eos_id() >= 0) eos_id = sp_.eos_id();
    add_bos = true;
    newline_cuts_ = newline_cuts_are_exact();
  }

 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    return encode_pieces(text, /*continuation=*/false);
  }

  std::vector<int32_t> encode_continuation(std::string_view text) const override {
    return encode_pieces(text, /*continuation=*/true);
  }

  bool is_exact_cut(std::string_view text, size_t pos) const override {
    return newline_cuts_ && pos > 0 && pos < text.size() && text[pos - 1] == '\n';
  }

  std::string decode(std::span<const int32_t> ids) const override {
    std::vector<int> kept;
    kept.reserve(ids.size());
    for (int32_t id : ids) {
      if (id < 0 || id >= sp_.GetPieceSize())
        fail("token id {} out of range [0, {})", id, sp_.GetPieceSize());
      if (!sp_.IsControl(id)) kept.push_back(id);
    }
    std::string text;
    library_call("SentencePiece decode failed", [&] { return sp_.Decode(kept, &text); });
    return text;
  }

  int32_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::string piece(int32_t id) const override {
    if (id < 0 || id >= sp_.GetPieceSize())
      fail("token id {} out of range [0, {})", id, sp_.GetPieceSize());
    return sp_.IdToPiece(id);
  }

  Vocabulary vocabulary() const override {
    Vocabulary v;
    v.model = "llama";
    for (int id = 0; id < sp_.GetPieceSize(); ++id) {
      v.tokens.push_back(sp_.IdToPiece(id));
      v.scores.push_back(sp_.GetScore(id));
      v.types.push_back(sp_.IsUnknown(id)   ? TokenType::kUnknown
                        : sp_.IsControl(id) ? TokenType::kControl
                        : sp_.IsByte(id)    ? TokenType::kByte
                        : sp_.IsUnused(id)  ? TokenType::kUnused
                                            : TokenType::kNormal);
    }
    if (sp_.unk_id() >= 0) v.unknown_id = sp_.unk_id();
    return v;
  }

 private:
  // Runs a library call: a bad status or an exception from inside the library (see the
  // constructor) becomes one lowbit::Error "<what>: <reason>".
  template <class F>
  static void library_call(const std::string& what, F&& call) {
    sentencepiece::util::Status status;
    try {
      status = call();
    } catch (const std::exception& e) {
      fail("{}: {}", what, e.what());
    }
    if (!status.ok()) fail("{}: {}", what, status.ToString());
  }

  // Pieces of about this many bytes: short enough for the library's near-linear range, long
  // enough that the per-call overhead does not show.
  static constexpr size_t kPieceBytes = 2048;

  std::vector<int> library_encode(std::string_view text) const {
    std::vector<int> ids;
    library_call("SentencePiece encode failed", [&] { return sp_.Encode(text, &ids); });
    return ids;
  }

  // One piece, as the library encodes it; a continuation behind the newline sentinel.
  void encode_one(std::string_view piece, bool continuation, std::vector<int32_t>& out) const {
    if (!continuation) {
      const auto ids = library_encode(piece);
      out.insert(out.end(), ids.begin(), ids.end());
      return;
    }
    std::string behind;
    behind.reserve(piece.size() + 1);
    behind.push_back('\n');
    behind.append(piece);
    const auto ids = library_encode(behind);
    if (ids.size() < newline_ids_.size() ||
        !std::equal(newline_ids_.begin(), newline_ids_.end(), ids.begin()))
      fail("SentencePiece: encoding a continuation did not start with the ids of a newline");
    out.insert(out.end(), ids.begin() + static_cast<std::ptrdiff_t>(newline_ids_.size()),
               ids.end());
  }

  std::vector<int32_t> encode_pieces(std::string_view text, bool continuation) const {
    std::vector<int32_t> out;
    if (!newline_cuts_) {
      encode_one(text, continuation, out);
      return out;
    }
    for_each_exact_piece(
        text, kPieceBytes, [&](size_t pos) { return is_exact_cut(text, pos); },
        [&](size_t offset, std::string_view piece) {
          encode_one(piece, continuation || offset > 0, out);
          return true;
        });
    return out;
  }

  // Cuts after newlines are exact when no vocabulary piece contains a newline (nothing merges
  // across it) and the normaliser keeps it: encode("\n") ends with a piece that is the newline
  // or its byte-fallback piece. Those ids are the sentinel's (see the file comment).
  bool newline_cuts_are_exact() {
    if (sp_.GetPieceSize() == 0) return false;
    for (int id = 0; id < sp_.GetPieceSize(); ++id)
      if (sp_.IdToPiece(id).find('\n') != std::string::npos) return false;
    newline_ids_ = library_encode("\n");
    if (newline_ids_.empty()) return false;
    const auto last = sp_.IdToPiece(newline_ids_.back());
    return last == "<0x0A>" || last == "\n";
  }

  sentencepiece::SentencePieceProcessor sp_;
  bool newline_cuts_ = false;
  std::vector<int> newline_ids_;  // encode("\n"): the sentinel's ids
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(std::string_view serialized_model,
                                                        const std::string& name) {
  return std::make_unique<SentencePieceTokenizer>(serialized_model, name);
}

}  // namespace lowbit
