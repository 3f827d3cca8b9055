#include "serve/request.h"

namespace lowbit::serve {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kTimeout:
      return "timeout";
    case FinishReason::kError:
      return "error";
  }
  return "stop";
}

void RequestState::push(TokenEvent e) {
  {
    const std::lock_guard lock(m_);
    events_.push_back(std::move(e));
    ++completion_tokens_;
  }
  if (wake_per_token_) cv_.notify_all();
}

void RequestState::finish(FinishReason reason, std::string tail, std::string error) {
  {
    const std::lock_guard lock(m_);
    if (done_) return;
    done_ = true;
    reason_ = reason;
    tail_ = std::move(tail);
    error_ = std::move(error);
  }
  cv_.notify_all();
}

bool RequestState::wait(std::vector<TokenEvent>& out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(m_);
  cv_.wait_for(lock, timeout, [&] { return done_ || (wake_per_token_ && !events_.empty()); });
  const bool moved = !events_.empty();
  for (auto& e : events_) out.push_back(std::move(e));
  events_.clear();
  return !done_ || moved;
}

bool RequestState::finished() const {
  const std::lock_guard lock(m_);
  return done_;
}

FinishReason RequestState::reason() const {
  const std::lock_guard lock(m_);
  return reason_;
}

std::string RequestState::tail() const {
  const std::lock_guard lock(m_);
  return tail_;
}

std::string RequestState::error() const {
  const std::lock_guard lock(m_);
  return error_;
}

}  // namespace lowbit::serve
