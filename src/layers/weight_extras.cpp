#include "layers/weight_extras.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/float16.h"
#include "core/thread_pool.h"
#include "kernels/sgemm.h"

namespace lowbit {

void round_to_f16(std::span<float> values) {
  for (float& v : values) v = f16_to_f32(f32_to_f16(v));
}

namespace {

void check_finite(std::span<const float> v, const std::string& where, const char* part) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) fail("{}: {} value {} is {}", where, part, i, v[i]);
}

}  // namespace

void WeightExtras::validate(size_t out, size_t in, const std::string& where) const {
  if (!outliers.empty()) {
    for (size_t i = 0; i < outliers.cols.size(); ++i) {
      if (outliers.cols[i] >= in)
        fail("{}: outlier column {} is out of range ({} inputs)", where, outliers.cols[i], in);
      if (i > 0 && outliers.cols[i] <= outliers.cols[i - 1])
        fail("{}: outlier columns are not ascending at {}", where, i);
    }
    if (outliers.weight.size() != out * outliers.cols.size())
      fail("{}: outlier weight has {} values, expected {}x{}", where, outliers.weight.size(), out,
           outliers.cols.size());
    check_finite(outliers.weight, where, "outlier weight");
  }
  if (!sparse.empty() || !sparse.row_ptr.empty()) {
    if (sparse.row_ptr.size() != out + 1)
      fail("{}: sparse row pointers: {} entries, expected {}", where, sparse.row_ptr.size(),
           out + 1);
    if (sparse.col.size() != sparse.value.size())
      fail("{}: sparse part has {} columns for {} values", where, sparse.col.size(),
           sparse.value.size());
    if (sparse.row_ptr.front() != 0 || sparse.row_ptr.back() != sparse.value.size())
      fail("{}: sparse row pointers do not span the {} values", where, sparse.value.size());
    for (size_t r = 0; r < out; ++r) {
      if (sparse.row_ptr[r + 1] < sparse.row_ptr[r])
        fail("{}: sparse row pointers decrease at row {}", where, r);
      for (uint32_t i = sparse.row_ptr[r]; i < sparse.row_ptr[r + 1]; ++i)
        if (sparse.col[i] >= in || (i > sparse.row_ptr[r] && sparse.col[i] <= sparse.col[i - 1]))
          fail("{}: sparse column {} of row {} is out of range or out of order", where,
               sparse.col[i], r);
    }
    check_finite(sparse.value, where, "sparse");
  }
  if (!low_rank.empty()) {
    if (low_rank.u.size() != out * low_rank.rank || low_rank.v.size() != low_rank.rank * in)
      fail("{}: low-rank factors have {} and {} values, expected {}x{} and {}x{}", where,
           low_rank.u.size(), low_rank.v.size(), out, low_rank.rank, low_rank.rank, in);
    check_finite(low_rank.u, where, "low-rank U");
    check_finite(low_rank.v, where, "low-rank V");
  }
}

bool SparseWeights::narrow_columns() const {
  return std::all_of(col.begin(), col.end(), [](uint32_t c) { return c <= 0xffffu; });
}

size_t WeightExtras::bytes() const {
  size_t b = 0;
  if (!outliers.empty()) b += outliers.cols.size() * 4 + outliers.weight.size() * 2;
  if (!sparse.empty())
    b += sparse.row_ptr.size() * 4 + sparse.col.size() * (sparse.narrow_columns() ? 2 : 4) +
         sparse.nnz() * 2;
  if (!low_rank.empty()) b += (low_rank.u.size() + low_rank.v.size()) * 2;
  return b;
}

std::string WeightExtras::describe(size_t out, size_t in) const {
  std::string s;
  if (!outliers.empty()) s += fmt::format(" +fp outlier columns {}", outliers.cols.size());
  if (!sparse.empty())
    s += fmt::format(" +sparse {:.2f}%",
                     100.0 * static_cast<double>(sparse.nnz()) / static_cast<double>(out * in));
  if (!low_rank.empty()) s += fmt::format(" +low-rank r{}", low_rank.rank);
  return s;
}

void WeightExtras::add_to_dense(std::span<float> w, size_t out, size_t in) const {
  for (size_t r = 0; r < out; ++r) add_to_row(r, w.subspan(r * in, in));
}

void WeightExtras::add_to_row(size_t row, std::span<float> w_row) const {
  const size_t nc = outliers.cols.size();
  for (size_t j = 0; j < nc; ++j) w_row[outliers.cols[j]] = outliers.weight[row * nc + j];
  if (!sparse.empty())
    for (uint32_t i = sparse.row_ptr[row]; i < sparse.row_ptr[row + 1]; ++i)
      w_row[sparse.col[i]] += sparse.value[i];
  if (!low_rank.empty()) {
    const size_t in = w_row.size(), r = low_rank.rank;
    for (size_t t = 0; t < r; ++t) {
      const float a = low_rank.u[row * r + t];
      const float* v = low_rank.v.data() + t * in;
      for (size_t c = 0; c < in; ++c) w_row[c] += a * v[c];
    }
  }
}

void WeightExtras::split_outliers(std::span<float> x, size_t rows, size_t in,
                                  std::vector<float>& xo) const {
  const size_t nc = outliers.cols.size();
  xo.resize(rows * nc);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < nc; ++j) {
      float& v = x[r * in + outliers.cols[j]];
      xo[r * nc + j] = v;
      v = 0.0f;
    }
}

void WeightExtras::restore_outliers(std::span<float> x, size_t rows, size_t in,
                                    std::span<const float> xo) const {
  const size_t nc = outliers.cols.size();
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < nc; ++j) x[r * in + outliers.cols[j]] = xo[r * nc + j];
}

void WeightExtras::add_outlier_product(std::span<const float> xo, size_t rows, size_t out,
                                       std::span<float> y) const {
  const size_t nc = outliers.cols.size();
  if (nc == 0) return;
  kernels::sgemm_nt(rows, out, nc, xo.data(), nc, outliers.weight.data(), nc, y.data(), out,
                    /*accumulate=*/true);
}

void WeightExtras::add_side_product(std::span<const float> x, size_t rows, size_t in, size_t out,
                                    std::span<float> y) const {
  if (!sparse.empty()) {
    // Rows of y are independent: one output row per task, each a sparse dot product per column.
    thread_pool().parallel_for(rows, 1, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        const float* xr = x.data() + r * in;
        float* yr = y.data() + r * out;
        for (size_t o = 0; o < out; ++o) {
          float acc = 0.0f;
          for (uint32_t i = sparse.row_ptr[o]; i < sparse.row_ptr[o + 1]; ++i)
            acc += sparse.value[i] * xr[sparse.col[i]];
          yr[o] += acc;
        }
      }
    });
  }
  if (!low_rank.empty()) {
    const size_t r = low_rank.rank;
    std::vector<float> t(rows * r);
    kernels::sgemm_nt(rows, r, in, x.data(), in, low_rank.v.data(), in, t.data(), r);
    kernels::sgemm_nt(rows, out, r, t.data(), r, low_rank.u.data(), r, y.data(), out,
                      /*accumulate=*/true);
  }
}

}  // namespace lowbit
