#include "quant/duquant.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/quant_pass.h"
#include "quant/smoothquant.h"

namespace lowbit {

std::vector<float> uniform_first_row_rotation(size_t block) {
  // H = I - 2 v v^T / (v^T v), v = e_0 - u, u = 1/sqrt(b): H e_0 = u.
  std::vector<double> v(block, 1.0 / std::sqrt(static_cast<double>(block)));
  v[0] -= 1.0;
  double vv = 0.0;
  for (double e : v) vv += e * e;
  std::vector<float> h(block * block);
  for (size_t i = 0; i < block; ++i)
    for (size_t j = 0; j < block; ++j)
      h[i * block + j] = static_cast<float>((i == j ? 1.0 : 0.0) - 2.0 * v[i] * v[j] / vv);
  return h;
}

namespace {

// Greedy rotation of one block: xb is rows x b with row stride `stride`. Steps act as rank-one
// updates (the Householder form), so a step costs O(rows * b) instead of a full product.
std::vector<float> greedy_one_block(float* xb, size_t rows, size_t stride, size_t b,
                                    const DuQuantOptions& o) {
  // v for the Householder reflection E_c H E_c: H's v with entries 0 and c swapped.
  std::vector<double> u(b, 1.0 / std::sqrt(static_cast<double>(b)));
  std::vector<double> base(u);
  base[0] -= 1.0;
  double vv = 0.0;
  for (double e : base) vv += e * e;

  std::vector<size_t> channels;
  std::vector<float> peaks;
  std::vector<double> v(b), dot(rows);
  // Work on a copy so the prefix choice can be replayed on the original.
  std::vector<float> work(rows * b);
  for (size_t r = 0; r < rows; ++r) std::copy_n(xb + r * stride, b, work.data() + r * b);
  for (int step = 0; step <= o.max_steps; ++step) {
    size_t r = 0, c = 0;
    float best = -1.0f;
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < b; ++j) {
        const float a = std::fabs(work[i * b + j]);
        if (a > best) {
          best = a;
          r = i;
          c = j;
        }
      }
    peaks.push_back(best);
    if (step == o.max_steps) break;
    const size_t ch = o.row_rule ? r % b : c;
    channels.push_back(ch);
    v = base;
    std::swap(v[0], v[ch]);
    for (size_t i = 0; i < rows; ++i) {
      double d = 0.0;
      for (size_t j = 0; j < b; ++j) d += work[i * b + j] * v[j];
      const double f = 2.0 * d / vv;
      for (size_t j = 0; j < b; ++j) work[i * b + j] -= static_cast<float>(f * v[j]);
    }
  }
  const size_t keep =
      static_cast<size_t>(std::min_element(peaks.begin(), peaks.end()) - peaks.begin());

  // R = product of the kept steps (each symmetric orthogonal), accumulated in double.
  std::vector<double> R(b * b, 0.0);
  for (size_t i = 0; i < b; ++i) R[i * b + i] = 1.0;
  for (size_t s = 0; s < keep; ++s) {
    v = base;
    std::swap(v[0], v[channels[s]]);
    for (size_t i = 0; i < b; ++i) {  // R <- R (I - 2 v v^T / vv)
      double d = 0.0;
      for (size_t j = 0; j < b; ++j) d += R[i * b + j] * v[j];
      const double f = 2.0 * d / vv;
      for (size_t j = 0; j < b; ++j) R[i * b + j] -= f * v[j];
    }
  }
  // Apply R to the block of the caller's rows.
  std::vector<float> row(b);
  for (size_t i = 0; i < rows; ++i) {
    float* xr = xb + i * stride;
    for (size_t j = 0; j < b; ++j) {
      double acc = 0.0;
      for (size_t k = 0; k < b; ++k) acc += static_cast<double>(xr[k]) * R[k * b + j];
      row[j] = static_cast<float>(acc);
    }
    std::copy(row.begin(), row.end(), xr);
  }
  return {R.begin(), R.end()};
}

}  // namespace

