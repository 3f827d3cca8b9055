#include "io/gguf_tokenizer.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/limits.h"

namespace lowbit {
namespace {

using gguf::ValueType;

// llama.cpp's token types (llama_token_type), the same numbers as SentencePiece's
// ModelProto.SentencePiece.Type.
enum TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// The protobuf wire format, just what a ModelProto needs (sentencepiece_model.proto): varints,
// 32-bit floats and length-delimited fields. libsentencepiece ships no header for the message.
class ProtoWriter {
 public:
  void varint(uint32_t field, uint64_t v) {
    key(field, 0);
    raw_varint(v);
  }
  void int32(uint32_t field, int32_t v) {  // negative int32s are 10-byte varints
    varint(field, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  void float32(uint32_t field, float v) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &v, 4);
    out_.append(b, 4);
  }
  void bytes(uint32_t field, std::string_view v) {
    key(field, 2);
    raw_varint(v.size());
    out_.append(v);
  }
  const std::string& str() const { return out_; }

 private:
  void key(uint32_t field, uint32_t wire) { raw_varint((uint64_t{field} << 3) | wire); }
  void raw_varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

struct Vocabulary {
  const std::vector<std::string>* tokens = nullptr;
  std::vector<int32_t> types;  // one per token
  std::vector<float> scores;   // one per token (0 when absent)
  std::optional<int64_t> bos, eos, unk;
};

Vocabulary read_vocabulary(const GgufFile& f) {
  const std::string file = f.path().string();
  Vocabulary v;
  const GgufValue* tokens = f.array("tokenizer.ggml.tokens", ValueType::kString);
  if (tokens == nullptr) fail("{}: no tokenizer.ggml.tokens (the vocabulary)", file);
  if (tokens->count == 0 || tokens->count > static_cast<uint64_t>(limits::kMaxVocab))
    fail("{}: tokenizer.ggml.tokens has {} entries (expected 1 to {})", file, tokens->count,
         limits::kMaxVocab);
  v.tokens = &tokens->strings;
  const size_t n = tokens->strings.size();
  v.types.assign(n, kNormal);
  v.scores.assign(n, 0.0f);
  if (const GgufValue* t = f.array("tokenizer.ggml.token_type", ValueType::kInt32)) {
    if (t->count != n)
      fail("{}: tokenizer.ggml.token_type has {} entries, tokenizer.ggml.tokens {}", file, t->count,
           n);
    for (size_t i = 0; i < n; ++i) {
      int32_t x;
      std::memcpy(&x, t->raw.data() + 4 * i, 4);
      if (x < kNormal || x > kByte)
        fail("{}: tokenizer.ggml.token_type[{}] = {} is not a token type (1 to 6)", file, i, x);
      v.types[i] = x;
    }
  }
  if (const GgufValue* s = f.array("tokenizer.ggml.scores", ValueType::kFloat32)) {
    if (s->count != n)
      fail("{}: tokenizer.ggml.scores has {} entries, tokenizer.ggml.tokens {}", file, s->count, n);
    std::memcpy(v.scores.data(), s->raw.data(), 4 * n);
  }
  const auto id = [&](const char* key) { return f.integer(key, 0, static_cast<int64_t>(n) - 1); };
  v.bos = id("tokenizer.ggml.bos_token_id");
  v.eos = id("tokenizer.ggml.eos_token_id");
  v.unk = id("tokenizer.ggml.unknown_token_id");
  return v;
}

std::string sentencepiece_proto(const GgufFile& f, const Vocabulary& v) {
  bool has_bytes = false;
  ProtoWriter model;
  for (size_t i = 0; i < v.tokens->size(); ++i) {
    int32_t type = v.types[i];
    // Files without token types: the ids the metadata names are the special pieces.
    if (v.unk && static_cast<size_t>(*v.unk) == i) type = kUnknown;
    has_bytes = has_bytes || type == kByte;
    ProtoWriter piece;
    piece.bytes(1, (*v.tokens)[i]);
    piece.float32(2, v.scores[i]);
    piece.varint(3, static_cast<uint64_t>(type));
    model.bytes(1, piece.str());
  }
  ProtoWriter trainer;
  trainer.varint(3, 2);  // model_type: BPE (llama.cpp's SPM tokenizer merges by score)
  trainer.int32(4, static_cast<int32_t>(v.tokens->size()));  // vocab_size
  trainer.varint(35, has_bytes ? 1 : 0);                     // byte_fallback
  // The special pieces by id: SentencePiece finds BOS/EOS/UNK by these pieces' text.
  const auto piece_of = [&](std::optional<int64_t> id) {
    return id ? (*v.tokens)[static_cast<size_t>(*id)] : std::string();
  };
  trainer.int32(40, v.unk ? static_cast<int32_t>(*v.unk) : 0);
  trainer.int32(41, v.bos ? static_cast<int32_t>(*v.bos) : -1);
  trainer.int32(42, v.eos ? static_cast<int32_t>(*v.eos) : -1);
  trainer.int32(43, -1);  // pad_id
  if (v.unk) trainer.bytes(45, piece_of(v.unk));
  if (v.bos) trainer.bytes(46, piece_of(v.bos));
  if (v.eos) trainer.bytes(47, piece_of(v.eos));
  model.bytes(2, trainer.str());
  // Llama's normaliser: identity (no precompiled charsmap), the dummy "▁" prefix, whitespace
  // kept as it is (llama.cpp never collapses it) and escaped to "▁".
  ProtoWriter normalizer;
  normalizer.bytes(1, "identity");
  normalizer.varint(3, f.boolean("tokenizer.ggml.add_space_prefix").value_or(true) ? 1 : 0);
  normalizer.varint(4, 0);  // remove_extra_whitespaces
  normalizer.varint(5, 1);  // escape_whitespaces
  model.bytes(3, normalizer.str());
  return model.str();
}

// tokenizer.ggml.pre -> the tokenizer.json pre_tokenizer Hugging Face writes for it.
nlohmann::json pre_tokenizer(const std::string& file, const std::string& pre) {
  using nlohmann::json;
  const json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  if (pre == "default" || pre == "gpt2") return byte_level;
  if (pre == "smollm")
    return {{"type", "Sequence"},
            {"pretokenizers",
             json::array({{{"type", "Digits"}, {"individual_digits", true}}, byte_level})}};
  if (pre == "llama3" || pre == "llama-bpe") {
    const std::string pattern =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    json bl = byte_level;
    bl["use_regex"] = false;
    return {{"type", "Sequence"},
            {"pretokenizers", json::array({{{"type", "Split"},
                                            {"pattern", {{"Regex", pattern}}},
                                            {"behavior", "Isolated"},
                                            {"invert", false}},
                                           bl})}};
  }
  fail(
      "{}: tokenizer.ggml.pre \"{}\" is not supported (supported: default, gpt2, smollm, "
      "llama-bpe)",
      file, pre);
}

std::unique_ptr<Tokenizer> byte_level_bpe(const GgufFile& f, const Vocabulary& v) {
  using nlohmann::json;
  const std::string file = f.path().string();
  const GgufValue* merges = f.array("tokenizer.ggml.merges", ValueType::kString);
  if (merges == nullptr)
    fail("{}: tokenizer.ggml.model \"gpt2\" has no tokenizer.ggml.merges", file);
  json vocab = json::object();
  json added = json::array();
  for (size_t i = 0; i < v.tokens->size(); ++i) {
    const std::string& t = (*v.tokens)[i];
    if (vocab.contains(t)) fail("{}: tokenizer.ggml.tokens[{}] \"{}\" is listed twice", file, i, t);
    vocab[t] = i;
    if (v.types[i] == kControl || v.types[i] == kUserDefined)
      added.push_back({{"id", i}, {"content", t}, {"special", v.types[i] == kControl}});
  }
  const json doc = {
      {"model", {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", merges->strings}}},
      {"pre_tokenizer", pre_tokenizer(file, f.string("tokenizer.ggml.pre").value_or("default"))},
      {"added_tokens", std::move(added)}};
  return make_bpe_tokenizer(doc, file + ": tokenizer.ggml (gpt2)");
}

}  // namespace

std::string gguf_sentencepiece_proto(const GgufFile& file) {
  return sentencepiece_proto(file, read_vocabulary(file));
}

GgufTokenizer load_gguf_tokenizer(const GgufFile& f) {
  const std::string file = f.path().string();
  GgufTokenizer out;
  const auto model = f.string("tokenizer.ggml.model");
  if (!model) fail("{}: no tokenizer.ggml.model (the file carries no tokenizer)", file);
  out.model = *model;
  const Vocabulary v = read_vocabulary(f);
  if (*model == "llama") {
    out.tokenizer =
        make_sentencepiece_tokenizer(sentencepiece_proto(f, v), file + ": tokenizer.ggml (llama)");
  } else if (*model == "gpt2") {
    out.tokenizer = byte_level_bpe(f, v);
  } else {
    fail("{}: tokenizer.ggml.model \"{}\" is not supported (supported: llama, gpt2)", file, *model);
  }
  Tokenizer& tok = *out.tokenizer;
  if (v.bos) tok.bos_id = static_cast<int32_t>(*v.bos);
  if (v.eos) tok.eos_id = static_cast<int32_t>(*v.eos);
  // llama.cpp adds BOS unless told otherwise for SentencePiece vocabularies, not for BPE ones.
  tok.add_bos = f.boolean("tokenizer.ggml.add_bos_token").value_or(*model == "llama");

  nlohmann::json config = {{"add_bos_token", tok.add_bos}};
  if (v.bos) config["bos_token"] = (*v.tokens)[static_cast<size_t>(*v.bos)];
  if (v.eos) config["eos_token"] = (*v.tokens)[static_cast<size_t>(*v.eos)];
  if (const auto t = f.string("tokenizer.chat_template")) config["chat_template"] = *t;
  // Invalid UTF-8 in a token would make dump() throw: replace it in the text instead.
  out.tokenizer_config = config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

}  // namespace lowbit
