#pragma once
// The `.lowbit` container: one memory-mappable file holding a JSON header (config, tokenizer,
// quantization metadata, tensor table) and 64-byte-aligned tensor blobs, so packed weights are
// used in place from the mapping, never copied.
//
// Layout (little-endian):
//   0   8 bytes  magic "LOWBIT\0\x1a"
//   8   u32      format version (kLowbitFileVersion)
//   12  u32      CRC-32 of the header JSON bytes
//   16  u64      header length H
//   24  H bytes  header JSON: {"metadata": {...}, "tensors": {name: {"dtype", "shape",
//                "offset", "bytes", "crc32"}}}; offsets are relative to the data section
//   then zero padding to a multiple of 64, then the data section (each tensor 64-byte aligned).
//
// Readers reject a wrong magic, an unknown version, a header CRC mismatch, a header larger than the
// file, a tensor outside the data section, a size that does not match dtype x shape, and (on
// load) a tensor whose CRC-32 does not match. See docs/quantized-format.md.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace lowbit {

inline constexpr uint32_t kLowbitFileVersion = 1;

// Element types of .lowbit tensors. kPacked is an opaque kernel blob (its layout is described by
// the tensor's owner in the metadata); its shape is its byte count.
enum class LowbitDType { kF32, kI32, kU8, kI8, kPacked, kF16, kU16 };

const char* lowbit_dtype_name(LowbitDType t);
size_t lowbit_dtype_size(LowbitDType t);

struct LowbitTensorView {
  LowbitDType dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> data;

  size_t elements() const;
  std::span<const float> f32() const;
  std::span<const int32_t> i32() const;
  std::span<const uint16_t> u16() const;
  std::span<const uint8_t> u8() const;
  // F16 values widened to fp32.
  std::vector<float> f16_as_f32() const;
};

// Collects tensors, then writes the container in one pass. By default the tensor data is held in
// memory; with a spill folder it goes to an anonymous temporary file there as each tensor is
// added (unlinked at once, so the system removes it on any exit, even SIGKILL), which lets
// `quantize` stream a model layer by layer: memory holds only the tensor table. write() then
// copies the spilled data behind the header.
class LowbitFileWriter {
 public:
  LowbitFileWriter() = default;
  explicit LowbitFileWriter(const std::filesystem::path& spill_dir);
  ~LowbitFileWriter();
  LowbitFileWriter(const LowbitFileWriter&) = delete;
  LowbitFileWriter& operator=(const LowbitFileWriter&) = delete;

  void add(const std::string& name, LowbitDType dtype, std::vector<int64_t> shape,
           std::span<const std::byte> data);
  void add_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> v);
  void add_i32(const std::string& name, std::vector<int64_t> shape, std::span<const int32_t> v);
  void add_u8(const std::string& name, std::vector<int64_t> shape, std::span<const uint8_t> v);
  void add_u16(const std::string& name, std::vector<int64_t> shape, std::span<const uint16_t> v);
  // Stored as F16 (round to nearest even).
  void add_f16(const std::string& name, std::vector<int64_t> shape, std::span<const float> v);
  nlohmann::json& metadata() { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  // Writes to a temporary sibling and renames it into place, so a failed or killed write never
  // leaves a partial `path`. Throws lowbit::Error naming the path.
  void write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    LowbitDType dtype;
    std::vector<int64_t> shape;
    uint64_t offset;  // in the data section
    uint64_t bytes;
    uint32_t crc32;
  };
  std::map<std::string, Entry> tensors_;
  nlohmann::json metadata_ = nlohmann::json::object();
  std::vector<std::byte> data_;  // the data section, when not spilled
  int spill_fd_ = -1;            // the spilled data section, or -1
  std::filesystem::path spill_dir_;
  uint64_t data_bytes_ = 0;
};

class LowbitFile {
 public:
  // Maps and validates the file; `verify_data` also checks every tensor's CRC-32.
  explicit LowbitFile(const std::filesystem::path& path, bool verify_data = true);

  const nlohmann::json& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws lowbit::Error naming the file and tensor when it is absent.
  const LowbitTensorView& tensor(const std::string& name) const;
  const std::map<std::string, LowbitTensorView>& tensors() const { return tensors_; }
  const std::filesystem::path& path() const { return file_->path(); }
  // The mapping, shared with layers that keep views into it.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  nlohmann::json metadata_;
  std::map<std::string, LowbitTensorView> tensors_;
};

// True if the file starts with the .lowbit magic (cheap; for format detection).
bool is_lowbit_file(const std::filesystem::path& path);

}  // namespace lowbit
