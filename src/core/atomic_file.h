#pragma once
#include <filesystem>
#include <functional>
#include <ostream>
#include <span>
#include <string_view>

namespace lowbit {

// Writes a file through `write` into a temporary sibling of `path` and renames it into place, so
// a reader never sees a partial file and a failed or killed write leaves nothing under `path`.
// Throws lowbit::Error naming the file when it cannot be created or written (e.g. disk full);
// exceptions from `write` propagate after the temporary file is removed.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

// Fails, naming `flag`, if `out` exists and is one of `inputs` (the same file by any path:
// fs::equivalent), or a checkpoint file (config.json, tokenizer*, *.safetensors) of an input
// folder, or is not a regular file: an output never replaces what the command reads. Call before
// any work.
void check_not_an_input(const std::filesystem::path& out,
                        std::span<const std::filesystem::path> inputs, std::string_view flag);

}  // namespace lowbit
