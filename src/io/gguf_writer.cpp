#include "io/gguf_writer.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lowbit {

namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is little-endian; so is lowbit");

using gguf::ValueType;

// The tensor-name limit of ggml (GGML_MAX_NAME counts the terminator) and its dimension limit.
constexpr size_t kMaxTensorName = 63;
constexpr size_t kMaxDims = 4;

template <class T>
void put(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_type(std::string& out, ValueType t) {
  put(out, static_cast<uint32_t>(t));
}

void put_string(std::string& out, std::string_view s) {
  put(out, static_cast<uint64_t>(s.size()));
  out.append(s);
}

template <class T>
std::string scalar(ValueType t, T v) {
  std::string out;
  put_type(out, t);
  put(out, v);
  return out;
}

template <class T>
std::string array(ValueType t, std::span<const T> v) {
  std::string out;
  put_type(out, ValueType::kArray);
  put_type(out, t);
  put(out, static_cast<uint64_t>(v.size()));
  for (const T& x : v) put(out, x);
  return out;
}

uint64_t padded(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

}  // namespace

void GgufWriter::set_encoded(std::string_view key, std::string value) {
  if (key.empty()) fail("gguf writer: empty metadata key");
  auto it = std::find_if(kvs_.begin(), kvs_.end(), [&](const Kv& kv) { return kv.key == key; });
  if (it != kvs_.end())
    it->value = std::move(value);
  else
    kvs_.push_back({std::string(key), std::move(value)});
}

void GgufWriter::set_u8(std::string_view key, uint8_t v) {
  set_encoded(key, scalar(ValueType::kUint8, v));
}
void GgufWriter::set_i8(std::string_view key, int8_t v) {
  set_encoded(key, scalar(ValueType::kInt8, v));
}
void GgufWriter::set_u16(std::string_view key, uint16_t v) {
  set_encoded(key, scalar(ValueType::kUint16, v));
}
void GgufWriter::set_i16(std::string_view key, int16_t v) {
  set_encoded(key, scalar(ValueType::kInt16, v));
}
void GgufWriter::set_u32(std::string_view key, uint32_t v) {
  set_encoded(key, scalar(ValueType::kUint32, v));
}
void GgufWriter::set_i32(std::string_view key, int32_t v) {
  set_encoded(key, scalar(ValueType::kInt32, v));
}
void GgufWriter::set_u64(std::string_view key, uint64_t v) {
  set_encoded(key, scalar(ValueType::kUint64, v));
}
void GgufWriter::set_i64(std::string_view key, int64_t v) {
  set_encoded(key, scalar(ValueType::kInt64, v));
}
void GgufWriter::set_f32(std::string_view key, float v) {
  set_encoded(key, scalar(ValueType::kFloat32, v));
}
void GgufWriter::set_f64(std::string_view key, double v) {
  set_encoded(key, scalar(ValueType::kFloat64, v));
}
void GgufWriter::set_bool(std::string_view key, bool v) {
  set_encoded(key, scalar(ValueType::kBool, static_cast<uint8_t>(v ? 1 : 0)));
}
void GgufWriter::set_string(std::string_view key, std::string_view v) {
  std::string out;
  put_type(out, ValueType::kString);
  put_string(out, v);
  set_encoded(key, std::move(out));
}
void GgufWriter::set_array_i32(std::string_view key, std::span<const int32_t> v) {
  set_encoded(key, array(ValueType::kInt32, v));
}
void GgufWriter::set_array_u32(std::string_view key, std::span<const uint32_t> v) {
  set_encoded(key, array(ValueType::kUint32, v));
}
void GgufWriter::set_array_f32(std::string_view key, std::span<const float> v) {
  set_encoded(key, array(ValueType::kFloat32, v));
}
void GgufWriter::set_array_string(std::string_view key, std::span<const std::string> v) {
  std::string out;
  put_type(out, ValueType::kArray);
  put_type(out, ValueType::kString);
  put(out, static_cast<uint64_t>(v.size()));
  for (const std::string& s : v) put_string(out, s);
  set_encoded(key, std::move(out));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || alignment % 8 != 0)
    fail("gguf writer: general.alignment {} is not a non-zero multiple of 8", alignment);
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
}

