#include "text/text_file.h"

#include <sys/stat.h>

#include <fstream>
#include <vector>

#include "core/error.h"
#include "core/limits.h"
#include "core/utf8.h"

namespace lowbit {

std::string read_text_file(const std::filesystem::path& path) {
  // A regular file, or a pipe read as a stream (`-f <(zcat wiki.gz)`, /dev/stdin); never a
  // folder or a device. At most limits::kMaxTextBytes.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: no such file", path.string());
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    fail("{}: not a regular file or a pipe", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::string text;
  std::vector<char> chunk(size_t{1} << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<size_t>(in.gcount());
    if (text.size() + got > limits::kMaxTextBytes)
      fail("{}: longer than the {} bytes a text input may have", path.string(),
           limits::kMaxTextBytes);
    text.append(chunk.data(), got);
  }
  if (in.bad()) fail("{}: read failed", path.string());
  if (text.empty()) fail("{}: file is empty", path.string());
  if (const size_t bad = find_invalid_utf8(text); bad != std::string::npos)
    fail("{}: invalid UTF-8 at byte offset {}", path.string(), bad);
  return text;
}

}  // namespace lowbit
