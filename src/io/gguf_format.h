#pragma once
// The GGUF container's constants, from the public specification (ggml's docs/gguf.md, version 3):
//   header: magic "GGUF", uint32 version, uint64 tensor_count, uint64 metadata_kv_count;
//   metadata: gguf_string key, uint32 value type, value (arrays: uint32 element type, uint64 n,
//   ...); tensor infos: gguf_string name, uint32 n_dims, uint64 dims[n_dims] (innermost first),
//                 uint32 ggml_type, uint64 offset (from the start of the data section, aligned);
//   data section: starts at the first multiple of general.alignment (default 32) after the infos.
// Strings are uint64 length + bytes (no terminator); everything is little-endian.
// Shared by the reader (io/gguf_reader) and the writer (io/gguf_writer).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lowbit::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
inline constexpr uint32_t kVersion = 3;
inline constexpr uint32_t kDefaultAlignment = 32;

// Metadata value types (gguf_metadata_value_type).
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// Tensor element types (ggml_type). Only the ones lowbit reads or writes are named; the reader
// refuses the others by number.
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ6_K = 14,
  kBF16 = 30,
};

// How a tensor type stores its elements: `block_elems` elements in `block_bytes` bytes.
struct TypeTraits {
  std::string_view name;
  uint32_t block_elems;
  uint32_t block_bytes;
};

// Layouts (ggml-common.h):
//   Q4_0: fp16 d; 16 bytes of nibbles, element j in the low nibble of byte j, element j+16 in the
//         high nibble; value (q - 8) * d.
//   Q4_1: fp16 d, fp16 m; nibbles as Q4_0; value q * d + m.
//   Q8_0: fp16 d; 32 int8; value q * d.
//   Q4_K: super-block of 256: fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins for 8 sub-blocks
//         of 32, 128 bytes of nibbles.
//   Q6_K: super-block of 256: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 int8 scales, fp16 d.
inline std::optional<TypeTraits> type_traits(uint32_t type) {
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      return TypeTraits{"F32", 1, 4};
    case TensorType::kF16:
      return TypeTraits{"F16", 1, 2};
    case TensorType::kBF16:
      return TypeTraits{"BF16", 1, 2};
    case TensorType::kQ4_0:
      return TypeTraits{"Q4_0", 32, 18};
    case TensorType::kQ4_1:
      return TypeTraits{"Q4_1", 32, 20};
    case TensorType::kQ8_0:
      return TypeTraits{"Q8_0", 32, 34};
    case TensorType::kQ4_K:
      return TypeTraits{"Q4_K", 256, 144};
    case TensorType::kQ6_K:
      return TypeTraits{"Q6_K", 256, 210};
  }
  return std::nullopt;
}

}  // namespace lowbit::gguf
