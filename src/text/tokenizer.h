#pragma once
// Tokenizer interface shared by the SentencePiece, Hugging Face tokenizer.json (byte-level BPE) and
// llama2.c tokenizer.bin back ends. encode() never adds special tokens: callers decide about BOS.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace lowbit {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> ids, without BOS/EOS. Special-token strings in the text are matched as special tokens
  // where the format defines them (tokenizer.json added tokens), as the reference libraries do.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids -> text. Special tokens (BOS/EOS/added special) are skipped.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int32_t vocab_size() const = 0;
  // The vocabulary entry of an id as the tokenizer stores it ("▁the" for SentencePiece, "Ġthe"
  // for byte-level BPE, "<0x0A>" for a byte token): what `lowbit tokenize --pieces` prints.
  // Throws for an id out of range.
  virtual std::string piece(int32_t id) const = 0;

  // Chunked encoding (text/chunked_encode.h), so a long file is encoded piece by piece and a
  // caller that needs only its beginning stops early. is_exact_cut(text, pos) says that
  //   encode(text) == encode(text[0, pos)) ++ encode_continuation(text[pos, end))
  // for this tokenizer: no merge, pre-token or normalisation spans pos. Each tokenizer proves it
  // for cuts after a newline from its own vocabulary and rules; the default is no cut at all.
  virtual bool is_exact_cut(std::string_view text, size_t pos) const {
    (void)text;
    (void)pos;
    return false;
  }
  // Encodes text that continues earlier text: no dummy prefix or prefix space at its start.
  virtual std::vector<int32_t> encode_continuation(std::string_view text) const {
    return encode(text);
  }

  // The vocabulary as GGUF's tokenizer.ggml.* keys describe it, so an exported model carries its
  // tokenizer (io/gguf_export). Token types are llama.cpp's (llama_token_type).
  enum class TokenType : int32_t {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
  };
  struct Vocabulary {
    std::string model;  // "llama" (SentencePiece: scores) or "gpt2" (byte-level BPE: merges)
    std::vector<std::string> tokens;
    std::vector<float> scores;        // "llama": one per token
    std::vector<TokenType> types;     // one per token
    std::vector<std::string> merges;  // "gpt2": "a b", highest priority first
    std::optional<int32_t> unknown_id;
  };
  // Throws lowbit::Error for a tokenizer that has no such description.
  virtual Vocabulary vocabulary() const;

  std::optional<int32_t> bos_id;
  std::optional<int32_t> eos_id;
  bool add_bos =
      false;  // whether prompts/documents start with BOS (tokenizer_config add_bos_token)
};

// Each loader throws lowbit::Error naming the file on malformed input.
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::filesystem::path& model_file);
std::unique_ptr<Tokenizer> load_bpe_tokenizer_json(const std::filesystem::path& json_file);
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::filesystem::path& bin_file);
// The same back ends from memory (a tokenizer carried by another container, e.g. GGUF metadata):
// a serialized SentencePiece ModelProto, a parsed tokenizer.json document. `name` stands for the
// file in errors.
std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(std::string_view serialized_model,
                                                        const std::string& name);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(const nlohmann::json& tokenizer_json,
                                              const std::string& name);

// Finds the tokenizer beside a checkpoint (tokenizer.json, tokenizer.model, then tokenizer.bin or
// tok*.bin) and applies tokenizer_config.json (add_bos_token, bos/eos tokens) when present.
std::unique_ptr<Tokenizer> load_tokenizer_for(const std::filesystem::path& model_path);

}  // namespace lowbit
