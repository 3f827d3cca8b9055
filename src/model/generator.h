#pragma once
// Autoregressive generation: prefill the prompt in one batch, then decode one token at a time,
// streaming text as soon as it is complete UTF-8.
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama.h"
#include "model/sampler.h"
#include "text/tokenizer.h"

namespace lowbit {

// Turns a growing token sequence into text increments. Each push decodes a short window only —
// the text of ids [prefix, end) minus that of [prefix, read), text-generation-inference's
// incremental detokenization — so a token costs the same at position 10 as at 10000 (decoding the
// whole sequence every token made a long generation quadratic). The window's first tokens, those
// released last time, give the new ones their context: tokenizer rules that depend on neighbours
// (SentencePiece's leading-space stripping, byte-fallback and byte-level pieces joining into
// characters) see what they would in a decode of everything. Text is held back while it ends
// inside a UTF-8 sequence or a partial byte-fallback character. The pieces concatenated equal the
// decode of the whole sequence past the prompt.
class TextStreamer {
 public:
  TextStreamer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids);
  std::string push(int32_t id);
  std::string flush();

 private:
  // The text the window's tokens from read_ on add to those before (empty if none).
  std::string pending_text() const;
  // Marks the window's text as released: its tokens past the context become the next window's
  // context when they added text.
  void release(bool produced_text);
  const Tokenizer& tokenizer_;
  std::vector<int32_t> window_;  // from `prefix` on: context tokens, then unreleased ones
  size_t read_ = 0;              // window_[0, read_) is context, already released
};

struct GenerateOptions {
  int max_new_tokens = 128;
  SamplerOptions sampler;
  std::vector<int32_t> stop_ids;
};

struct GenerateStats {
  std::vector<int32_t> new_ids;
  int prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

GenerateStats generate(LlamaModel& model, const Tokenizer& tokenizer,
                       std::span<const int32_t> prompt_ids, const GenerateOptions& options,
                       const std::function<void(std::string_view)>& on_text = {});

}  // namespace lowbit
