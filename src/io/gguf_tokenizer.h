#pragma once
// The tokenizer a GGUF file carries in its metadata (tokenizer.ggml.*), rebuilt on lowbit's
// existing back ends rather than a new algorithm:
//   "llama" (SentencePiece): tokens, scores and token types become a SentencePiece ModelProto
//          (BPE, byte fallback when there are byte tokens, identity normaliser with the dummy
//          prefix unless tokenizer.ggml.add_space_prefix is false), loaded by libsentencepiece;
//   "gpt2" (byte-level BPE): tokens and merges become a tokenizer.json document (the
//          pre-tokenizer named by tokenizer.ggml.pre), loaded by text/byte_level_bpe.
// tokenizer.chat_template and the BOS/EOS tokens become a tokenizer_config.json text.
#include <memory>
#include <string>

#include "io/gguf_reader.h"
#include "text/tokenizer.h"

namespace lowbit {

struct GgufTokenizer {
  std::unique_ptr<Tokenizer> tokenizer;
  std::string tokenizer_config;  // JSON: chat_template (when present), bos_token, eos_token, ...
  std::string model;             // tokenizer.ggml.model
};

GgufTokenizer load_gguf_tokenizer(const GgufFile& file);

// The serialized SentencePiece ModelProto for a "llama" vocabulary (exposed for tests).
std::string gguf_sentencepiece_proto(const GgufFile& file);

}  // namespace lowbit
