#include "kernels/qgemm_lut_rows.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/kernel_variants.h"
#include "kernels/qgemm_driver.h"

namespace lowbit::kernels {
namespace {

struct Variant {
  Isa isa;
  detail::LutRowsFn fn;
};

// Best first; the scalar reference last.
constexpr std::array kLutRows = {
#if defined(__x86_64__)
    Variant{Isa::kAvx512, detail::qgemm_lut_rows_avx512},
    Variant{Isa::kAvx2, detail::qgemm_lut_rows_avx2},
#endif
#if defined(__aarch64__)
    Variant{Isa::kNeon, detail::qgemm_lut_rows_neon},
#endif
    Variant{Isa::kScalar, detail::qgemm_lut_rows_scalar},
};

// Rows per unit of work handed to a thread.
constexpr size_t kRowsPerUnit = 16;

void run(std::span<const float> x, size_t m, size_t ldx, const LutRowsWeights& w,
         std::span<const float> bias, std::span<float> y, size_t ldy, bool parallel) {
  const size_t n = w.n(), k = w.k();
  if (n == 0) fail("qgemm_lut_rows: empty weights");
  if (ldx < k) fail("qgemm_lut_rows: input stride {} < {} columns", ldx, k);
  if (m > 0 && x.size() < (m - 1) * ldx + k)
    fail("qgemm_lut_rows: input of {} floats for {} rows of {}", x.size(), m, k);
  detail::check_output("qgemm_lut_rows", m, n, bias, y, ldy);
  if (m == 0) return;
  detail::LutRowsArgs args{};
  args.x = x.data();
  args.ldx = ldx;
  args.m = m;
  args.codes = w.codes();
  args.row_bytes = w.row_bytes();
  args.n = n;
  args.k = k;
  args.tables = w.tables().data();
  args.scales = w.scales().data();
  args.bias = bias.empty() ? nullptr : bias.data();
  args.y = y.data();
  args.ldy = ldy;
  const detail::LutRowsFn fn = select_variant(kLutRows).fn;
  if (!parallel || m * n * k < detail::kParallelMinMacs || thread_pool().size() == 1) {
    fn(args, 0, n);
    return;
  }
  const size_t units = (n + kRowsPerUnit - 1) / kRowsPerUnit;
  thread_pool().parallel_for(units, 1, [&](size_t u0, size_t u1) {
    fn(args, u0 * kRowsPerUnit, std::min(n, u1 * kRowsPerUnit));
  });
}

}  // namespace

void LutRowsWeights::Free::operator()(uint8_t* p) const {
  ::operator delete[](p, std::align_val_t{64});
}

bool LutRowsWeights::applies(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  return l.codebook() && l.codebook_rows == l.n && l.n > 1 && l.groups() == 1;
}

LutRowsWeights LutRowsWeights::from_packed(const PackedWeightsView& w) {
  const PackedLayout& l = w.layout();
  if (!applies(w))
    fail(
        "LutRowsWeights: the row layout is for codebook weights with a table and one scale per "
        "row, not {} rows with {} tables and {} groups",
        l.n, l.codebook_rows, l.groups());
  LutRowsWeights out;
  out.n_ = l.n;
  out.k_ = l.k;
  const size_t row_bytes = out.row_bytes(), total = l.n * row_bytes;
  out.codes_.reset(static_cast<uint8_t*>(::operator new[](total, std::align_val_t{64})));
  std::memset(out.codes_.get(), 0, total);
  const size_t chunks = l.chunks();
  // A bit-plane container's (2- or 3-bit codes) block is read in the int4 layout it expands to.
  std::vector<uint8_t> expanded(l.planar() ? chunks * kPackChunkBytes : 0);
  for (size_t j = 0; j < l.n; ++j) {
    uint8_t* row = out.codes_.get() + j * row_bytes;
    // The packed layout's row j: chunk c, lane j % 16, bytes 0..3, low nibbles k 8c + 0..3 and
    // high nibbles k 8c + 4..7.
    const uint8_t* stored = w.codes() + (j / kPackRows) * l.block_bytes();
    if (l.planar() && j % kPackRows == 0)
      expand_planar_chunks(stored, chunks, l.bits, expanded.data());
    const uint8_t* block = (l.planar() ? expanded.data() : stored) + 4 * (j % kPackRows);
    for (size_t c = 0; c < chunks; ++c)
      for (size_t q = 0; q < 4; ++q) {
        const uint8_t byte = block[c * kPackChunkBytes + q];
        for (size_t half = 0; half < 2; ++half) {
          const size_t col = 8 * c + 4 * half + q;
          if (col >= l.k) continue;
          const unsigned u = half == 0 ? byte & 15u : byte >> 4;
          // Tile col / 128; inside it k-block s = (col % 128) / 16, lane col % 16: byte 4 lane +
          // s / 2, nibble s % 2.
          const size_t t = col / kLutRowsTileK, s = col % kLutRowsTileK / 16, lane = col % 16;
          row[t * kLutRowsTileBytes + 4 * lane + s / 2] |= static_cast<uint8_t>(u << (4 * (s % 2)));
        }
      }
    const std::span<const float> table = w.table(j);
    out.tables_.insert(out.tables_.end(), table.begin(), table.end());
    out.scales_.push_back(w.scale(j, 0));
  }
  return out;
}

int LutRowsWeights::code(size_t row, size_t col) const {
  if (row >= n_ || col >= k_) fail("LutRowsWeights: code ({}, {}) outside {}x{}", row, col, n_, k_);
  const size_t t = col / kLutRowsTileK, s = col % kLutRowsTileK / 16, lane = col % 16;
  const uint8_t byte = codes_[row * row_bytes() + t * kLutRowsTileBytes + 4 * lane + s / 2];
  return (byte >> (4 * (s % 2))) & 15;
}

void qgemm_lut_rows(std::span<const float> x, size_t m, size_t ldx, const LutRowsWeights& w,
                    std::span<const float> bias, std::span<float> y, size_t ldy) {
  run(x, m, ldx, w, bias, y, ldy, true);
}

void qgemm_lut_rows_serial(std::span<const float> x, size_t m, size_t ldx, const LutRowsWeights& w,
                           std::span<const float> bias, std::span<float> y, size_t ldy) {
  run(x, m, ldx, w, bias, y, ldy, false);
}

Isa qgemm_lut_rows_isa() {
  return select_variant(kLutRows).isa;
}

}  // namespace lowbit::kernels
