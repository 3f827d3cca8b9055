#pragma once
// A full-precision weight matrix [rows, cols] as it is stored: fp32 values owned in memory, or
// bf16 / f16 values borrowed from a memory-mapped checkpoint and never copied. Consumers read
// rows through widen_rows (exact: every 16-bit value is an fp32 value), so a bf16 model needs
// about its file size in memory, not twice it, and a full-precision GEMM reads half the bytes.
// Borrowed pages are handed back to the kernel when the matrix is destroyed (a quantized layer
// replacing it), so a streaming quantizer's resident set stays one layer deep.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace lowbit {

enum class WeightDType { kF32, kBF16, kF16 };

const char* weight_dtype_name(WeightDType t);  // "f32", "bf16", "f16"

class DenseMatrix {
 public:
  // Owned fp32 values, rows * cols of them.
  DenseMatrix(size_t rows, size_t cols, std::vector<float> values);
  // rows * cols values of `dtype` in `data`, a view into a mapping that `owner` keeps alive.
  // Data not aligned to its element size (a safetensors offset may be odd) is copied.
  DenseMatrix(size_t rows, size_t cols, WeightDType dtype, std::span<const std::byte> data,
              std::shared_ptr<const void> owner);
  ~DenseMatrix();
  DenseMatrix(const DenseMatrix&) = delete;
  DenseMatrix& operator=(const DenseMatrix&) = delete;

  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  size_t size() const { return rows_ * cols_; }
  WeightDType dtype() const { return dtype_; }
  // Bytes of storage (mapped bytes count: they become resident when read).
  size_t bytes() const;

  // The fp32 values, only when stored as fp32 (else empty).
  std::span<const float> f32() const { return f32_; }
  // The 16-bit patterns, only when stored as bf16 / f16 (else empty).
  std::span<const uint16_t> half() const { return half_; }
  // Rows [first, first + count) as fp32 into out (count * cols values).
  void widen_rows(size_t first, size_t count, std::span<float> out) const;
  // The whole matrix as fp32 (a copy).
  std::vector<float> to_f32() const;

 private:
  size_t rows_, cols_;
  WeightDType dtype_;
  std::span<const float> f32_;  // fp32 values: borrowed, or in owned_f32_
  std::vector<float> owned_f32_;
  std::span<const uint16_t> half_;  // 16-bit values: borrowed, or in copied_
  std::vector<uint16_t> copied_;
  std::span<const std::byte> mapped_;  // the borrowed bytes, released on destruction
  std::shared_ptr<const void> owner_;
};

// fp32 matrix shared by a tied embedding and head (and the common case in tests).
std::shared_ptr<const DenseMatrix> make_f32_matrix(size_t rows, size_t cols,
                                                   std::vector<float> values);

}  // namespace lowbit
