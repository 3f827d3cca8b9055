#include "quant/squeezellm.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/quant_pass.h"
#include "train/fisher.h"

namespace lowbit {

bool assign_nearest(std::span<const float> w, std::span<const double> c, std::span<uint8_t> codes) {
  // Centroids sorted: a binary search, then the nearer of the two neighbours (ties go down).
  bool changed = false;
  const size_t k = c.size();
  for (size_t i = 0; i < w.size(); ++i) {
    const auto up = std::lower_bound(c.begin(), c.end(), static_cast<double>(w[i]));
    size_t j = static_cast<size_t>(up - c.begin());
    if (j == k || (j > 0 && w[i] - c[j - 1] <= c[j] - w[i])) j = j == 0 ? 0 : j - 1;
    if (codes[i] != j) changed = true;
    codes[i] = static_cast<uint8_t>(j);
  }
  return changed;
}

std::vector<float> weighted_kmeans(std::span<const float> w, std::span<const float> f, int bits,
                                   int iters, uint64_t seed, std::span<uint8_t> codes) {
  const size_t n = w.size(), k = size_t{1} << bits;
  std::vector<double> wt(n);
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += wt[i] = std::max(0.0f, f[i]);
  if (!(total > 0)) std::fill(wt.begin(), wt.end(), 1.0);  // no sensitivity: plain k-means
  // k-means++ seeding (weighted by the sample weights, as sklearn does): the first centroid drawn
  // by weight, each next one by weight x squared distance to the nearest chosen centroid.
  std::mt19937_64 rng(seed);
  std::vector<double> c;
  std::vector<double> d2(n, INFINITY);
  auto draw = [&](const std::vector<double>& p) {
    const double s = std::accumulate(p.begin(), p.end(), 0.0);
    if (!(s > 0)) return static_cast<size_t>(rng() % n);
    double r = std::uniform_real_distribution<double>(0.0, s)(rng);
    for (size_t i = 0; i < n; ++i)
      if ((r -= p[i]) <= 0) return i;
    return n - 1;
  };
  std::vector<double> p(n);
  c.push_back(w[draw(wt)]);
  while (c.size() < k) {
    for (size_t i = 0; i < n; ++i) {
      const double d = w[i] - c.back();
      d2[i] = std::min(d2[i], d * d);
      p[i] = wt[i] * d2[i];
    }
    c.push_back(w[draw(p)]);
  }
  std::sort(c.begin(), c.end());
  // Lloyd: assign to the nearest centroid, then move each to the weighted mean of its points; stop
  // when no assignment changes.
  std::vector<uint8_t> a(n, 0);
  std::vector<double> sw(k), swx(k);
  for (int it = 0; it <= iters; ++it) {
    const bool changed = assign_nearest(w, c, a) || it == 0;
    if (!changed || it == iters) break;
    std::fill(sw.begin(), sw.end(), 0.0);
    std::fill(swx.begin(), swx.end(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      sw[a[i]] += wt[i];
      swx[a[i]] += wt[i] * w[i];
    }
    for (size_t j = 0; j < k; ++j)
      if (sw[j] > 0) c[j] = swx[j] / sw[j];  // an empty cluster keeps its centroid
    std::sort(c.begin(), c.end());
  }
  std::copy(a.begin(), a.end(), codes.begin());
  return {c.begin(), c.end()};
}

std::vector<size_t> dense_and_sparse_positions(std::span<const float> w, std::span<const float> f,
                                               double outlier_fraction, double sensitive_fraction) {
  const size_t n = w.size();
  std::vector<uint8_t> keep(n, 0);
  auto top = [&](double fraction, auto&& key) {
    const auto count = static_cast<size_t>(std::llround(fraction * static_cast<double>(n)));
    if (count == 0) return;
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), size_t{0});
    std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(count - 1), idx.end(),
                     [&](size_t a, size_t b) { return key(a) > key(b); });
    for (size_t i = 0; i < count; ++i) keep[idx[i]] = 1;
  };
  top(outlier_fraction, [&](size_t i) { return std::fabs(w[i]); });
  top(sensitive_fraction, [&](size_t i) { return f[i]; });
  std::vector<size_t> out;
  for (size_t i = 0; i < n; ++i)
    if (keep[i]) out.push_back(i);
  return out;
}

namespace {

class SqueezeLlmPass final : public QuantPass {
 public:
  SqueezeLlmPass(WeightSpecs specs, double sparse, double sensitive, int iters, uint64_t seed,
                 bool progress)
      : specs_(std::move(specs)),
        sparse_(sparse),
        sensitive_(sensitive),
        iters_(iters),
        seed_(seed),
        progress_(progress) {}

