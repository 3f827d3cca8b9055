#pragma once
// Read-only memory map of a whole file (RAII). Checkpoints are mapped, never read into a buffer,
// so a multi-gigabyte safetensors shard costs only the pages that are actually converted.
#include <cstddef>
#include <filesystem>
#include <span>

namespace lowbit {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release() noexcept;
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;  // non-owning view of the mapping released in the destructor
  size_t size_ = 0;
};

// Drops the pages of `range` (a view into some MappedFile) from this process's resident set:
// the whole pages inside it are returned (madvise MADV_DONTNEED; a later read faults them back in
// from the file), the partial pages at its ends are left alone. Quantization releases each layer
// of the source checkpoint this way once it is written, so peak RSS (VmHWM, which counts mapped
// file pages) stays one layer, not the model.
void release_mapped_pages(std::span<const std::byte> range) noexcept;

}  // namespace lowbit
