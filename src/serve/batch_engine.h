#pragma once
// Continuous batching: one engine thread owns the model and up to `parallel` sequence slots, each
// with its own KV cache. Every iteration it (1) drops requests that were cancelled or ran out of
// time, (2) admits waiting requests into free slots — a prefill each, which also yields its first
// token — and (3) runs one decode step for every active sequence at once
// (LlamaModel::forward_batch: the rows share the projections' integer GEMMs). New requests join
// between steps; a finished sequence frees its slot at once. The caches are allocated once, at
// start-up, so memory does not grow with traffic.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/generator.h"
#include "model/llama.h"
#include "model/sampler.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/stop_strings.h"
#include "text/tokenizer.h"

namespace lowbit::serve {

struct EngineOptions {
  int parallel = 4;    // sequences per decode step (slots)
  int context = 0;     // KV cache positions per slot; 0: the model's max_position_embeddings
  int max_queue = 64;  // waiting requests beyond which submit() refuses
  std::vector<int32_t> stop_ids;  // end-of-sequence ids (the model's EOS, eos_token_id lists)
};

class BatchEngine {
 public:
  BatchEngine(LlamaModel& model, const Tokenizer& tokenizer, EngineOptions options,
              Metrics& metrics);
  ~BatchEngine();  // stops the thread; unfinished requests end as cancelled
  BatchEngine(const BatchEngine&) = delete;
  BatchEngine& operator=(const BatchEngine&) = delete;

  // Queues a request. Returns nullptr when the queue is full or the engine is stopping (the
  // caller answers 429/503). The request must fit the context (checked by the caller, see
  // context()).
  std::shared_ptr<RequestState> submit(GenerationRequest request);
  // Stops accepting requests; running and waiting ones end as cancelled; joins the thread.
  void stop();
  bool stopping() const;

  int context() const { return context_; }
  int parallel() const { return static_cast<int>(slots_.size()); }

 private:
  struct Job {
    GenerationRequest request;
    std::shared_ptr<RequestState> state;
  };
  struct Slot {
    explicit Slot(KVCache c) : cache(std::move(c)) {}
    KVCache cache;
    std::shared_ptr<RequestState> state;  // null: free
    GenerationRequest request;
    std::optional<Sampler> sampler;
    std::optional<TextStreamer> streamer;
    std::optional<StopMatcher> stops;
    std::vector<int32_t> ids;  // prompt + generated, for token texts
    int32_t next = 0;          // the sampled token the next decode step feeds
    int generated = 0;
  };

  void loop();
  bool admit(Job job, Slot& slot);
  // Hands the slot's next token `id` (sampled from `logits`) to its client; false when the
  // sequence ended (and its slot was released).
  bool emit(Slot& slot, std::span<const float> logits, int32_t id);
  void release(Slot& slot, FinishReason reason, std::string error = {});
  // The queue length and active sequences, for /metrics.
  void publish_queue();
  // Recounts the slots holding a sequence after the engine thread took or freed one; other
  // threads read the count, never the slots.
  void slots_changed();
  std::string token_text(const Slot& slot, int32_t id) const;

  LlamaModel& model_;
  const Tokenizer& tokenizer_;
  EngineOptions options_;
  Metrics& metrics_;
  int context_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> busy_{0};  // slots holding a sequence, as of the last slots_changed()
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace lowbit::serve
