#include "core/atomic_file.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "core/signal_cleanup.h"

namespace lowbit {

void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write) {
  auto tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  const RemoveOnSignal on_signal(tmp);  // an interrupted write leaves nothing either
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

void check_not_an_input(const std::filesystem::path& out,
                        std::span<const std::filesystem::path> inputs, std::string_view flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(out, ec)) return;  // a new file replaces nothing
  if (!fs::is_regular_file(out, ec))
    fail("{} {}: exists and is not a regular file; not overwriting", flag, out.string());
  for (const fs::path& in : inputs) {
    if (fs::equivalent(out, in, ec))
      fail("{} {}: is an input of this command ({}); not overwriting", flag, out.string(),
           in.string());
    // A checkpoint folder's own files (what loading it reads).
    const std::string name = out.filename().string();
    const bool checkpoint_file = name == "config.json" || name.starts_with("tokenizer") ||
                                 name.starts_with("tok") || name.ends_with(".safetensors") ||
                                 name == "model.safetensors.index.json";
    const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    if (checkpoint_file && fs::is_directory(in, ec) && fs::equivalent(dir, in, ec))
      fail("{} {}: is a file of the input folder {}; not overwriting", flag, out.string(),
           in.string());
  }
}

}  // namespace lowbit
