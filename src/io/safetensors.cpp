#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/float16.h"
#include "core/json.h"
#include "core/limits.h"

namespace lowbit {
namespace {

struct DTypeEntry {
  const char* name;
  DType dtype;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {"F32", DType::F32, 4},   {"F16", DType::F16, 2}, {"BF16", DType::BF16, 2},
    {"F64", DType::F64, 8},   {"I64", DType::I64, 8}, {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},   {"I8", DType::I8, 1},   {"U8", DType::U8, 1},
    {"BOOL", DType::BOOL, 1},
};

DType parse_dtype(const std::string& s, const std::string& where) {
  for (const auto& e : kDTypes)
    if (s == e.name) return e.dtype;
  fail("{}: unknown dtype \"{}\"", where, s);
}

uint64_t read_le_u64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t as_u64(const Json& j, const std::string& where) {
  if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0))
    fail("{}: expected a non-negative integer, got {}", where, j.dump());
  return j.get<uint64_t>();
}

}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  return "?";
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const std::string file = path.string();
  const auto bytes = file_.bytes();
  if (bytes.size() < 8) fail("{}: truncated safetensors file ({} bytes)", file, bytes.size());
  const uint64_t header_len = read_le_u64(bytes.data());
  if (header_len > bytes.size() - 8)
    fail("{}: header length {} exceeds the file size {}", file, header_len, bytes.size());

  // As strict as the reference implementation (huggingface/safetensors, Metadata::validate):
  // the header starts with '{' (trailing spaces pad it), the tensors' byte ranges, in offset
  // order, tile the data section exactly from 0 to its end, each range holds exactly its shape,
  // and __metadata__ maps strings to strings. Duplicate names are rejected by the JSON reader.
  if (header_len > limits::kMaxHeaderBytes)
    fail("{}: header length {} exceeds the limit of {} bytes", file, header_len,
         limits::kMaxHeaderBytes);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  if (text.empty() || text.front() != '{')
    fail("{}: header does not start with '{{' (not a safetensors file?)", file);
  const Json header = parse_json(text, file + ": header");
  if (!header.is_object()) fail("{}: header is not a JSON object", file);
  if (header.size() > limits::kMaxTensors)
    fail("{}: {} tensors, more than the limit of {}", file, header.size(), limits::kMaxTensors);

  const auto data = bytes.subspan(8 + header_len);
  struct Range {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ is not an object", file);
      for (const auto& [key, value] : entry.items())
        if (!value.is_string())
          fail("{}: __metadata__[\"{}\"] is not a string: {}", file, key, value.dump());
        else
          metadata_[key] = value.get<std::string>();
      continue;
    }
    const std::string where = file + ": tensor \"" + name + "\"";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      fail("{}: expected an object with dtype, shape and data_offsets", where);
    if (!entry["dtype"].is_string()) fail("{}: dtype is not a string", where);
    TensorInfo info;
    info.name = name;
    info.dtype = parse_dtype(entry["dtype"].get<std::string>(), where);
    if (!entry["shape"].is_array()) fail("{}: shape is not an array", where);
    if (entry["shape"].size() > limits::kMaxRank)
      fail("{}: shape has {} dimensions, more than {}", where, entry["shape"].size(),
           limits::kMaxRank);
    uint64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      const uint64_t dim = as_u64(d, where + " shape");
      if (dim != 0 && numel > std::numeric_limits<uint32_t>::max() * uint64_t{16} / dim)
        fail("{}: shape {} is too large", where, entry["shape"].dump());
      numel *= dim;
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2)
      fail("{}: data_offsets must be [begin, end]", where);
    const uint64_t begin = as_u64(offsets[0], where + " data_offsets");
    const uint64_t end = as_u64(offsets[1], where + " data_offsets");
    if (begin > end || end > data.size())
      fail("{}: data_offsets [{}, {}] out of range (data section is {} bytes)", where, begin, end,
           data.size());
    if (end - begin != numel * dtype_size(info.dtype))
      fail("{}: data_offsets span {} bytes but shape {} of {} needs {}", where, end - begin,
           entry["shape"].dump(), dtype_name(info.dtype), numel * dtype_size(info.dtype));
    info.data = data.subspan(begin, end - begin);
    auto [it, inserted] = tensors_.emplace(name, std::move(info));
    ranges.push_back({begin, end, &it->first});
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const Range& r : ranges) {
    if (r.begin < covered)
      fail("{}: tensor \"{}\" at data offset {} overlaps the tensor before it (which ends at {})",
           file, *r.name, r.begin, covered);
    if (r.begin > covered)
      fail("{}: {} unused bytes before tensor \"{}\" at data offset {}", file, r.begin - covered,
           *r.name, r.begin);
    covered = r.end;
  }
  if (covered != data.size())
    fail("{}: the tensors cover {} bytes of the {}-byte data section", file, covered, data.size());
}

const TensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("{}: missing tensor \"{}\"", path().string(), name);
  return it->second;
}

void convert_to_f32(const TensorInfo& info, std::span<float> out, const std::string& where) {
  const size_t n = static_cast<size_t>(info.numel());
  if (out.size() != n) fail("{}: internal size mismatch converting \"{}\"", where, info.name);
  const std::byte* src = info.data.data();
  auto u16 = [&](size_t i) {
    return static_cast<uint16_t>(static_cast<uint16_t>(src[2 * i]) |
                                 (static_cast<uint16_t>(src[2 * i + 1]) << 8));
  };
  switch (info.dtype) {
    case DType::F32:
      std::memcpy(out.data(), src, n * sizeof(float));
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(u16(i));
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) out[i] = f16_to_f32(u16(i));
      return;
    default:
      fail("{}: tensor \"{}\" has dtype {}, expected F32, F16 or BF16", where, info.name,
           dtype_name(info.dtype));
  }
}

std::vector<float> SafetensorsFile::to_f32(const std::string& name) const {
  const auto& info = tensor(name);
  std::vector<float> out(static_cast<size_t>(info.numel()));
  convert_to_f32(info, out, path().string());
  return out;
}

}  // namespace lowbit
