#include "core/atomic_file.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "core/error.h"

namespace lowbit {

void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write) {
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("{}: cannot create", tmp.string());
    write(out);
    out.flush();
    if (!out) fail("{}: write failed (disk full?)", tmp.string());
    out.close();
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) fail("{}: cannot rename {} into place: {}", path.string(), tmp.string(), ec.message());
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace lowbit
