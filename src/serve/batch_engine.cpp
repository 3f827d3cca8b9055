#include "serve/batch_engine.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

#include "core/error.h"
#include "core/thread_pool.h"
#include "serve/token_logprobs.h"

namespace lowbit::serve {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Previous tokens used as context when turning one token into text (a SentencePiece piece keeps
// its leading space only after other text).
constexpr size_t kTextContext = 4;

}  // namespace

BatchEngine::BatchEngine(LlamaModel& model, const Tokenizer& tokenizer, EngineOptions options,
                         Metrics& metrics)
    : model_(model), tokenizer_(tokenizer), options_(std::move(options)), metrics_(metrics) {
  const int max_len = model_.config().max_seq_len;
  context_ = options_.context > 0 ? options_.context : max_len;
  if (context_ < 2 || context_ > max_len)
    fail("serve: --ctx {} outside 2..{} (the model's max_position_embeddings)", context_, max_len);
  if (options_.parallel < 1 || options_.parallel > 64)
    fail("serve: --parallel {} outside 1..64", options_.parallel);
  if (options_.max_queue < 0) fail("serve: --max-queue {} is negative", options_.max_queue);
  slots_.reserve(static_cast<size_t>(options_.parallel));
  for (int i = 0; i < options_.parallel; ++i) slots_.emplace_back(model_.make_cache(context_));
  thread_ = std::thread([this] { loop(); });
}

BatchEngine::~BatchEngine() {
  stop();
}

bool BatchEngine::stopping() const {
  const std::lock_guard lock(m_);
  return stopping_;
}

void BatchEngine::stop() {
  {
    const std::lock_guard lock(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<RequestState> BatchEngine::submit(GenerationRequest request) {
  auto state = std::make_shared<RequestState>(request.stream);
  {
    const std::lock_guard lock(m_);
    if (stopping_) return nullptr;
    const int active = static_cast<int>(busy_.load());
    // Waiting is allowed up to max_queue beyond the free slots.
    if (static_cast<int>(queue_.size()) >= options_.max_queue + (parallel() - active))
      return nullptr;
    state->set_prompt_tokens(static_cast<int>(request.prompt_ids.size()));
    queue_.push_back({std::move(request), state});
    metrics_.set_queue(static_cast<int64_t>(queue_.size()), active);
  }
  cv_.notify_all();
  return state;
}

std::string BatchEngine::token_text(const Slot& slot, int32_t id) const {
  const size_t n = std::min(kTextContext, slot.ids.size());
  std::vector<int32_t> ids(slot.ids.end() - static_cast<std::ptrdiff_t>(n), slot.ids.end());
  const std::string before = tokenizer_.decode(ids);
  ids.push_back(id);
  std::string after = tokenizer_.decode(ids);
  if (after.compare(0, before.size(), before) == 0) return after.substr(before.size());
  const int32_t one[] = {id};
  return tokenizer_.decode(one);
}

void BatchEngine::release(Slot& slot, FinishReason reason, std::string error) {
  std::string tail;
  if (reason == FinishReason::kStop || reason == FinishReason::kLength) {
    tail = slot.streamer->flush();
    tail = slot.stops->push(tail);
    if (!slot.stops->stopped()) tail += slot.stops->flush();
  }
  const std::shared_ptr<RequestState> state = std::move(slot.state);
  slot.state.reset();
  slot.sampler.reset();
  slot.streamer.reset();
  slot.stops.reset();
  slot.ids.clear();
  // The gauge drops before the client is woken: a client that reads /metrics right after its
  // response must not see its own sequence still active. Only this thread writes the slots.
  slots_changed();
  state->finish(reason, std::move(tail), std::move(error));
}

bool BatchEngine::emit(Slot& slot, std::span<const float> logits, int32_t id) {
  const auto& stop_ids = options_.stop_ids;
  if (!slot.request.ignore_eos &&
      std::find(stop_ids.begin(), stop_ids.end(), id) != stop_ids.end()) {
    release(slot, FinishReason::kStop);
    return false;
  }
  TokenEvent e;
  e.id = id;
  // A token's own text is for logprobs only (the response text comes from the streamer): two
  // detokenizations per token that a request without logprobs does not pay for.
  if (slot.request.top_logprobs >= 0) {
    const auto lp = token_logprobs(logits, id, static_cast<size_t>(slot.request.top_logprobs));
    e.logprob = lp.chosen;
    for (const auto& [alt, logp] : lp.top) e.top.emplace_back(token_text(slot, alt), logp);
    e.token_text = token_text(slot, id);
  }
  e.text = slot.stops->push(slot.streamer->push(id));
  slot.ids.push_back(id);
  slot.next = id;
  ++slot.generated;
  slot.state->push(std::move(e));
  metrics_.generated(1);
  if (slot.stops->stopped()) {
    release(slot, FinishReason::kStop);
    return false;
  }
  // The next step would need one more cache position than the slot has.
  if (slot.generated >= slot.request.max_tokens || slot.cache.length() + 1 > context_) {
    release(slot, FinishReason::kLength);
    return false;
  }
  return true;
}

bool BatchEngine::admit(Job job, Slot& slot) {
  slot.state = std::move(job.state);
  slot.request = std::move(job.request);
  // The gauge rises before the prefill can hand the client its first token, as it drops before
  // release() wakes it: a client that has a token must see its sequence holding a slot.
  slots_changed();
  const auto& prompt = slot.request.prompt_ids;
  slot.sampler.emplace(slot.request.sampler);
  slot.streamer.emplace(tokenizer_, prompt);
  slot.stops.emplace(slot.request.stop);
  slot.ids = prompt;
  slot.generated = 0;
  slot.cache.clear();
  if (slot.request.max_tokens <= 0) {
    release(slot, FinishReason::kLength);
    return false;
  }
  const auto t0 = Clock::now();
  const auto logits = model_.forward(prompt, slot.cache);
  metrics_.prefill(static_cast<int64_t>(prompt.size()), seconds_since(t0));
  return emit(slot, logits, slot.sampler->sample(logits));
}

void BatchEngine::loop() {
  std::vector<int32_t> tokens;
  std::vector<KVCache*> caches;
  std::vector<Slot*> rows;
  std::vector<int32_t> next_ids;
  for (;;) {
    std::optional<Job> job;
    Slot* free_slot = nullptr;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || busy_ > 0; });
      if (stopping_) {
        for (auto& j : queue_) j.state->finish(FinishReason::kCancelled);
        queue_.clear();
        for (auto& s : slots_)
          if (s.state) release(s, FinishReason::kCancelled);
        metrics_.set_queue(0, 0);
        return;
      }
      // Requests that gave up while waiting never take a slot.
      std::erase_if(queue_, [](const Job& j) {
        const bool gone = j.state->cancelled() || Clock::now() >= j.request.deadline;
        if (gone)
          j.state->finish(j.state->cancelled() ? FinishReason::kCancelled : FinishReason::kTimeout);
        return gone;
      });
      for (auto& s : slots_)
        if (!s.state) free_slot = &s;
      if (free_slot != nullptr && !queue_.empty()) {
        job.emplace(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Running sequences whose client left or whose time is up free their slots first.
    for (auto& s : slots_)
      if (s.state && (s.state->cancelled() || Clock::now() >= s.request.deadline))
        release(s, s.state->cancelled() ? FinishReason::kCancelled : FinishReason::kTimeout);
    // One admission per iteration: a burst of requests interleaves its prefills with decode
    // steps of the sequences already running.
    if (job) {
      try {
        admit(std::move(*job), *free_slot);
      } catch (const std::exception& e) {
        if (free_slot->state) release(*free_slot, FinishReason::kError, e.what());
      }
    }
    tokens.clear();
    caches.clear();
    rows.clear();
    for (auto& s : slots_)
      if (s.state && s.generated > 0) {
        tokens.push_back(s.next);
        caches.push_back(&s.cache);
        rows.push_back(&s);
      }
    publish_queue();
    if (rows.empty()) continue;
    const auto t0 = Clock::now();
    try {
      const auto logits = model_.forward_batch(tokens, caches);
      const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
      // Each row's sampler is its own (a softmax and a walk over the vocabulary): the rows are
      // sampled in parallel, then handed out in order.
      next_ids.resize(rows.size());
      thread_pool().parallel_for(rows.size(), 1, [&](size_t begin, size_t end) {
        for (size_t r = begin; r < end; ++r)
          next_ids[r] = rows[r]->sampler->sample(logits.subspan(r * vocab, vocab));
      });
      for (size_t r = 0; r < rows.size(); ++r)
        emit(*rows[r], logits.subspan(r * vocab, vocab), next_ids[r]);
    } catch (const std::exception& e) {
      for (Slot* s : rows)
        if (s->state) release(*s, FinishReason::kError, e.what());
    }
    metrics_.decode_step(static_cast<int64_t>(rows.size()), seconds_since(t0));
    publish_queue();
  }
}

void BatchEngine::publish_queue() {
  const std::lock_guard lock(m_);
  metrics_.set_queue(static_cast<int64_t>(queue_.size()), busy_.load());
}

void BatchEngine::slots_changed() {
  busy_ =
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state != nullptr; });
  metrics_.set_active(busy_.load());
}

}  // namespace lowbit::serve