std::vector<float> greedy_block_rotation(std::span<float> x, size_t rows, size_t dim,
                                         const DuQuantOptions& o) {
  if (o.block == 0 || dim % o.block != 0)
    fail("DuQuant block size {} does not divide the {} channels", o.block, dim);
  const size_t blocks = dim / o.block, b = o.block;
  std::vector<float> matrices(blocks * b * b);
  thread_pool().run(blocks, [&](size_t k) {
    const auto R = greedy_one_block(x.data() + k * b, rows, dim, b, o);
    std::copy(R.begin(), R.end(), matrices.begin() + static_cast<std::ptrdiff_t>(k * b * b));
  });
  return matrices;
}

std::vector<int32_t> zigzag_permutation(std::span<const float> channel_max, size_t block) {
  const size_t dim = channel_max.size();
  if (block == 0 || dim % block != 0)
    fail("DuQuant block size {} does not divide the {} channels", block, dim);
  const size_t K = dim / block;
  std::vector<int32_t> order(dim);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t c) { return channel_max[a] > channel_max[c]; });
  std::vector<std::vector<int32_t>> blocks(K);
  for (size_t i = 0; i < dim; ++i) {
    const size_t round = i / K, pos = i % K;
    const size_t k = (round % 2 == 0) ? pos : K - 1 - pos;
    blocks[k].push_back(order[i]);
  }
  std::vector<int32_t> perm;
  perm.reserve(dim);
  for (auto& blk : blocks) {
    std::stable_sort(blk.begin(), blk.end(),
                     [&](int32_t a, int32_t c) { return channel_max[a] > channel_max[c]; });
    perm.insert(perm.end(), blk.begin(), blk.end());
  }
  return perm;
}

ActivationTransform build_duquant_transform(std::span<const float> sample_rows, size_t rows,
                                            size_t dim, std::span<const float> act_absmax,
                                            std::span<const float> weight_absmax,
                                            const DuQuantOptions& o) {
  ActivationTransform t(dim);
  std::vector<float> x(sample_rows.begin(), sample_rows.end());
  if (o.alpha > 0.0f) {
    auto s = smoothing_scales(act_absmax, weight_absmax, o.alpha);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < dim; ++j) x[r * dim + j] /= s[j];
    t.set_smooth(std::move(s));
  }
  t.add_block_rotation(o.block, greedy_block_rotation(x, rows, dim, o));
  std::vector<float> channel_max(dim, 0.0f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j)
      channel_max[j] = std::max(channel_max[j], std::fabs(x[r * dim + j]));
  auto perm = zigzag_permutation(channel_max, o.block);
  std::vector<float> permuted(x.size());
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < dim; ++j)
      permuted[r * dim + j] = x[r * dim + static_cast<size_t>(perm[j])];
  t.add_permutation(std::move(perm));
  t.add_block_rotation(o.block, greedy_block_rotation(permuted, rows, dim, o));
  return t;
}

namespace {

// Smoothing + rotation + zigzag permutation + rotation per site, applied online to the input and
// folded into the weights of the site's consumers.
class DuQuantPass final : public QuantPass {
 public:
  explicit DuQuantPass(DuQuantOptions options) : options_(options) {}

  void apply(LayerContext& ctx) override {
    for (ActivationSite site : kSites) {
      const auto& s = ctx.stats[static_cast<size_t>(site)];
      auto consumers = ctx.work.at(site);
      auto t = std::make_shared<ActivationTransform>(build_duquant_transform(
          s.rows, s.num_rows(), s.dim, s.absmax, column_absmax(consumers), options_));
      for (WorkLinear* p : consumers) {
        t->apply_to_weight(p->w, static_cast<size_t>(p->out));
        p->transform = t;
      }
    }
  }

 private:
  DuQuantOptions options_;
};

}  // namespace

void validate_duquant(const QuantizeOptions& o, const ModelConfig& c) {
  const auto block = o.params.integer("duquant-block");
  for (int in : {c.dim, c.q_dim(), c.hidden_dim})
    if (block <= 0 || in % block != 0)
      fail("--duquant-block {} does not divide the layer width {}", block, in);
}

std::unique_ptr<QuantPass> make_duquant_pass(const QuantizeOptions& o) {
  DuQuantOptions d;
  d.block = static_cast<size_t>(o.params.integer("duquant-block"));
  d.max_steps = static_cast<int>(o.params.integer("duquant-steps"));
  d.row_rule = o.params.enabled("duquant-row-rule");
  d.alpha = static_cast<float>(o.params.real("alpha"));
  return std::make_unique<DuQuantPass>(d);
}

}  // namespace lowbit
