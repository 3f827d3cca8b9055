#include "core/memory_budget.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "core/error.h"

namespace lowbit {

namespace {

// The first number in a small /proc or /sys file, or nullopt ("max" or no file).
std::optional<uint64_t> read_number(const char* path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word.empty() || word.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(word);
}

std::optional<uint64_t> mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return std::nullopt;
}

}  // namespace

uint64_t parse_byte_size(std::string_view text, std::string_view what) {
  const std::string s(text);
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(s, &end);
  } catch (const std::exception&) {
    fail("{}: \"{}\" is not a size (bytes, or a number with K, M, G or T)", what, s);
  }
  double scale = 1;
  const std::string suffix = s.substr(end);
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "MiB")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (suffix == "T" || suffix == "TiB")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!suffix.empty())
    fail("{}: \"{}\" has an unknown unit \"{}\" (K, M, G or T)", what, s, suffix);
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes < 0 || bytes >= 1.8e19)
    fail("{}: \"{}\" is out of range", what, s);
  return static_cast<uint64_t>(bytes);
}

MemoryLimit available_memory() {
  if (const char* env = std::getenv("LOWBIT_MEMORY_LIMIT"); env && *env)
    return {parse_byte_size(env, "LOWBIT_MEMORY_LIMIT"), "LOWBIT_MEMORY_LIMIT"};
  MemoryLimit limit;
  if (const auto avail = mem_available()) limit = {*avail, "MemAvailable"};
  // cgroup v2, then v1: the limit less what the group already uses.
  const auto cgroup = [&](const char* max_file, const char* used_file, const char* name) {
    const auto max = read_number(max_file);
    if (!max || *max >= (uint64_t{1} << 60)) return;  // "max" or v1's "unlimited"
    const uint64_t used = read_number(used_file).value_or(0);
    const uint64_t left = *max > used ? *max - used : 0;
    if (left < limit.bytes) limit = {left, name};
  };
  cgroup("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "cgroup memory.max");
  cgroup("/sys/fs/cgroup/memory/memory.limit_in_bytes",
         "/sys/fs/cgroup/memory/memory.usage_in_bytes", "cgroup memory.limit_in_bytes");
  return limit;
}

std::string format_bytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  return fmt::format("{:.1f} KiB", b / 1024.0);
}

void require_memory(uint64_t need, std::string_view what, std::string_view way_out) {
  const MemoryLimit limit = available_memory();
  if (need <= limit.bytes) return;
  fail("{} needs about {}, more than the {} that {} allows; {}", what, format_bytes(need),
       format_bytes(limit.bytes), limit.source, way_out);
}

}  // namespace lowbit
