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

// Prompt tokens kept as the first window's context.
constexpr size_t kPromptContext = 4;
// Tokens held back at most while their text ends inside a character: a character takes at most
// four byte tokens, so more means bytes that never form one (released as decoded, U+FFFD and all)
// and a window that would otherwise grow with the sequence.
constexpr size_t kMaxHeld = 16;

}  // namespace

TextStreamer::TextStreamer(const Tokenizer& tokenizer, std::span<const int32_t> prompt_ids)
    : tokenizer_(tokenizer),
      window_(prompt_ids.end() -
                  static_cast<std::ptrdiff_t>(std::min(kPromptContext, prompt_ids.size())),
              prompt_ids.end()),
      read_(window_.size()) {}

std::string TextStreamer::pending_text() const {
  const std::string before = tokenizer_.decode(std::span(window_).first(read_));
  std::string all = tokenizer_.decode(window_);
  // A decode is a prefix of the decode with more tokens for every tokenizer lowbit reads, except
  // where the context itself ends inside a character (a prompt cut mid-character): then the new
  // text starts where the two first differ.
  size_t same = 0;
  while (same < before.size() && same < all.size() && before[same] == all[same]) ++same;
  if (same < before.size()) same = complete_utf8_prefix(std::string_view(all).substr(0, same));
  return all.substr(same);
}

void TextStreamer::release(bool produced_text) {
  // Tokens that added no text (special tokens) would be poor context: SentencePiece would take
  // the next piece for the first of a decode and drop its leading space.
  if (produced_text)
    window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(read_));
  read_ = window_.size();
}

std::string TextStreamer::push(int32_t id) {
  window_.push_back(id);
  std::string text = pending_text();
  const bool inside_character = complete_utf8_prefix(text) != text.size() ||
                                std::string_view(text).ends_with(kReplacementChar);
  if (inside_character && window_.size() - read_ < kMaxHeld)
    return {};  // the next tokens complete it
  release(!text.empty());
  return text;
}

std::string TextStreamer::flush() {
  std::string text = pending_text();
  release(!text.empty());
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
