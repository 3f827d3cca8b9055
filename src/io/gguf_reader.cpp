#include "io/gguf_reader.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/limits.h"

namespace lowbit {
namespace fs = std::filesystem;
using gguf::ValueType;

namespace {

// Smallest encodings, to bound counts by the bytes left before anything is allocated.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, uint8 value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, one dim

size_t value_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // at least its length
      return 8;
    case ValueType::kArray:  // at least its element type and count
      return 12;
  }
  return 0;
}

bool known_value_type(uint32_t t) {
  return t <= static_cast<uint32_t>(ValueType::kFloat64);
}

// Bounds-checked little-endian reads over the mapped bytes; errors name the file and `field`.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, std::string file) : b_(bytes), file_(std::move(file)) {}

  size_t pos() const { return pos_; }
  uint64_t left() const { return b_.size() - pos_; }
  const std::string& file() const { return file_; }

  template <class T>
  T read(const std::string& field) {
    if (left() < sizeof(T))
      fail("{}: truncated: {} needs {} bytes at offset {}, the file has {}", file_, field,
           sizeof(T), pos_, b_.size());
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  // The next n bytes (the caller checked that they are there).
  std::span<const std::byte> bytes(size_t n) {
    const auto out = b_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  std::string string(const std::string& field, uint64_t max_len) {
    const auto n = read<uint64_t>(field + " length");
    if (n > left())
      fail("{}: {} length {} at offset {} runs past the end of the file ({} bytes)", file_, field,
           n, pos_ - 8, b_.size());
    if (n > max_len)
      fail("{}: {} length {} exceeds the limit of {} bytes", file_, field, n, max_len);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }

 private:
  std::span<const std::byte> b_;
  std::string file_;
  size_t pos_ = 0;
};

GgufValue read_value(Cursor& c, ValueType type, const std::string& field, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case ValueType::kUint8:
      v.uint = c.read<uint8_t>(field);
      break;
    case ValueType::kUint16:
      v.uint = c.read<uint16_t>(field);
      break;
    case ValueType::kUint32:
      v.uint = c.read<uint32_t>(field);
      break;
    case ValueType::kUint64:
      v.uint = c.read<uint64_t>(field);
      break;
    case ValueType::kInt8:
      v.sint = c.read<int8_t>(field);
      break;
    case ValueType::kInt16:
      v.sint = c.read<int16_t>(field);
      break;
    case ValueType::kInt32:
      v.sint = c.read<int32_t>(field);
      break;
    case ValueType::kInt64:
      v.sint = c.read<int64_t>(field);
      break;
    case ValueType::kFloat32:
      v.real = c.read<float>(field);
      break;
    case ValueType::kFloat64:
      v.real = c.read<double>(field);
      break;
    case ValueType::kBool: {
      const auto b = c.read<uint8_t>(field);
      if (b > 1) fail("{}: {} is a bool stored as {} (expected 0 or 1)", c.file(), field, b);
      v.boolean = b == 1;
      break;
    }
    case ValueType::kString:
      v.string = c.string(field, std::numeric_limits<uint64_t>::max());
      break;
    case ValueType::kArray: {
      if (depth >= limits::kMaxGgufArrayDepth)
        fail("{}: {} nests arrays deeper than {} levels", c.file(), field,
             limits::kMaxGgufArrayDepth);
      const auto et = c.read<uint32_t>(field + " element type");
      if (!known_value_type(et)) fail("{}: {} has unknown element type {}", c.file(), field, et);
      v.element_type = static_cast<ValueType>(et);
      const auto n = c.read<uint64_t>(field + " count");
      if (n > c.left() / value_size(v.element_type))
        fail("{}: {} count {} at offset {} does not fit in the {} bytes left of the file", c.file(),
             field, n, c.pos() - 8, c.left());
      v.count = n;
      if (v.element_type == ValueType::kString) {
        v.strings.reserve(static_cast<size_t>(n));
        for (uint64_t i = 0; i < n; ++i)
          v.strings.push_back(
              c.string(fmt::format("{}[{}]", field, i), std::numeric_limits<uint64_t>::max()));
      } else if (v.element_type == ValueType::kArray) {
        v.arrays.reserve(static_cast<size_t>(n));
        for (uint64_t i = 0; i < n; ++i)
          v.arrays.push_back(
              read_value(c, ValueType::kArray, fmt::format("{}[{}]", field, i), depth + 1));
      } else {
        const size_t size = value_size(v.element_type);
        v.raw = c.bytes(static_cast<size_t>(n) * size);
        if (v.element_type == ValueType::kBool)
          for (uint64_t i = 0; i < n; ++i)
            if (static_cast<uint8_t>(v.raw[i]) > 1)
              fail("{}: {}[{}] is a bool stored as {} (expected 0 or 1)", c.file(), field, i,
                   static_cast<uint8_t>(v.raw[i]));
      }
      break;
    }
  }
  return v;
}

uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

}  // namespace

bool GgufValue::is_integer() const {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

const char* gguf_value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
      return "uint8";
    case ValueType::kInt8:
      return "int8";
    case ValueType::kUint16:
      return "uint16";
    case ValueType::kInt16:
      return "int16";
    case ValueType::kUint32:
      return "uint32";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kFloat64:
      return "float64";
  }
  return "?";
}

GgufValue GgufValue::at(size_t i) const {
  if (type != ValueType::kArray || i >= count)
    fail("GGUF: element {} of a {} with {} elements", i, gguf_value_type_name(type), count);
  if (element_type == ValueType::kString) {
    GgufValue v;
    v.type = ValueType::kString;
    v.string = strings[i];
    return v;
  }
  if (element_type == ValueType::kArray) return arrays[i];
  const size_t size = value_size(element_type);
  Cursor c(raw.subspan(i * size, size), "GGUF array");
  return read_value(c, element_type, "element", 0);
}

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (const int64_t d : dims) n *= d;  // checked against overflow when the file was opened
  return n;
}

std::string_view GgufTensor::type_name() const {
  const auto t = gguf::type_traits(type);
  return t ? t->name : std::string_view("?");
}

GgufFile::GgufFile(const fs::path& path) : file_(path) {
  const std::string f = path.string();
  Cursor c(file_.bytes(), f);
  if (file_.size() < 4) fail("{}: truncated: {} bytes, not a GGUF file", f, file_.size());
  const auto magic = c.read<uint32_t>("magic");
  if (magic != gguf::kMagic)
    fail("{}: not a GGUF file (magic 0x{:08x}, expected \"GGUF\")", f, magic);
  version_ = c.read<uint32_t>("version");
  // Version 1 stored counts and lengths as uint32; 2 and 3 differ only in that 3 may be
  // big-endian, which a little-endian file's version field tells apart (it would read 2^24 x 3).
  if (version_ != 2 && version_ != 3)
    fail("{}: GGUF version {} is not supported (supported: 2, 3)", f, version_);
  const auto n_tensors = c.read<uint64_t>("tensor_count");
  const auto n_kv = c.read<uint64_t>("metadata_kv_count");
  if (n_kv > limits::kMaxGgufMetadataEntries || n_kv > c.left() / kMinKvBytes)
    fail("{}: metadata_kv_count {} is impossible for a file of {} bytes (limit {})", f, n_kv,
         file_.size(), limits::kMaxGgufMetadataEntries);
  if (n_tensors > limits::kMaxTensors || n_tensors > c.left() / kMinTensorInfoBytes)
    fail("{}: tensor_count {} is impossible for a file of {} bytes (limit {})", f, n_tensors,
         file_.size(), limits::kMaxTensors);

  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string key = c.string(fmt::format("metadata key {}", i), 1 << 16);
    const std::string field = fmt::format("metadata \"{}\"", key);
    const auto t = c.read<uint32_t>(field + " type");
    if (!known_value_type(t)) fail("{}: {} has unknown value type {}", f, field, t);
    GgufValue v = read_value(c, static_cast<ValueType>(t), field, 0);
    if (!metadata_.emplace(key, std::move(v)).second)
      fail("{}: duplicate metadata key \"{}\"", f, key);
  }
  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != ValueType::kUint32)
      fail("{}: general.alignment is {}, expected uint32", f, gguf_value_type_name(a->type));
    if (a->uint == 0 || (a->uint & (a->uint - 1)) != 0)
      fail("{}: general.alignment {} is not a power of two", f, a->uint);
    alignment_ = static_cast<uint32_t>(a->uint);
  }

  tensors_.reserve(static_cast<size_t>(n_tensors));
  const uint64_t data_limit = file_.size();  // no tensor is larger than the file
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.string(fmt::format("tensor {} name", i), limits::kMaxGgufTensorName);
    const std::string field = fmt::format("tensor \"{}\"", t.name);
    const auto n_dims = c.read<uint32_t>(field + " n_dims");
    if (n_dims == 0 || n_dims > limits::kMaxGgufDims)
      fail("{}: {} has {} dimensions (expected 1 to {})", f, field, n_dims, limits::kMaxGgufDims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = c.read<uint64_t>(fmt::format("{} dims[{}]", field, d));
      if (dim == 0 || dim > static_cast<uint64_t>(limits::kMaxDimension))
        fail("{}: {} dims[{}] = {} is out of range [1, {}]", f, field, d, dim,
             limits::kMaxDimension);
      if (elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim)
        fail("{}: {} dims [{}] have more elements than fit in 64 bits", f, field,
             fmt::join(t.dims, ", "), dim);
      elements *= dim;
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    t.type = c.read<uint32_t>(field + " type");
    const auto traits = gguf::type_traits(t.type);
    if (!traits)
      fail(
          "{}: {} has tensor type {}, which lowbit does not read (supported: F32, F16, BF16, "
          "Q4_0, Q4_1, Q8_0, Q4_K, Q6_K)",
          f, field, t.type);
    if (static_cast<uint64_t>(t.dims[0]) % traits->block_elems != 0)
      fail("{}: {} has {} values per row, not a multiple of the {} block of {}", f, field,
           t.dims[0], traits->name, traits->block_elems);
    t.offset = c.read<uint64_t>(field + " offset");
    if (t.offset % alignment_ != 0)
      fail("{}: {} offset {} is not a multiple of the alignment {}", f, field, t.offset,
           alignment_);
    const uint64_t blocks = elements / traits->block_elems;
    if (blocks > data_limit / traits->block_bytes)
      fail("{}: {} of {} x [{}] is larger than the file ({} bytes)", f, field, traits->name,
           fmt::join(t.dims, ", "), file_.size());
    const uint64_t bytes = blocks * traits->block_bytes;
    t.data = {static_cast<const std::byte*>(nullptr), static_cast<size_t>(bytes)};  // placed below
    if (!index_.emplace(t.name, tensors_.size()).second)
      fail("{}: duplicate tensor name \"{}\"", f, t.name);
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment; every tensor lies inside it
  // (offsets are relative to it, so none can reach back into the header) and within the file.
  data_offset_ = static_cast<size_t>(align_up(c.pos(), alignment_));
  const uint64_t data_bytes = file_.size() > data_offset_ ? file_.size() - data_offset_ : 0;
  std::vector<std::pair<uint64_t, size_t>> by_offset;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensor& t = tensors_[i];
    const uint64_t bytes = t.data.size();
    if (t.offset > data_bytes || bytes > data_bytes - t.offset)
      fail(
          "{}: tensor \"{}\" bytes [{}, {}) of the data section run past its end ({} bytes, "
          "from file offset {})",
          f, t.name, t.offset, t.offset + bytes, data_bytes, data_offset_);
    t.data = file_.bytes().subspan(data_offset_ + static_cast<size_t>(t.offset),
                                   static_cast<size_t>(bytes));
    by_offset.emplace_back(t.offset, i);
  }
  std::sort(by_offset.begin(), by_offset.end());
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor& prev = tensors_[by_offset[i - 1].second];
    const GgufTensor& next = tensors_[by_offset[i].second];
    if (prev.offset + prev.data.size() > next.offset)
      fail("{}: tensors \"{}\" (bytes [{}, {})) and \"{}\" (from {}) overlap", f, prev.name,
           prev.offset, prev.offset + prev.data.size(), next.name, next.offset);
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  const auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

