#pragma once
#include <filesystem>
#include <string>

namespace lowbit {

// Whole file as a string. Throws lowbit::Error if it is missing, empty, or not valid UTF-8
// (naming the byte offset).
std::string read_text_file(const std::filesystem::path& path);

}  // namespace lowbit
