#pragma once
// Temporary files and extraction folders removed when the process is interrupted (SIGINT,
// SIGTERM, SIGHUP). Normal returns and exceptions clean up through RAII; a signal's default action
// would skip the destructors and leave the file behind. The handler only calls unlink/rmdir
// (async-signal-safe) on paths registered here, newest first, then re-raises the signal.
#include <filesystem>

namespace lowbit {

// Registers `path` for removal on a signal while this object lives (a file, or an empty-by-then
// folder: register the folder first and its files after, they are removed newest first).
class RemoveOnSignal {
 public:
  explicit RemoveOnSignal(const std::filesystem::path& path, bool directory = false);
  ~RemoveOnSignal();
  RemoveOnSignal(const RemoveOnSignal&) = delete;
  RemoveOnSignal& operator=(const RemoveOnSignal&) = delete;

 private:
  int slot_ = -1;  // -1: too many registered paths (the path is then only removed by RAII)
};

// Installs the handlers (once, from main; later calls do nothing).
void install_signal_cleanup();

}  // namespace lowbit
