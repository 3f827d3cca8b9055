#include "text/text_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/utf8.h"

namespace lowbit {

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail("{}: no such file", path.string());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.empty()) fail("{}: file is empty", path.string());
  if (const size_t bad = find_invalid_utf8(text); bad != std::string::npos)
    fail("{}: invalid UTF-8 at byte offset {}", path.string(), bad);
  return text;
}

}  // namespace lowbit
