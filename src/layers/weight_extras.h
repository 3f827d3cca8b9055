#pragma once
// Side data of a quantized projection: the parts of the weight its low-bit grid does not carry,
// each a small product added to the main one. The effective weight is the low-bit grid with its
// outlier columns replaced by their fp16 columns, plus sparse plus low-rank,
// and a layer computes y = x_main W_main^T + x_side (sparse + low-rank)^T + x_out W_out^T:
// - OutlierColumns (LLM.int8(), Dettmers et al. 2022): input features that carry outliers are
//   taken out of x before it is quantized (so the grid's columns there are never used) and
//   multiplied in floating point with their fp16 weight columns.
// - SparseWeights (SqueezeLLM's dense-and-sparse, Kim et al. 2024): a few outlier and sensitive
//   weights kept out of the grid, in compressed sparse rows.
// - LowRank (ZeroQuant-V2's LoRC, Yao et al. 2023): U V, a rank-r approximation of the
//   quantization error W - W_main.
// Values are held as fp32 rounded to fp16 (the file stores fp16; bytes() counts what it stores).
// x_side is the input the main product sees (quantize-dequantized when activations are
// quantized), with the outlier columns in full precision: exactly the simulated layer, which
// multiplies that input by the effective weight.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lowbit {

struct OutlierColumns {
  std::vector<uint32_t> cols;  // ascending input indices
  std::vector<float> weight;   // [out, cols.size()]
  float threshold = 0.0f;      // the |x| that selected them (for reports)

  bool empty() const { return cols.empty(); }
};

struct SparseWeights {
  std::vector<uint32_t> row_ptr;  // out + 1 (empty: no sparse part)
  std::vector<uint32_t> col;      // nnz
  std::vector<float> value;       // nnz

  bool empty() const { return value.empty(); }
  size_t nnz() const { return value.size(); }
  // Whether every column index fits 16 bits (any layer up to 65536 inputs): then the file stores
  // them as uint16.
  bool narrow_columns() const;
};

struct LowRank {
  size_t rank = 0;
  std::vector<float> u;  // [out, rank]
  std::vector<float> v;  // [rank, in]

  bool empty() const { return rank == 0; }
};

struct WeightExtras {
  OutlierColumns outliers;
  SparseWeights sparse;
  LowRank low_rank;

  bool empty() const { return outliers.empty() && sparse.empty() && low_rank.empty(); }
  // Throws lowbit::Error naming `where` unless every part fits an [out, in] weight (indices in
  // range and ascending, sizes consistent, values finite).
  void validate(size_t out, size_t in, const std::string& where) const;
  // Bytes as stored: fp16 values, 32-bit indices (16-bit sparse columns when they fit).
  size_t bytes() const;
  // "+sparse 0.45% +lorc r8 +int8-outliers 12": appended to a layer's format name.
  std::string describe(size_t out, size_t in) const;

  // From the grid's dequantized weight to the effective one: outlier columns replaced, sparse and
  // low-rank added; w [out, in], or one row.
  void add_to_dense(std::span<float> w, size_t out, size_t in) const;
  void add_to_row(size_t row, std::span<float> w_row) const;

  // Copies x's outlier columns into xo [rows, cols.size()] and zeroes them in x [rows, in].
  void split_outliers(std::span<float> x, size_t rows, size_t in, std::vector<float>& xo) const;
  // Writes xo back into x's outlier columns (the simulated layer's input, full precision there).
  void restore_outliers(std::span<float> x, size_t rows, size_t in,
                        std::span<const float> xo) const;
  // y [rows, out] += xo W_out^T.
  void add_outlier_product(std::span<const float> xo, size_t rows, size_t out,
                           std::span<float> y) const;
  // y [rows, out] += x (sparse + low-rank)^T, x [rows, in].
  void add_side_product(std::span<const float> x, size_t rows, size_t in, size_t out,
                        std::span<float> y) const;
};

// Rounds every value to the nearest fp16 (what the file will hold).
void round_to_f16(std::span<float> values);

}  // namespace lowbit
