#pragma once
// Builds GGUF files byte by byte for tests (io/gguf_format.h is the layout): valid files, and
// malformed ones through the fields a test overrides. Independent of lowbit's GGUF writer, so
// the reader's tests do not assume the writer is right.
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::testing {

class GgufBytes {
 public:
  // Header fields; the counts default to what was added.
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  int64_t tensor_count = -1;  // -1: the number of tensors added
  int64_t kv_count = -1;      // -1: the number of metadata entries added
  uint32_t alignment = 32;    // where the data section starts (general.alignment if set)
  bool pad = true;            // false: no padding after the infos (files cut short)

  // Metadata entries, encoded as they are added.
  void u32(const std::string& key, uint32_t v);
  void i32(const std::string& key, int32_t v);
  void f32(const std::string& key, float v);
  void boolean(const std::string& key, bool v);
  void str(const std::string& key, const std::string& v);
  void str_array(const std::string& key, const std::vector<std::string>& v);
  void f32_array(const std::string& key, const std::vector<float>& v);
  void i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Any entry: the key, then `value` (type + payload) as raw bytes.
  void raw_kv(const std::string& key, const std::string& typed_value);

  // A tensor: dims innermost first, ggml type, its data bytes. The offset is the next aligned
  // one unless given.
  void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
              const std::string& data, int64_t offset = -1);

  std::string bytes() const;

  // Little-endian encodings, for building raw entries.
  static std::string le32(uint32_t v);
  static std::string le64(uint64_t v);
  static std::string gstr(const std::string& s);  // uint64 length + bytes

 private:
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string data;
    uint64_t offset;
  };
  std::string kv_;
  int64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
  uint64_t next_offset_ = 0;
};

}  // namespace lowbit::testing