  void begin_training(const LlamaModel& model,
                      const std::vector<std::vector<int32_t>>& windows) override {
    fisher_ = train::fisher_diagonal(model, windows, progress_);
  }

  void apply(LayerContext& ctx) override {
    WorkLayer& L = ctx.work;
    WorkLinear* ps[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    auto& fl = fisher_.at(static_cast<size_t>(ctx.index));
    for (size_t i = 0; i < 7; ++i) {
      const int bits = specs_(ctx.index, ps[i]->name).bits;
      if (bits < 16) quantize(*ps[i], fl[i], bits, static_cast<uint64_t>(ctx.index) * 7 + i);
      fl[i] = {};  // consumed
    }
  }

 private:
  void quantize(WorkLinear& p, std::vector<float>& f, int bits, uint64_t salt) {
    const size_t out = static_cast<size_t>(p.out), in = static_cast<size_t>(p.in);
    // Dense-and-sparse: the kept weights do not weigh on the clustering.
    const auto sparse_at = dense_and_sparse_positions(p.w, f, sparse_ - sensitive_, sensitive_);
    for (size_t i : sparse_at) f[i] = 0.0f;
    QuantSpec spec{.bits = bits, .group_size = 0, .codebook = Codebook::kPerRow};
    QuantizedMatrix q = QuantizedMatrix::allocate(out, in, spec);
    const size_t levels = size_t{1} << bits;
    q.codebook.resize(out * levels);
    q.codebook_rows = out;
    for (auto& prm : q.params) prm = {1.0f, 0.0f};
    thread_pool().parallel_for(out, 1, [&](size_t r0, size_t r1) {
      for (size_t r = r0; r < r1; ++r) {
        const auto row = std::span<const float>(p.w).subspan(r * in, in);
        const auto codes = std::span(q.codes).subspan(r * in, in);
        auto c = weighted_kmeans(row, std::span(f).subspan(r * in, in), bits, iters_,
                                 seed_ * 1000003 + salt * 65537 + r, codes);
        // The table is stored in fp16 (SqueezeLLM's own look-up tables are fp16): the codes are
        // re-assigned to the rounded centroids, which keep their order.
        round_to_f16(c);
        assign_nearest(row, std::vector<double>(c.begin(), c.end()), codes);
        std::copy(c.begin(), c.end(), q.codebook.begin() + static_cast<std::ptrdiff_t>(r * levels));
      }
    });
    if (!sparse_at.empty()) {
      // The sparse part holds the difference to the grid, so grid + sparse is the fp16 weight.
      auto ex = std::make_shared<WeightExtras>();
      SparseWeights& s = ex->sparse;
      s.row_ptr.assign(out + 1, 0);
      for (size_t i : sparse_at) {
        const size_t r = i / in;
        const float grid = q.codebook[r * levels + q.codes[i]];
        s.col.push_back(static_cast<uint32_t>(i % in));
        s.value.push_back(p.w[i] - grid);
        ++s.row_ptr[r + 1];
      }
      for (size_t r = 0; r < out; ++r) s.row_ptr[r + 1] += s.row_ptr[r];
      round_to_f16(s.value);
      p.extras = std::move(ex);
    }
    p.q = std::move(q);
  }

  WeightSpecs specs_;
  double sparse_, sensitive_;
  int iters_;
  uint64_t seed_;
  bool progress_;
  train::FisherDiagonal fisher_;
};

}  // namespace

void validate_squeezellm(const QuantizeOptions& o, const ModelConfig&) {
  if (o.weight.bits < 2 || o.weight.bits > 4)
    fail(
        "--method squeezellm: per-channel codebooks of 2..4 bits (16 entries at most); got "
        "--wbits {}",
        o.weight.bits);
  for (const BitsRule& r : o.bits_map.rules())
    if ((r.bits != 16 && (r.bits < 2 || r.bits > 4)) || r.group >= 0)
      fail(
          "--bits-map: rule '{}': squeezellm codebooks have 2..4 bits (or 16) and one table per "
          "row (no group)",
          r.text);
  const double sparse = o.params.real("sparse-fraction"),
               sensitive = o.params.real("sensitive-fraction");
  if (sparse > 0 && sensitive > sparse)
    fail("--sensitive-fraction {} exceeds --sparse-fraction {} (it is a part of it)", sensitive,
         sparse);
}

std::unique_ptr<QuantPass> make_squeezellm_pass(const QuantizeOptions& o) {
  // --sparse-fraction 0 is dense-only, whatever the sensitive share.
  const double sparse = o.params.real("sparse-fraction");
  return std::make_unique<SqueezeLlmPass>(
      o.weight_specs(), sparse, std::min(sparse, o.params.real("sensitive-fraction")),
      static_cast<int>(o.params.integer("squeezellm-iters")), o.seed, o.calib.progress);
}

}  // namespace lowbit
