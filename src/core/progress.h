#pragma once
// A progress bar with rate and ETA on stderr for long runs. On a terminal it redraws one line;
// otherwise (logs, CI) it prints a line at most every 10 seconds.
#include <chrono>
#include <string>

namespace lowbit {

class Progress {
 public:
  Progress(std::string label, size_t total, bool enabled = true);
  ~Progress();
  void update(size_t done);
  // With a status shown after the rate (e.g. a training step's loss).
  void update(size_t done, const std::string& status);
  void finish();

 private:
  std::string label_;
  size_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_print_;
};

}  // namespace lowbit
