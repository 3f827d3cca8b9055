#pragma once
// Writes a safetensors file (the format SafetensorsFile reads): tensors are buffered, then the
// header and data are written in one pass. Metadata strings go to "__metadata__".
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace lowbit {

class SafetensorsWriter {
 public:
  void add(const std::string& name, DType dtype, std::vector<int64_t> shape,
           std::span<const std::byte> data);
  void add_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> values);
  void add_u8(const std::string& name, std::vector<int64_t> shape, std::span<const uint8_t> values);
  void add_i32(const std::string& name, std::vector<int64_t> shape,
               std::span<const int32_t> values);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  // Throws lowbit::Error naming the path if it cannot be written completely.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<std::byte> data;
  };
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace lowbit
