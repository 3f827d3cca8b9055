#pragma once
// Writes a GGUF file (version 3, io/gguf_format.h): typed metadata in the order it was set, then
// the tensor infos, then each tensor's bytes at an offset aligned to general.alignment. Tensor
// bytes are either held (small tensors) or produced by a callback at write time, so an export of
// a large model streams one tensor at a time. The file is written atomically: a failed write (a
// callback that throws or yields the wrong byte count) leaves no file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_format.h"

namespace lowbit {

class GgufWriter {
 public:
  // Hands `emit` a tensor's bytes, in order, in any number of pieces.
  using ByteSink = std::function<void(std::span<const std::byte>)>;
  using TensorSource = std::function<void(const ByteSink& emit)>;

  // Scalar metadata. Setting a key again replaces its value (keeping its place).
  void set_u8(std::string_view key, uint8_t v);
  void set_i8(std::string_view key, int8_t v);
  void set_u16(std::string_view key, uint16_t v);
  void set_i16(std::string_view key, int16_t v);
  void set_u32(std::string_view key, uint32_t v);
  void set_i32(std::string_view key, int32_t v);
  void set_u64(std::string_view key, uint64_t v);
  void set_i64(std::string_view key, int64_t v);
  void set_f32(std::string_view key, float v);
  void set_f64(std::string_view key, double v);
  void set_bool(std::string_view key, bool v);
  void set_string(std::string_view key, std::string_view v);
  // Arrays of one element type.
  void set_array_i32(std::string_view key, std::span<const int32_t> v);
  void set_array_u32(std::string_view key, std::span<const uint32_t> v);
  void set_array_f32(std::string_view key, std::span<const float> v);
  void set_array_string(std::string_view key, std::span<const std::string> v);
  // general.alignment (uint32, a non-zero multiple of 8); 32 when never set.
  void set_alignment(uint32_t alignment);

  // A tensor: `dims` innermost (contiguous) first, as GGUF stores them; dims[0] must be a
  // multiple of the type's block size. Names are unique and at most 64 bytes.
  void add_tensor(std::string_view name, std::vector<uint64_t> dims, gguf::TensorType type,
                  std::vector<std::byte> data);
  void add_tensor(std::string_view name, std::vector<uint64_t> dims, gguf::TensorType type,
                  TensorSource source);

  // The whole file to `out` (tests), or atomically to `path`. Throws lowbit::Error naming the
  // tensor when a source yields a different byte count than its dims and type need.
  void write(std::ostream& out) const;
  void write(const std::filesystem::path& path) const;

  // Bytes of a tensor of `type` with these dims (throws for an unknown type or a bad dims[0]).
  static uint64_t tensor_bytes(std::string_view name, std::span<const uint64_t> dims,
                               gguf::TensorType type);

 private:
  struct Kv {
    std::string key;
    std::string value;  // encoded: uint32 type, then the value
  };
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    gguf::TensorType type;
    uint64_t bytes;
    TensorSource source;
  };
  void set_encoded(std::string_view key, std::string value);

  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = gguf::kDefaultAlignment;
};

}  // namespace lowbit
