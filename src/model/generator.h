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

// Turns a growing token sequence into text increments. Decoding the whole sequence each time keeps
// tokenizer rules that depend on neighbours (leading-space stripping, byte-fallback pieces) right;
// text is held back while it ends inside a UTF-8 sequence or a partial byte-fallback character.
class TextStreamer {
 public:
  TextStreamer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids);
  std::string push(int32_t id);
  std::string flush();

 private:
  std::string pending_text() const;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  size_t printed_ = 0;  // bytes of decode(ids_) already returned
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
