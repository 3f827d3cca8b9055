#include "io/safetensors_writer.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lowbit {

void SafetensorsWriter::add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                            std::span<const std::byte> data) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (static_cast<size_t>(n) * dtype_size(dtype) != data.size())
    fail("safetensors writer: tensor \"{}\" has {} bytes for {} values of {}", name, data.size(), n,
         dtype_name(dtype));
  if (!tensors_.emplace(name, Entry{dtype, std::move(shape), {data.begin(), data.end()}}).second)
    fail("safetensors writer: duplicate tensor \"{}\"", name);
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<int64_t> shape,
                                std::span<const float> values) {
  add(name, DType::F32, std::move(shape), std::as_bytes(values));
}

void SafetensorsWriter::add_u8(const std::string& name, std::vector<int64_t> shape,
                               std::span<const uint8_t> values) {
  add(name, DType::U8, std::move(shape), std::as_bytes(values));
}

void SafetensorsWriter::add_i32(const std::string& name, std::vector<int64_t> shape,
                                std::span<const int32_t> values) {
  add(name, DType::I32, std::move(shape), std::as_bytes(values));
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const auto& [name, e] : tensors_) {
    header[name] = {{"dtype", dtype_name(e.dtype)},
                    {"shape", e.shape},
                    {"data_offsets", {offset, offset + e.data.size()}}};
    offset += e.data.size();
  }
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot create", path.string());
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  out.write(len, 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& [name, e] : tensors_)
    out.write(reinterpret_cast<const char*>(e.data.data()),
              static_cast<std::streamsize>(e.data.size()));
  out.flush();
  if (!out) fail("{}: write failed (disk full?)", path.string());
}

}  // namespace lowbit
