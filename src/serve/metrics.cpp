#include "serve/metrics.h"

#include <fmt/format.h>

namespace lowbit::serve {

void Metrics::request_done(const std::string& endpoint, int status, double seconds) {
  const std::lock_guard lock(m_);
  auto& r = requests_[{endpoint, status}];
  ++r.count;
  r.seconds += seconds;
  size_t b = 0;
  while (b < kLatencyBuckets.size() && seconds > kLatencyBuckets[b]) ++b;
  ++latency_[b];
  latency_sum_ += seconds;
  ++latency_count_;
}

void Metrics::prefill(int64_t tokens, double seconds) {
  const std::lock_guard lock(m_);
  prefill_tokens_ += tokens;
  prefill_seconds_ += seconds;
}

void Metrics::decode_step(int64_t rows, double seconds) {
  const std::lock_guard lock(m_);
  ++decode_steps_;
  decode_rows_ += rows;
  decode_seconds_ += seconds;
  size_t b = 0;
  while (b < kRowBuckets.size() && rows > kRowBuckets[b]) ++b;
  ++rows_hist_[b];
}

std::string Metrics::render(int slots) const {
  const std::lock_guard lock(m_);
  std::string out;
  const auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("lowbit_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, r] : requests_)
    out += fmt::format("lowbit_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, r.count);
  metric("lowbit_requests_rejected_total", "counter",
         "Requests refused because the queue was full (429) or the server stopping (503).");
  out += fmt::format("lowbit_requests_rejected_total {}\n", rejected_.load());
  metric("lowbit_request_duration_seconds", "histogram", "Time from request to last byte.");
  int64_t cumulative = 0;
  for (size_t b = 0; b < kLatencyBuckets.size(); ++b) {
    cumulative += latency_[b];
    out += fmt::format("lowbit_request_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                       kLatencyBuckets[b], cumulative);
  }
  out += fmt::format("lowbit_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", latency_count_);
  out += fmt::format("lowbit_request_duration_seconds_sum {}\n", latency_sum_);
  out += fmt::format("lowbit_request_duration_seconds_count {}\n", latency_count_);
  metric("lowbit_prompt_tokens_total", "counter", "Prompt tokens prefilled.");
  out += fmt::format("lowbit_prompt_tokens_total {}\n", prefill_tokens_);
  metric("lowbit_prefill_seconds_total", "counter", "Time spent in prefills.");
  out += fmt::format("lowbit_prefill_seconds_total {}\n", prefill_seconds_);
  metric("lowbit_generated_tokens_total", "counter", "Tokens generated (all requests).");
  out += fmt::format("lowbit_generated_tokens_total {}\n", generated_tokens_.load());
  metric("lowbit_decode_steps_total", "counter", "Batched decode steps (one forward each).");
  out += fmt::format("lowbit_decode_steps_total {}\n", decode_steps_);
  metric("lowbit_decode_rows_total", "counter",
         "Sequence rows decoded (sum over steps of the sequences in the step).");
  out += fmt::format("lowbit_decode_rows_total {}\n", decode_rows_);
  metric("lowbit_decode_seconds_total", "counter",
         "Time spent in decode steps (forward, sampling, logprobs); rows / seconds is the "
         "aggregate decode throughput.");
  out += fmt::format("lowbit_decode_seconds_total {}\n", decode_seconds_);
  metric("lowbit_decode_rows_per_step", "histogram", "Sequences carried by each decode step.");
  cumulative = 0;
  for (size_t b = 0; b < kRowBuckets.size(); ++b) {
    cumulative += rows_hist_[b];
    out += fmt::format("lowbit_decode_rows_per_step_bucket{{le=\"{}\"}} {}\n", kRowBuckets[b],
                       cumulative);
  }
  out += fmt::format("lowbit_decode_rows_per_step_bucket{{le=\"+Inf\"}} {}\n", decode_steps_);
  out += fmt::format("lowbit_decode_rows_per_step_sum {}\n", decode_rows_);
  out += fmt::format("lowbit_decode_rows_per_step_count {}\n", decode_steps_);
  metric("lowbit_queue_length", "gauge", "Requests waiting for a slot.");
  out += fmt::format("lowbit_queue_length {}\n", queued_.load());
  metric("lowbit_active_sequences", "gauge", "Sequences holding a slot.");
  out += fmt::format("lowbit_active_sequences {}\n", active_.load());
  metric("lowbit_slots", "gauge", "Sequences a decode step can carry (--parallel).");
  out += fmt::format("lowbit_slots {}\n", slots);
  return out;
}

}  // namespace lowbit::serve
