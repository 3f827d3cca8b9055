#include "core/signal_cleanup.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace lowbit {
namespace {

constexpr int kSlots = 64;
constexpr size_t kPathBytes = 4096;

// 0: free, 1: being written, 2: file, 3: folder. Paths are plain char arrays: the handler may
// read them at any moment.
std::atomic<int> g_state[kSlots];
char g_paths[kSlots][kPathBytes];
std::atomic<int> g_sequence{0};
int g_order[kSlots];  // registration sequence number of each slot (newest removed first)

void on_signal(int sig) {
  for (;;) {  // newest registration first
    int best = -1;
    for (int i = 0; i < kSlots; ++i) {
      const int s = g_state[i].load();
      if ((s == 2 || s == 3) && (best < 0 || g_order[i] > g_order[best])) best = i;
    }
    if (best < 0) break;
    if (g_state[best].load() == 2)
      ::unlink(g_paths[best]);
    else
      ::rmdir(g_paths[best]);
    g_state[best].store(0);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

RemoveOnSignal::RemoveOnSignal(const std::filesystem::path& path, bool directory) {
  const std::string& p = path.native();
  if (p.size() >= kPathBytes) return;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_state[i].compare_exchange_strong(expected, 1)) {
      std::memcpy(g_paths[i], p.c_str(), p.size() + 1);
      g_order[i] = g_sequence.fetch_add(1);
      g_state[i].store(directory ? 3 : 2);
      slot_ = i;
      return;
    }
  }
}

RemoveOnSignal::~RemoveOnSignal() {
  if (slot_ >= 0) g_state[slot_].store(0);
}

void install_signal_cleanup() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_signal);
}

}  // namespace lowbit
