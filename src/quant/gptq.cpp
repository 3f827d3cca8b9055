#include "quant/gptq.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/dense_linalg.h"
#include "quant/quant_pass.h"

namespace lowbit {

// Memory: at 11008 inputs (down_proj) one [in, in] double matrix is 0.97 GB, so the solver holds
// two at most: the (permuted, dead-masked) Hessian, kept for a retry with more damping, and its
// factor, which becomes U in place.
GptqSolver::GptqSolver(std::vector<double> H, size_t in, const GptqOptions& o)
    : in_(in), options_(o), order_(in), dead_(in, false) {
  if (H.size() != in * in) fail("GPTQ: Hessian has {} values for {} inputs", H.size(), in);
  o.weight.validate("GPTQ weights", in);
  std::iota(order_.begin(), order_.end(), size_t{0});
  if (o.act_order)
    std::stable_sort(order_.begin(), order_.end(),
                     [&](size_t a, size_t b) { return H[a * in + a] > H[b * in + b]; });
  double mean_diag = 0.0;
  for (size_t i = 0; i < in; ++i) {
    dead_[i] = H[i * in + i] == 0.0;
    mean_diag += dead_[i] ? 1.0 : H[i * in + i];
  }
  mean_diag /= static_cast<double>(in);
  const auto masked = [&](size_t a, size_t b) {
    return (dead_[a] || dead_[b]) ? (a == b ? 1.0 : 0.0) : H[a * in + b];
  };
  if (o.act_order) {  // permute (through one new matrix; H is dropped)
    std::vector<double> h(in * in);
    for (size_t i = 0; i < in; ++i)
      for (size_t j = 0; j < in; ++j) h[i * in + j] = masked(order_[i], order_[j]);
    H = std::move(h);
  } else {
    for (size_t i = 0; i < in; ++i)
      for (size_t j = 0; j < in; ++j) H[i * in + j] = masked(i, j);
  }
  // U is the upper Cholesky factor of H^-1 (H^-1 = U^T U), which the reference computes as
  // cholesky(cholesky_inverse(cholesky(H)), upper=True): three O(n^3) LAPACK passes. With P the
  // reversal permutation and P H P = R R^T (R lower), H^-1 = (P R^-T P)(P R^-1 P), and P R^-1 P is
  // upper triangular with a positive diagonal: the same (unique) factor U from one Cholesky and
  // one triangular inverse, half the arithmetic (at 11008 inputs, tens of seconds per layer).
  const size_t last = in * in - 1;
  for (int attempt = 0;; ++attempt) {
    std::vector<double> L(in * in);
    for (size_t k = 0; k <= last; ++k) L[k] = H[last - k];  // P H P: both indices reversed
    const double damp = o.damp * std::pow(10.0, attempt) * mean_diag;
    for (size_t i = 0; i < in; ++i) L[i * in + i] += damp;
    if (kernels::cholesky_lower(L, in)) {
      H = {};  // no retry: release it before U is formed
      if (!kernels::invert_lower_triangular(L, in)) fail("GPTQ: the damped Hessian is singular");
      for (size_t k = 0; k < in * in / 2; ++k) std::swap(L[k], L[last - k]);  // P R^-1 P
      U_ = std::move(L);
      return;
    }
    if (attempt == 3) fail("GPTQ: Hessian is not positive definite even with damping {}", damp);
  }
}

namespace {

// Lazy-batch width: columns are quantized in blocks; inside a block every row's error updates the
// block's later columns at once, and the trailing columns receive the whole block's updates as one
// matrix product. A block holds whole groups (a group's parameters are taken from its values when
// it starts, so every one of them must have received all earlier updates by then).
size_t lazy_block(size_t block_size, size_t group, bool static_groups) {
  if (static_groups || group >= block_size) return static_groups ? block_size : group;
  return group * (block_size / group);
}

}  // namespace

QuantizedMatrix GptqSolver::quantize(std::span<float> W, size_t out) const {
  return quantize(W, out, options_.weight);
}

QuantizedMatrix GptqSolver::quantize(std::span<float> W, size_t out, const QuantSpec& spec) const {
  const size_t in = in_;
  if (W.size() != out * in) fail("GPTQ: weight has {} values, expected {}x{}", W.size(), out, in);
  spec.validate("GPTQ weights", in);
  QuantizedMatrix q = QuantizedMatrix::allocate(out, in, spec);
  const size_t g = q.group_size(), groups = q.groups_per_row();
  const int qmin = spec.qmin(), qmax = spec.qmax();
  // With act_order, groups are fixed from the original weights ("static groups"), so a group is
  // still a run of consecutive original columns.
  const bool static_groups = options_.act_order || spec.group_size == 0;
  const size_t B =
      lazy_block(static_cast<size_t>(std::max(options_.block_size, 1)), g, static_groups);

  // The weights in processing order, in double: w[r * in + i] is column order_[i] of row r.
  std::vector<double> w(out * in);
  thread_pool().parallel_for(out, 8, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      float* row = W.data() + r * in;
      for (size_t c = 0; c < in; ++c)
        if (dead_[c]) row[c] = 0.0f;
      if (static_groups)
        for (size_t k = 0; k < groups; ++k)
          q.params[r * groups + k] = choose_params(std::span(row + k * g, g), spec);
      for (size_t i = 0; i < in; ++i) w[r * in + i] = row[order_[i]];
    }
  });

  std::vector<double> err(out * B);  // the block's scaled errors, [out, block width]
  for (size_t i1 = 0; i1 < in; i1 += B) {
    const size_t i2 = std::min(i1 + B, in), nb = i2 - i1;
    thread_pool().parallel_for(out, 4, [&](size_t r0, size_t r1) {
      std::vector<float> group_values(g);
      for (size_t r = r0; r < r1; ++r) {
        double* wr = w.data() + r * in;
        float* row = W.data() + r * in;
        QuantParams* params = q.params.data() + r * groups;
        for (size_t i = i1; i < i2; ++i) {
          const size_t col = order_[i];
          if (!static_groups && col % g == 0) {  // a group starts: parameters from current values
            for (size_t k = 0; k < g; ++k) group_values[k] = static_cast<float>(wr[i + k]);
            params[col / g] = choose_params(group_values, spec);
          }
          const QuantParams p = params[col / g];
          const int code = quantize_value(static_cast<float>(wr[i]), p, qmin, qmax);
          const float deq = dequantize_value(code, p);
          q.codes[r * in + col] = static_cast<uint8_t>(code - qmin);
          row[col] = deq;
          const double e = (wr[i] - deq) / U_[i * in + i];
          err[r * nb + (i - i1)] = e;
          const double* u = U_.data() + i * in;
          for (size_t j = i + 1; j < i2; ++j) wr[j] -= e * u[j];
        }
      }
    });
    if (i2 == in) break;
    // w[:, i2:] -= err U[i1:i2, i2:]: the block's updates of the trailing columns, a slice of rows
    // per task (OpenBLAS runs single-threaded inside lowbit's pool).
    thread_pool().parallel_for(out, 16, [&](size_t r0, size_t r1) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(r1 - r0),
                  static_cast<int>(in - i2), static_cast<int>(nb), -1.0, err.data() + r0 * nb,
                  static_cast<int>(nb), U_.data() + i1 * in + i2, static_cast<int>(in), 1.0,
                  w.data() + r0 * in + i2, static_cast<int>(in));
    });
  }
  return q;
}

