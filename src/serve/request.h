#pragma once
// One generation request as the engine runs it, and the channel its results come back through.
// The HTTP side (http_server.cpp) fills a GenerationRequest from an OpenAI request, submits it to
// the BatchEngine, and reads TokenEvents from the RequestState until done; the engine thread
// writes them. Cancelling (client gone, server stopping) is a flag the engine checks every step.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/sampler.h"

namespace lowbit::serve {

struct GenerationRequest {
  std::vector<int32_t> prompt_ids;  // BOS included where the model wants it
  int max_tokens = 16;
  SamplerOptions sampler;
  std::vector<std::string> stop;  // stop strings (not returned)
  int top_logprobs = -1;          // -1: no logprobs; else logprobs with this many alternatives
  bool ignore_eos = false;        // generate through end-of-sequence tokens (benchmarks)
  bool stream = false;            // the client takes tokens as they come (else all at the end)
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// One generated token.
struct TokenEvent {
  int32_t id = 0;
  std::string token_text;  // this token's own text (may be part of a UTF-8 character); only
                           // filled when the request asks for logprobs
  std::string text;        // the completion text released with it (held back text comes later)
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;  // alternatives' text and log p
};

enum class FinishReason { kStop, kLength, kCancelled, kTimeout, kError };
const char* finish_reason_name(FinishReason r);

class RequestState {
 public:
  // `wake_per_token`: push() wakes the client for each token (a stream). A client that only wants
  // the whole completion is woken once, at finish(): on a 2-core machine, waking every waiting
  // HTTP thread at every decode step took a core from the batched forward.
  explicit RequestState(bool wake_per_token = true) : wake_per_token_(wake_per_token) {}

  // Engine side.
  void push(TokenEvent e);
  // Ends the request; `tail` is text released at the end (held back for a stop string).
  void finish(FinishReason reason, std::string tail = {}, std::string error = {});
  void set_prompt_tokens(int n) { prompt_tokens_ = n; }

  // Client side: waits until an event (streams) or the end (or `timeout`); moves the new events
  // out.
  // Returns false once finished and drained (nothing was moved out by this call).
  bool wait(std::vector<TokenEvent>& out, std::chrono::milliseconds timeout);
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  bool finished() const;
  FinishReason reason() const;
  std::string tail() const;
  std::string error() const;
  int prompt_tokens() const { return prompt_tokens_; }
  int completion_tokens() const { return completion_tokens_; }

 private:
  const bool wake_per_token_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  bool done_ = false;
  FinishReason reason_ = FinishReason::kStop;
  std::string tail_, error_;
  std::atomic<bool> cancelled_{false};
  std::atomic<int> prompt_tokens_{0}, completion_tokens_{0};
};

}  // namespace lowbit::serve
