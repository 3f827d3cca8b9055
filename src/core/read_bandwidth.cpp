#include "core/read_bandwidth.h"

#include <vector>

#include "core/thread_pool.h"

namespace lowbit {

uint32_t sum_with_all_threads(std::span<const uint32_t> buf) {
  auto& pool = thread_pool();
  std::vector<uint32_t> partial(static_cast<size_t>(pool.size()));
  // Summing uint32 lets the compiler use full-width vector adds, so the loop is bound by the
  // memory system rather than by a floating-point add-latency chain.
  pool.run(partial.size(), [&](size_t t) {
    const size_t b = buf.size() * t / partial.size(), e = buf.size() * (t + 1) / partial.size();
    uint32_t sum = 0;
    for (size_t i = b; i < e; ++i) sum += buf[i];
    partial[t] = sum;
  });
  uint32_t total = 0;
  for (uint32_t p : partial) total += p;
  return total;
}

}  // namespace lowbit
