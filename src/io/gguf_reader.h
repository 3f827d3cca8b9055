#pragma once
// Reader for GGUF files (llama.cpp's model container, io/gguf_format.h): header, metadata of every
// value type (nested arrays included), tensor infos and the data section. The file is memory
// mapped and tensor data stays in the mapping; everything is validated when the file is opened
// (counts and lengths against the bytes left, types, shapes, alignment, offsets inside the data
// section, no two tensors overlapping), so later accesses cannot read out of bounds.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "io/gguf_format.h"

namespace lowbit {

// One metadata value. Integers keep their sign class (uint for kUint*, sint for kInt*); floats
// are widened to double. Arrays keep their elements compactly (a crafted file must not turn a few
// bytes per element into a hundred): numbers and bools as stored (a view into the mapping),
// strings as strings, nested arrays as values; at(i) reads any element as a value.
struct GgufValue {
  gguf::ValueType type = gguf::ValueType::kUint8;
  uint64_t uint = 0;
  int64_t sint = 0;
  double real = 0;
  bool boolean = false;
  std::string string;
  // Arrays.
  gguf::ValueType element_type = gguf::ValueType::kUint8;
  uint64_t count = 0;
  std::span<const std::byte> raw;    // numbers and bools, count x their size, little-endian
  std::vector<std::string> strings;  // strings
  std::vector<GgufValue> arrays;     // arrays

  bool is_integer() const;
  bool is_float() const {
    return type == gguf::ValueType::kFloat32 || type == gguf::ValueType::kFloat64;
  }
  bool is_array_of(gguf::ValueType t) const {
    return type == gguf::ValueType::kArray && element_type == t;
  }
  // Element i of an array (i < count) as a value of element_type.
  GgufValue at(size_t i) const;
};

const char* gguf_value_type_name(gguf::ValueType type);  // "uint32", "string", "array", ...

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;        // ggml order: dims[0] is the innermost (contiguous) dimension
  uint32_t type = 0;                // ggml_type (gguf::TensorType when lowbit knows it)
  uint64_t offset = 0;              // from the start of the data section
  std::span<const std::byte> data;  // view into the mapping
  int64_t elements() const;
  // The type's name ("Q4_0"); valid for every tensor of an opened file (unknown types fail).
  std::string_view type_name() const;
};

class GgufFile {
 public:
  // Maps and validates the file; throws lowbit::Error naming the file, field and value.
  explicit GgufFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  size_t data_offset() const { return data_offset_; }  // start of the data section in the file
  size_t file_bytes() const { return file_.size(); }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;
  // Typed metadata lookups: nullopt when the key is absent; an Error naming the file, key and
  // value when it has another type or (integers) lies outside [min, max].
  std::optional<int64_t> integer(const std::string& key, int64_t min, int64_t max) const;
  std::optional<double> real(const std::string& key) const;  // float32/64 (or an integer)
  std::optional<bool> boolean(const std::string& key) const;
  std::optional<std::string> string(const std::string& key) const;
  // An array of `element` type; null when absent.
  const GgufValue* array(const std::string& key, gguf::ValueType element) const;
  // Tensors in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(const std::string& name) const;
  const GgufTensor& tensor(const std::string& name) const;  // fails naming the file when missing

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint32_t alignment_ = gguf::kDefaultAlignment;
  size_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> index_;  // name -> position in tensors_
};

// Whether the file starts with the GGUF magic (cheap: reads 4 bytes).
bool is_gguf_file(const std::filesystem::path& path);

}  // namespace lowbit
