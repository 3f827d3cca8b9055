#pragma once
#include <filesystem>
#include <functional>
#include <ostream>

namespace lowbit {

// Writes a file through `write` into a temporary sibling of `path` and renames it into place, so
// a reader never sees a partial file and a failed or killed write leaves nothing under `path`.
// Throws lowbit::Error naming the file when it cannot be created or written (e.g. disk full);
// exceptions from `write` propagate after the temporary file is removed.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

}  // namespace lowbit
