#pragma once
// The memory guard: before a command allocates a model, it compares what it will need with what
// the machine allows and fails at once with one line naming both and the way out, instead of
// being killed by the kernel's OOM killer part-way (no message, possibly a partial output).
//
// What the machine allows: the smaller of /proc/meminfo's MemAvailable and the cgroup's limit
// minus its usage (cgroup v2 memory.max / memory.current, or v1 memory.limit_in_bytes /
// memory.usage_in_bytes). LOWBIT_MEMORY_LIMIT (bytes, or with a K/M/G/T suffix) replaces the
// detected value: tests use it to exercise the refusal, users to leave room for other work.
#include <cstdint>
#include <string>
#include <string_view>

namespace lowbit {

struct MemoryLimit {
  uint64_t bytes = UINT64_MAX;  // UINT64_MAX: nothing detected (no /proc, no cgroup limit)
  std::string source;           // "MemAvailable", "cgroup memory.max", "LOWBIT_MEMORY_LIMIT"
};

MemoryLimit available_memory();

// "8G", "512M", "1.5G", "4096" -> bytes; throws lowbit::Error naming `what` on anything else.
uint64_t parse_byte_size(std::string_view text, std::string_view what);

// "6.3 GiB", "512.0 MiB".
std::string format_bytes(uint64_t bytes);

// Fails with "<what> needs about <need>, more than the <limit> <source> allows; <way_out>" when
// need exceeds what is available.
void require_memory(uint64_t need, std::string_view what, std::string_view way_out);

}  // namespace lowbit
