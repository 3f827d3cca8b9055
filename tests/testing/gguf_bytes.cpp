#include "testing/gguf_bytes.h"

#include <algorithm>
#include <cstring>

namespace lowbit::testing {

std::string GgufBytes::le32(uint32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

std::string GgufBytes::le64(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

std::string GgufBytes::gstr(const std::string& s) {
  return le64(s.size()) + s;
}

void GgufBytes::raw_kv(const std::string& key, const std::string& typed_value) {
  kv_ += gstr(key) + typed_value;
  ++n_kv_;
}

void GgufBytes::u32(const std::string& key, uint32_t v) {
  raw_kv(key, le32(4) + le32(v));
}
void GgufBytes::i32(const std::string& key, int32_t v) {
  raw_kv(key, le32(5) + le32(static_cast<uint32_t>(v)));
}
void GgufBytes::f32(const std::string& key, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  raw_kv(key, le32(6) + le32(bits));
}
void GgufBytes::boolean(const std::string& key, bool v) {
  raw_kv(key, le32(7) + std::string(1, v ? '\1' : '\0'));
}
void GgufBytes::str(const std::string& key, const std::string& v) {
  raw_kv(key, le32(8) + gstr(v));
}

void GgufBytes::str_array(const std::string& key, const std::vector<std::string>& v) {
  std::string s = le32(9) + le32(8) + le64(v.size());
  for (const auto& x : v) s += gstr(x);
  raw_kv(key, s);
}

void GgufBytes::f32_array(const std::string& key, const std::vector<float>& v) {
  std::string s = le32(9) + le32(6) + le64(v.size());
  s.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  raw_kv(key, s);
}

void GgufBytes::i32_array(const std::string& key, const std::vector<int32_t>& v) {
  std::string s = le32(9) + le32(5) + le64(v.size());
  s.append(reinterpret_cast<const char*>(v.data()), v.size() * 4);
  raw_kv(key, s);
}

void GgufBytes::tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                       const std::string& data, int64_t offset) {
  const uint64_t at = offset >= 0 ? static_cast<uint64_t>(offset) : next_offset_;
  tensors_.push_back({name, std::move(dims), type, data, at});
  next_offset_ = std::max(next_offset_, (at + data.size() + alignment - 1) / alignment * alignment);
}

std::string GgufBytes::bytes() const {
  std::string out = le32(magic) + le32(version);
  out += le64(static_cast<uint64_t>(tensor_count >= 0 ? tensor_count
                                                      : static_cast<int64_t>(tensors_.size())));
  out += le64(static_cast<uint64_t>(kv_count >= 0 ? kv_count : n_kv_));
  out += kv_;
  for (const auto& t : tensors_) {
    out += gstr(t.name) + le32(static_cast<uint32_t>(t.dims.size()));
    for (const uint64_t d : t.dims) out += le64(d);
    out += le32(t.type) + le64(t.offset);
  }
  if (!pad) return out;
  out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
  const size_t data_start = out.size();
  for (const auto& t : tensors_) {
    if (out.size() < data_start + t.offset + t.data.size())
      out.resize(data_start + t.offset + t.data.size(), '\0');
    std::copy(t.data.begin(), t.data.end(),
              out.begin() + static_cast<std::ptrdiff_t>(data_start + t.offset));
  }
  return out;
}

}  // namespace lowbit::testing
