#pragma once
// The memory read bandwidth probe: every thread of the pool sums its share of a buffer, a
// streaming read of all of it — the ceiling of decode, which streams every weight once per token.
// `lowbit bench --bandwidth-mib` and BM_MemoryReadBandwidth (bench/bench_model.cpp) both time it.
#include <cstdint>
#include <span>

namespace lowbit {

// The sum of buf (wrapping), read with all threads; returned so the reads are not optimized away.
uint32_t sum_with_all_threads(std::span<const uint32_t> buf);

}  // namespace lowbit