QuantizedMatrix gptq_quantize(std::span<float> W, size_t out, size_t in, std::span<const double> H,
                              const GptqOptions& options) {
  return GptqSolver(std::vector<double>(H.begin(), H.end()), in, options).quantize(W, out);
}

namespace {

class GptqPass final : public QuantPass {
 public:
  GptqPass(GptqOptions options, WeightSpecs specs)
      : options_(options), weight_for_(std::move(specs)) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites) {
      auto& st = ctx.stats[static_cast<size_t>(site)];
      auto consumers = ctx.work.at(site);
      std::vector<double> h = std::move(st.gram);  // this pass's own statistics: consumed
      if (consumers.front()->transform) consumers.front()->transform->transform_gram(h);
      const GptqSolver solver(std::move(h), st.dim, options_);
      // The solver updates the columns it has not quantized yet in place: it works on a copy, so
      // the full-precision weight stays for later passes (LoRC's error, LWC's start).
      for (WorkLinear* p : consumers) {
        const QuantSpec spec = weight_for_(ctx.index, p->name);
        if (!spec.enabled()) continue;  // --bits-map: left in full precision
        std::vector<float> w = p->w;
        p->q = solver.quantize(w, static_cast<size_t>(p->out), spec);
      }
    }
  }

 private:
  GptqOptions options_;
  WeightSpecs weight_for_;
};

}  // namespace

std::unique_ptr<QuantPass> make_gptq_pass(const QuantizeOptions& o) {
  GptqOptions g;
  g.weight = o.weight;
  g.damp = o.params.real("damp");
  g.act_order = o.params.enabled("act-order");
  return std::make_unique<GptqPass>(g, o.weight_specs());
}

}  // namespace lowbit
