#include "layers/dense_matrix.h"

#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/thread_pool.h"
#include "kernels/widen.h"

namespace lowbit {

const char* weight_dtype_name(WeightDType t) {
  switch (t) {
    case WeightDType::kF32:
      return "f32";
    case WeightDType::kBF16:
      return "bf16";
    case WeightDType::kF16:
      return "f16";
  }
  return "?";
}

DenseMatrix::DenseMatrix(size_t rows, size_t cols, std::vector<float> values)
    : rows_(rows), cols_(cols), dtype_(WeightDType::kF32), owned_f32_(std::move(values)) {
  if (owned_f32_.size() != rows * cols)
    fail("weight matrix: {} values, expected {}x{}", owned_f32_.size(), rows, cols);
  f32_ = owned_f32_;
}

DenseMatrix::DenseMatrix(size_t rows, size_t cols, WeightDType dtype,
                         std::span<const std::byte> data, std::shared_ptr<const void> owner)
    : rows_(rows), cols_(cols), dtype_(dtype), owner_(std::move(owner)) {
  const size_t width = dtype == WeightDType::kF32 ? sizeof(float) : sizeof(uint16_t);
  if (data.size() != rows * cols * width)
    fail("weight matrix: {} bytes, expected {}x{} values of {}", data.size(), rows, cols,
         weight_dtype_name(dtype));
  const bool aligned = reinterpret_cast<uintptr_t>(data.data()) % width == 0;
  if (dtype == WeightDType::kF32) {
    if (aligned) {
      f32_ = {reinterpret_cast<const float*>(data.data()), rows * cols};
      mapped_ = data;
    } else {
      owned_f32_.resize(rows * cols);
      std::memcpy(owned_f32_.data(), data.data(), data.size());
      f32_ = owned_f32_;
    }
  } else if (aligned) {
    half_ = {reinterpret_cast<const uint16_t*>(data.data()), rows * cols};
    mapped_ = data;
  } else {
    copied_.resize(rows * cols);
    std::memcpy(copied_.data(), data.data(), data.size());
    half_ = copied_;
  }
}

DenseMatrix::~DenseMatrix() {
  if (!mapped_.empty()) release_mapped_pages(mapped_);
}

size_t DenseMatrix::bytes() const {
  return dtype_ == WeightDType::kF32 ? f32_.size() * sizeof(float) : half_.size() * 2;
}

void DenseMatrix::widen_rows(size_t first, size_t count, std::span<float> out) const {
  if (first + count > rows_ || out.size() < count * cols_)
    fail("weight matrix: rows [{}, {}) of {} into {} values", first, first + count, rows_,
         out.size());
  const size_t begin = first * cols_, n = count * cols_;
  switch (dtype_) {
    case WeightDType::kF32:
      std::memcpy(out.data(), f32_.data() + begin, n * sizeof(float));
      return;
    case WeightDType::kBF16:
      kernels::widen_bf16(half_.subspan(begin, n), out.first(n));
      return;
    case WeightDType::kF16:
      kernels::widen_f16(half_.subspan(begin, n), out.first(n));
      return;
  }
}

std::vector<float> DenseMatrix::to_f32() const {
  if (dtype_ == WeightDType::kF32) return {f32_.begin(), f32_.end()};
  std::vector<float> out(size());
  // In parallel: the widening, and the first touch of `out`'s pages (at 7B a layer is 0.8 GB).
  thread_pool().parallel_for(rows_, 64, [&](size_t r0, size_t r1) {
    widen_rows(r0, r1 - r0, std::span(out).subspan(r0 * cols_, (r1 - r0) * cols_));
  });
  return out;
}

std::shared_ptr<const DenseMatrix> make_f32_matrix(size_t rows, size_t cols,
                                                   std::vector<float> values) {
  return std::make_shared<const DenseMatrix>(rows, cols, std::move(values));
}

}  // namespace lowbit
