#include "core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace lowbit {

Progress::Progress(std::string label, size_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && total > 0),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

Progress::~Progress() {
  if (!finished_ && enabled_ && tty_) fmt::print(stderr, "\n");
}

void Progress::update(size_t done) {
  update(done, std::string());
}

void Progress::update(size_t done, const std::string& status) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (done < total_ && since < (tty_ ? 0.2 : 10.0)) return;
  last_print_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  constexpr size_t kWidth = 30;
  const size_t filled = total_ ? kWidth * done / total_ : kWidth;
  const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '.');
  fmt::print(stderr, "{}{} [{}] {}/{} {:.1f}/s ETA {:.0f}s{}{}{}", tty_ ? "\r" : "", label_, bar,
             done, total_, rate, eta, status.empty() ? "" : " ", status, tty_ ? "" : "\n");
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  if (tty_) fmt::print(stderr, "\n");
}

}  // namespace lowbit
