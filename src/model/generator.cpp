#include "model/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/utf8.h"

namespace lowbit {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TextStreamer::TextStreamer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids)
    : tokenizer_(tokenizer), ids_(prompt_ids.begin(), prompt_ids.end()) {
  printed_ = tokenizer_.decode(ids_).size();
}

std::string TextStreamer::pending_text() const {
  const std::string full = tokenizer_.decode(ids_);
  return full.size() > printed_ ? full.substr(printed_) : std::string();
}

std::string TextStreamer::push(int32_t id) {
  ids_.push_back(id);
  std::string text = pending_text();
  text.resize(complete_utf8_prefix(text));
  if (std::string_view(text).ends_with(kReplacementChar)) return {};
  printed_ += text.size();
  return text;
}

std::string TextStreamer::flush() {
  std::string text = pending_text();
  printed_ += text.size();
  return text;
}

GenerateStats generate(LlamaModel& model, const Tokenizer& tokenizer,
                       std::span<const int32_t> prompt_ids, const GenerateOptions& options,
                       const std::function<void(std::string_view)>& on_text) {
  if (prompt_ids.empty()) fail("generate: empty prompt (not even BOS)");
  if (options.max_new_tokens < 0) fail("-n must be >= 0, got {}", options.max_new_tokens);
  const int max_len = model.config().max_seq_len;
  const int total = std::min(max_len, static_cast<int>(prompt_ids.size()) + options.max_new_tokens);
  if (static_cast<int>(prompt_ids.size()) > max_len)
    fail("prompt has {} tokens; the model's context is {}", prompt_ids.size(), max_len);

  GenerateStats stats;
  stats.prompt_tokens = static_cast<int>(prompt_ids.size());
  KVCache cache = model.make_cache(total);
  Sampler sampler(options.sampler);
  // The streamer sees the prompt without BOS so decoding matches what the user typed.
  std::vector<int32_t> visible(prompt_ids.begin(), prompt_ids.end());
  TextStreamer streamer(tokenizer, visible);

  auto t0 = std::chrono::steady_clock::now();
  auto logits = model.forward(prompt_ids, cache);
  stats.prefill_seconds = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  while (static_cast<int>(stats.new_ids.size()) < options.max_new_tokens) {
    const int32_t next = sampler.sample(logits);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end())
      break;
    stats.new_ids.push_back(next);
    if (on_text) on_text(streamer.push(next));
    if (cache.length() >= total) break;
    const int32_t token[] = {next};
    logits = model.forward(token, cache);
  }
  if (on_text) on_text(streamer.flush());
  stats.decode_seconds = seconds_since(t0);
  return stats;
}

}  // namespace lowbit
