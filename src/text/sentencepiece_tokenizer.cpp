// SentencePiece tokenizer.model through libsentencepiece (the reference implementation), so
// normalisation, byte fallback and the dummy-prefix rule match the model's training exactly.
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "text/tokenizer.h"

namespace lowbit {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& path) {
    const auto status = sp_.Load(path.string());
    if (!status.ok())
      fail("{}: cannot load SentencePiece model: {}", path.string(), status.ToString());
    if (sp_.bos_id() >= 0) bos_id = sp_.bos_id();
    if (sp_.eos_id() >= 0) eos_id = sp_.eos_id();
    add_bos = true;
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) fail("SentencePiece encode failed: {}", status.ToString());
    return {ids.begin(), ids.end()};
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
    const auto status = sp_.Decode(kept, &text);
    if (!status.ok()) fail("SentencePiece decode failed: {}", status.ToString());
    return text;
  }

  int32_t vocab_size() const override { return sp_.GetPieceSize(); }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file) {
  return std::make_unique<SentencePieceTokenizer>(model_file);
}

}  // namespace lowbit
