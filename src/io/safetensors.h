#pragma once
// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header mapping
// tensor names to {dtype, shape, data_offsets}, then raw little-endian data. The file is memory
// mapped; every offset, size and dtype is validated when the file is opened, so later accesses
// cannot read out of bounds.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace lowbit {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;  // view into the mapping
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& tensor(const std::string& name) const;
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // The header's "__metadata__" strings (empty when there are none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Converts a floating-point tensor (F32, F16, BF16) to fp32.
  std::vector<float> to_f32(const std::string& name) const;

 private:
  MappedFile file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Converts raw little-endian F32/F16/BF16 data to fp32; throws for other dtypes.
void convert_to_f32(const TensorInfo& info, std::span<float> out, const std::string& where);

}  // namespace lowbit
