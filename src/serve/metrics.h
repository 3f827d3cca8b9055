#pragma once
// Server counters, rendered as Prometheus text (GET /metrics). Everything is measured on the
// server side: decode throughput is decode rows / time spent in decode steps, and the rows-per-step
// histogram shows how many sequences each batched step carried.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace lowbit::serve {

class Metrics {
 public:
  void request_done(const std::string& endpoint, int status, double seconds);
  void prefill(int64_t tokens, double seconds);
  void decode_step(int64_t rows, double seconds);
  void generated(int64_t tokens) { generated_tokens_ += tokens; }
  void set_queue(int64_t waiting, int64_t active) {
    queued_ = waiting;
    active_ = active;
  }
  void set_active(int64_t active) { active_ = active; }
  void rejected() { ++rejected_; }

  // Prometheus text exposition format 0.0.4; slots = the engine's --parallel.
  std::string render(int slots) const;

  // Bucket bounds of the rows-per-step histogram (1, 2, 4, ... 64, +Inf).
  static constexpr std::array<int, 7> kRowBuckets = {1, 2, 4, 8, 16, 32, 64};
  static constexpr std::array<double, 10> kLatencyBuckets = {0.05, 0.1, 0.25, 0.5, 1,
                                                             2.5,  5,   10,   30,  60};

 private:
  mutable std::mutex m_;
  struct Requests {
    int64_t count = 0;
    double seconds = 0;
  };
  std::map<std::pair<std::string, int>, Requests> requests_;  // (endpoint, status)
  std::array<int64_t, kLatencyBuckets.size() + 1> latency_ = {};
  double latency_sum_ = 0;
  int64_t latency_count_ = 0;
  int64_t prefill_tokens_ = 0, decode_steps_ = 0, decode_rows_ = 0;
  double prefill_seconds_ = 0, decode_seconds_ = 0;
  std::array<int64_t, kRowBuckets.size() + 1> rows_hist_ = {};
  std::atomic<int64_t> generated_tokens_{0}, queued_{0}, active_{0}, rejected_{0};
};

}  // namespace lowbit::serve