uint64_t GgufWriter::tensor_bytes(std::string_view name, std::span<const uint64_t> dims,
                                  gguf::TensorType type) {
  const auto traits = gguf::type_traits(static_cast<uint32_t>(type));
  if (!traits)
    fail("gguf writer: tensor \"{}\": unknown type {}", name, static_cast<uint32_t>(type));
  if (dims.empty() || dims.size() > kMaxDims)
    fail("gguf writer: tensor \"{}\" has {} dimensions (1 to {})", name, dims.size(), kMaxDims);
  uint64_t elems = 1;
  for (uint64_t d : dims) {
    if (d == 0 || elems > UINT64_MAX / d)
      fail("gguf writer: tensor \"{}\" has a dimension of {}", name, d);
    elems *= d;
  }
  if (dims[0] % traits->block_elems != 0)
    fail("gguf writer: tensor \"{}\": innermost dimension {} is not a multiple of {}'s block of {}",
         name, dims[0], traits->name, traits->block_elems);
  return elems / traits->block_elems * traits->block_bytes;
}

void GgufWriter::add_tensor(std::string_view name, std::vector<uint64_t> dims,
                            gguf::TensorType type, std::vector<std::byte> data) {
  const uint64_t bytes = tensor_bytes(name, dims, type);
  if (data.size() != bytes)
    fail("gguf writer: tensor \"{}\" has {} bytes; its dims and type need {}", name, data.size(),
         bytes);
  auto held = std::make_shared<std::vector<std::byte>>(std::move(data));
  add_tensor(name, std::move(dims), type, [held](const ByteSink& emit) { emit(*held); });
}

void GgufWriter::add_tensor(std::string_view name, std::vector<uint64_t> dims,
                            gguf::TensorType type, TensorSource source) {
  if (name.empty() || name.size() > kMaxTensorName)
    fail("gguf writer: tensor name \"{}\" is empty or longer than {} bytes", name, kMaxTensorName);
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("gguf writer: duplicate tensor \"{}\"", name);
  const uint64_t bytes = tensor_bytes(name, dims, type);
  tensors_.push_back({std::string(name), std::move(dims), type, bytes, std::move(source)});
}

void GgufWriter::write(std::ostream& out) const {
  std::string head;
  put(head, gguf::kMagic);
  put(head, gguf::kVersion);
  put(head, static_cast<uint64_t>(tensors_.size()));
  put(head, static_cast<uint64_t>(kvs_.size()));
  for (const Kv& kv : kvs_) {
    put_string(head, kv.key);
    head += kv.value;
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put(head, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put(head, d);
    put(head, static_cast<uint32_t>(t.type));
    put(head, offset);
    offset = padded(offset + t.bytes, alignment_);
  }
  head.resize(padded(head.size(), alignment_), '\0');
  out.write(head.data(), static_cast<std::streamsize>(head.size()));

  const std::string zeros(alignment_, '\0');
  for (const Tensor& t : tensors_) {
    uint64_t written = 0;
    t.source([&](std::span<const std::byte> piece) {
      written += piece.size();
      if (written > t.bytes)
        fail("gguf writer: tensor \"{}\": its source yields more than {} bytes", t.name, t.bytes);
      out.write(reinterpret_cast<const char*>(piece.data()),
                static_cast<std::streamsize>(piece.size()));
    });
    if (written != t.bytes)
      fail("gguf writer: tensor \"{}\": its source yields {} bytes, not {}", t.name, written,
           t.bytes);
    out.write(zeros.data(), static_cast<std::streamsize>(padded(t.bytes, alignment_) - t.bytes));
    if (!out) fail("gguf writer: write failed at tensor \"{}\" (disk full?)", t.name);
  }
}

void GgufWriter::write(const std::filesystem::path& path) const {
  write_file_atomically(path, [&](std::ostream& out) { write(out); });
}

}  // namespace lowbit