std::optional<int64_t> GgufFile::integer(const std::string& key, int64_t min, int64_t max) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  const std::string f = path().string();
  if (!v->is_integer())
    fail("{}: metadata {} is {}, expected an integer", f, key, gguf_value_type_name(v->type));
  const bool is_unsigned = v->type == ValueType::kUint8 || v->type == ValueType::kUint16 ||
                           v->type == ValueType::kUint32 || v->type == ValueType::kUint64;
  if (is_unsigned ? v->uint > static_cast<uint64_t>(max) : (v->sint < min || v->sint > max))
    fail("{}: metadata {} = {} is out of range [{}, {}]", f, key,
         is_unsigned ? std::to_string(v->uint) : std::to_string(v->sint), min, max);
  const int64_t x = is_unsigned ? static_cast<int64_t>(v->uint) : v->sint;
  if (x < min) fail("{}: metadata {} = {} is out of range [{}, {}]", f, key, x, min, max);
  return x;
}

std::optional<double> GgufFile::real(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_float()) return v->real;
  if (v->is_integer())
    return static_cast<double>(
        *integer(key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
  fail("{}: metadata {} is {}, expected a number", path().string(), key,
       gguf_value_type_name(v->type));
}

std::optional<bool> GgufFile::boolean(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type != ValueType::kBool)
    fail("{}: metadata {} is {}, expected bool", path().string(), key,
         gguf_value_type_name(v->type));
  return v->boolean;
}

std::optional<std::string> GgufFile::string(const std::string& key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (v->type != ValueType::kString)
    fail("{}: metadata {} is {}, expected string", path().string(), key,
         gguf_value_type_name(v->type));
  return v->string;
}

const GgufValue* GgufFile::array(const std::string& key, ValueType element) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return nullptr;
  if (!v->is_array_of(element))
    fail("{}: metadata {} is {}{}, expected an array of {}", path().string(), key,
         gguf_value_type_name(v->type),
         v->type == ValueType::kArray ? std::string(" of ") + gguf_value_type_name(v->element_type)
                                      : std::string(),
         gguf_value_type_name(element));
  return v;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  if (t == nullptr) fail("{}: missing tensor \"{}\"", path().string(), name);
  return *t;
}

bool is_gguf_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace lowbit
