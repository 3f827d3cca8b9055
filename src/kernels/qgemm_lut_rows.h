#pragma once
// Codebook weights with a table per output row (SqueezeLLM) against fp32 activations, on a layout
// made for a register look-up.
//
// The packed layout (packed_weights.h) puts 16 output rows in the lanes of a register. That suits
// integer weights and one shared table (NF4: one vpermps looks up 16 rows at once), but with a
// table per row every lane needs a different table, which only a gather serves (about 15x slower
// than the shared-table kernel at m = 1; docs/kernels.md). LutRowsWeights re-lays the codes so
// that a register holds 16 codes of ONE row: then that row's 16-entry table sits in one register
// and a single vpermps (AVX-512), two vpermps and a blend (AVX2) or a tbl (NEON) looks up 16
// weights, which multiply 16 consecutive activations loaded straight from memory.
//
// Layout: each row is cut into tiles of 128 k-values, 64 bytes each; in tile t, 32-bit lane l
// holds the 8 codes of k = 128 t + 16 s + l for s = 0..7 in its nibbles (s = 0 lowest), so
// shifting the register right by 4 s puts the 16 codes of k-block s in the low 4 bits of the
// lanes, the bits vpermps reads. Codes past k are 0 (their activations are read as 0).
//
// The result every variant produces, per output (i, j), with T_j row j's table and s_j its scale:
//   lanes acc[0..16) = 0; for each 16-wide k-block b in order, for each lane l:
//     acc[l] = fma(x'[16 b + l], T_j[u[j][16 b + l]], acc[l])    (x' = x, or 0 past k)
//   h = tree sum: acc[l] + acc[l + 8], then + lane l + 4, then + lane l + 2, then lane 0 + lane 1
//   y = fma(h, s_j, bias[j])  (bias 0 without one: one rounding, so no compiler contraction of a
//                              multiply and an add can make two variants differ)
// which every ISA reproduces bit for bit (tested), and which differs from qgemm_f32's single fma
// chain over k only in the summation order.
//
// Only per-row tables with one scale per row (SqueezeLLM's format) take this layout; other
// codebook weights stay on qgemm_f32. The codes here are a second copy of the packed blob's
// (the same size, or for 2- and 3-bit codes, stored in a bit-plane container, their 4-bit
// widening): PackedLinear builds them once per layer, after which the products never read the
// blob's codes section.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/packed_weights.h"

namespace lowbit::kernels {

inline constexpr size_t kLutRowsTileK = 128;     // k-values per tile
inline constexpr size_t kLutRowsTileBytes = 64;  // bytes per tile (4-bit codes)

class LutRowsWeights {
 public:
  // Whether w has a table per row and one scale per row (the layout's precondition).
  static bool applies(const PackedWeightsView& w);
  // Re-lays w's codes and copies its tables and scales; fails with lowbit::Error unless applies(w).
  static LutRowsWeights from_packed(const PackedWeightsView& w);

  size_t n() const { return n_; }
  size_t k() const { return k_; }
  size_t tiles() const { return (k_ + kLutRowsTileK - 1) / kLutRowsTileK; }
  size_t row_bytes() const { return tiles() * kLutRowsTileBytes; }
  const uint8_t* codes() const { return codes_.get(); }      // n x row_bytes, 64-byte aligned
  std::span<const float> tables() const { return tables_; }  // n x 16
  std::span<const float> scales() const { return scales_; }  // n
  size_t bytes() const { return n_ * row_bytes() + (tables_.size() + scales_.size()) * 4; }
  int code(size_t row, size_t col) const;  // u at (row, col), col < k (tests)

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  size_t n_ = 0, k_ = 0;
  std::unique_ptr<uint8_t[], Free> codes_;
  std::vector<float> tables_, scales_;
};

// y[i][j] = the result above for x's m rows (row stride ldx >= k) and bias (empty or n values),
// into y at row stride ldy >= n. Runs on the thread pool over output rows unless the product is
// small; the _serial form stays on the calling thread (inside a parallel region).
void qgemm_lut_rows(std::span<const float> x, size_t m, size_t ldx, const LutRowsWeights& w,
                    std::span<const float> bias, std::span<float> y, size_t ldy);
void qgemm_lut_rows_serial(std::span<const float> x, size_t m, size_t ldx, const LutRowsWeights& w,
                           std::span<const float> bias, std::span<float> y, size_t ldy);

// The variant the calls above would use now (under the current ISA ceiling).
Isa qgemm_lut_rows_isa();

}  // namespace lowbit::kernels
