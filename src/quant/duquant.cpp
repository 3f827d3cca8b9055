#include "quant/duquant.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/sgemm.h"
#include "quant/quant_pass.h"
#include "quant/smoothquant.h"

namespace lowbit {

namespace {

// splitmix64: independent, reproducible streams from (seed, index) pairs.
uint64_t mix(uint64_t seed, uint64_t index) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// N(0, 1) draws by Box-Muller from mt19937_64, whose output the standard fixes (so the matrices
// are the same with every standard library).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  double operator()() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    constexpr double kTwoPi = 6.283185307179586476925;
    const double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;          // [0, 1)
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(kTwoPi * u2);
    have_spare_ = true;
    return r * std::cos(kTwoPi * u2);
  }

 private:
  std::mt19937_64 rng_;
  double spare_ = 0.0;
  bool have_spare_ = false;
};

// C = A B for n x n row-major double matrices.
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, size_t n) {
  std::vector<double> c(n * n, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < n; ++k) {
      const double aik = a[i * n + k];
      for (size_t j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

// E_d M E_d: rows and columns 0 and d of M swapped.
template <class T>
std::vector<T> conjugate_by_swap(const std::vector<double>& m, size_t b, size_t d) {
  std::vector<T> s(b * b);
  auto idx = [d](size_t i) { return i == 0 ? d : (i == d ? 0 : i); };
  for (size_t i = 0; i < b; ++i)
    for (size_t j = 0; j < b; ++j) s[i * b + j] = static_cast<T>(m[idx(i) * b + idx(j)]);
  return s;
}

// The peak a step is judged by, and the outlier it picks, over a rows x b matrix.
struct Scan {
  float peak;
  size_t channel;
};

// The paper's rule: d = the column of the largest |x|; peak = max |x| (symmetric) or max - min.
Scan scan_paper(const float* x, size_t rows, size_t b, bool asymmetric) {
  float best = -1.0f, mx = -INFINITY, mn = INFINITY;
  size_t channel = 0;
  for (size_t i = 0; i < rows * b; ++i) {
    const float a = std::fabs(x[i]);
    if (a > best) {
      best = a;
      channel = i % b;
    }
    mx = std::max(mx, x[i]);
    mn = std::min(mn, x[i]);
  }
  return {asymmetric ? mx - mn : best, channel};
}

// The authors' code: argmax and argmin of the values (first occurrence), peak = max - min, and d =
// the row of whichever has the larger magnitude (the min's on a tie), modulo b.
Scan scan_code(const float* x, size_t rows, size_t b) {
  size_t imax = 0, imin = 0;
  for (size_t i = 1; i < rows * b; ++i) {
    if (x[i] > x[imax]) imax = i;
    if (x[i] < x[imin]) imin = i;
  }
  const size_t row = std::fabs(x[imax]) > std::fabs(x[imin]) ? imax / b : imin / b;
  return {x[imax] - x[imin], row % b};
}

// The greedy search over one rows x b matrix (row-major, contiguous): returns the kept step
// matrices' product R (b x b, double), and leaves `x` untouched.
std::vector<double> greedy_search(const float* x, size_t rows, size_t b,
                                  const std::vector<double>& step, const DuQuantOptions& o) {
  std::vector<float> work(x, x + rows * b), next(rows * b);
  std::vector<size_t> channels;
  std::vector<float> peaks;
  for (int s = 0;; ++s) {
    const Scan scan = o.code_compat ? scan_code(work.data(), rows, b)
                                    : scan_paper(work.data(), rows, b, o.asymmetric);
    peaks.push_back(scan.peak);
    if (s == o.max_steps) break;
    channels.push_back(scan.channel);
    const auto sd = conjugate_by_swap<float>(step, b, scan.channel);
    kernels::sgemm_nn_serial(rows, b, b, work.data(), b, sd.data(), b, next.data(), b);
    work.swap(next);
  }
  // The prefix of steps with the lowest peak (the first such, as torch.argmin).
  const size_t keep =
      static_cast<size_t>(std::min_element(peaks.begin(), peaks.end()) - peaks.begin());
  std::vector<double> R(b * b, 0.0);
  for (size_t i = 0; i < b; ++i) R[i * b + i] = 1.0;
  for (size_t s = 0; s < keep; ++s)
    R = matmul(R, conjugate_by_swap<double>(step, b, channels[s]), b);
  return R;
}

// x (rows x b, row stride `stride`) <- x R, accumulated in double.
void apply_rotation(float* x, size_t rows, size_t stride, const std::vector<double>& R, size_t b) {
  std::vector<double> row(b);
  for (size_t i = 0; i < rows; ++i) {
    float* xr = x + i * stride;
    std::fill(row.begin(), row.end(), 0.0);
    for (size_t k = 0; k < b; ++k) {
      const double v = xr[k];
      for (size_t j = 0; j < b; ++j) row[j] += v * R[k * b + j];
    }
    for (size_t j = 0; j < b; ++j) xr[j] = static_cast<float>(row[j]);
  }
}

}  // namespace

std::vector<double> uniform_first_row_rotation(size_t block) {
  // H = I - 2 v v^T / (v^T v), v = e_0 - u, u = 1/sqrt(b): H e_0 = u.
  std::vector<double> v(block, 1.0 / std::sqrt(static_cast<double>(block)));
  v[0] -= 1.0;
  double vv = 0.0;
  for (double e : v) vv += e * e;
  std::vector<double> h(block * block);
  for (size_t i = 0; i < block; ++i)
    for (size_t j = 0; j < block; ++j)
      h[i * block + j] = (i == j ? 1.0 : 0.0) - 2.0 * v[i] * v[j] / vv;
  return h;
}

std::vector<double> authors_uniform_rotation(size_t block) {
  const size_t n = block;
  std::vector<double> R(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) R[i * n + i] = 1.0;
  // R <- G_i R: only rows i and i + 1 change.
  for (size_t i = 0; i + 1 < n; ++i) {
    const double c = 1.0 / std::sqrt(static_cast<double>(i + 2));
    const double s = std::sqrt(static_cast<double>(i + 1)) / std::sqrt(static_cast<double>(i + 2));
    for (size_t j = 0; j < n; ++j) {
      const double a = R[i * n + j], b = R[(i + 1) * n + j];
      R[i * n + j] = c * a - s * b;
      R[(i + 1) * n + j] = s * a + c * b;
    }
  }
  return conjugate_by_swap<double>(R, n, n - 1);
}

std::vector<double> random_orthogonal(size_t n, uint64_t seed, bool sign_correction) {
  Gaussian gauss(seed);
  std::vector<double> a(n * n);
  for (double& v : a) v = gauss();
  // Householder QR as LAPACK's dgeqrf does it: for column k, beta = -sign(alpha) ||x||,
  // v = x / (alpha - beta) with v_0 = 1, tau = (beta - alpha) / beta, R_kk = beta.
  std::vector<std::vector<double>> vs(n);
  std::vector<double> taus(n, 0.0), diag(n, 0.0);
  for (size_t k = 0; k < n; ++k) {
    double xnorm2 = 0.0;
    for (size_t i = k + 1; i < n; ++i) xnorm2 += a[i * n + k] * a[i * n + k];
    const double alpha = a[k * n + k];
    std::vector<double> v(n - k, 0.0);
    v[0] = 1.0;
    if (xnorm2 == 0.0) {
      diag[k] = alpha;
      vs[k] = std::move(v);
      continue;
    }
    const double beta = -std::copysign(std::sqrt(alpha * alpha + xnorm2), alpha);
    taus[k] = (beta - alpha) / beta;
    for (size_t i = k + 1; i < n; ++i) v[i - k] = a[i * n + k] / (alpha - beta);
    diag[k] = beta;
    // A[k:, k+1:] <- (I - tau v v^T) A[k:, k+1:]
    for (size_t j = k + 1; j < n; ++j) {
      double d = 0.0;
      for (size_t i = k; i < n; ++i) d += v[i - k] * a[i * n + j];
      d *= taus[k];
      for (size_t i = k; i < n; ++i) a[i * n + j] -= d * v[i - k];
    }
    vs[k] = std::move(v);
  }
  // Q = H_0 H_1 ... H_{n-1}, applied to the identity from the right end.
  std::vector<double> q(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) q[i * n + i] = 1.0;
  for (size_t kk = n; kk-- > 0;) {
    const auto& v = vs[kk];
    for (size_t j = 0; j < n; ++j) {
      double d = 0.0;
      for (size_t i = kk; i < n; ++i) d += v[i - kk] * q[i * n + j];
      d *= taus[kk];
      for (size_t i = kk; i < n; ++i) q[i * n + j] -= d * v[i - kk];
    }
  }
  if (sign_correction)
    for (size_t j = 0; j < n; ++j)
      if (diag[j] < 0)
        for (size_t i = 0; i < n; ++i) q[i * n + j] = -q[i * n + j];
  return q;
}

std::vector<double> greedy_step_matrix(size_t block, uint64_t seed, bool code_compat) {
  const size_t b = block;
  const auto rt = code_compat ? authors_uniform_rotation(b) : uniform_first_row_rotation(b);
  if (b == 1) return rt;
  const auto q = random_orthogonal(b - 1, seed, !code_compat);
  // M = R~ diag(1, Q'): column 0 of R~ stays, columns 1.. are mixed by Q'.
  std::vector<double> m(b * b, 0.0);
  for (size_t i = 0; i < b; ++i) {
    m[i * b] = rt[i * b];
    for (size_t k = 1; k < b; ++k) {
      const double r = rt[i * b + k];
      for (size_t j = 1; j < b; ++j) m[i * b + j] += r * q[(k - 1) * (b - 1) + (j - 1)];
    }
  }
  return m;
}

std::vector<float> greedy_block_rotation(std::span<float> x, size_t rows, size_t dim,
                                         const DuQuantOptions& o) {
  if (o.block == 0 || dim % o.block != 0)
    fail("DuQuant block size {} does not divide the {} channels", o.block, dim);
  const size_t blocks = dim / o.block, b = o.block;
  // One random factor per greedy call (per site and R1/R2), as the authors draw it.
  const auto step = greedy_step_matrix(b, o.seed, o.code_compat);
  std::vector<float> matrices(blocks * b * b);
  if (o.code_compat) {
    // rows x dim viewed as (rows * blocks) x b: every block's rows fit one shared rotation.
    const auto R = greedy_search(x.data(), rows * blocks, b, step, o);
    apply_rotation(x.data(), rows * blocks, b, R, b);
    for (size_t k = 0; k < blocks; ++k)
      std::transform(R.begin(), R.end(), matrices.begin() + static_cast<std::ptrdiff_t>(k * b * b),
                     [](double v) { return static_cast<float>(v); });
    return matrices;
  }
  thread_pool().run(blocks, [&](size_t k) {
    std::vector<float> block(rows * b);
    for (size_t r = 0; r < rows; ++r)
      std::copy_n(x.data() + r * dim + k * b, b, block.data() + r * b);
    const auto R = greedy_search(block.data(), rows, b, step, o);
    apply_rotation(x.data() + k * b, rows, dim, R, b);
    std::transform(R.begin(), R.end(), matrices.begin() + static_cast<std::ptrdiff_t>(k * b * b),
                   [](double v) { return static_cast<float>(v); });
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
  DuQuantOptions r1 = o, r2 = o;
  r1.seed = mix(o.seed, 1);
  r2.seed = mix(o.seed, 2);
  t.add_block_rotation(o.block, greedy_block_rotation(x, rows, dim, r1));
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
  t.add_block_rotation(o.block, greedy_block_rotation(permuted, rows, dim, r2));
  return t;
}

namespace {

// Smoothing + rotation + zigzag permutation + rotation per site, applied online to the input and
// folded into the weights of the site's consumers.
class DuQuantPass final : public QuantPass {
 public:
  explicit DuQuantPass(DuQuantOptions options) : options_(options) {}

  bool needs_quantized_sequence() const override { return options_.mean_sequence; }

  void apply(LayerContext& ctx) override {
    if (options_.mean_sequence && !ctx.sequence)
      fail("DuQuant: --duquant-mean-seq but the pipeline gave no mean sequence");
    for (ActivationSite site : kSites) {
      const auto& s = ctx.stats[static_cast<size_t>(site)];
      // Smoothing reads the per-channel maxima over every calibration token (the authors' act
      // scales); the rotations are fitted on the sampled rows or on the mean sequence.
      const auto& fit = options_.mean_sequence ? (*ctx.sequence)[static_cast<size_t>(site)] : s;
      auto consumers = ctx.work.at(site);
      DuQuantOptions o = options_;  // the random factors: a stream per layer and site
      o.seed =
          mix(mix(options_.seed, static_cast<uint64_t>(ctx.index)), static_cast<uint64_t>(site));
      auto t = std::make_shared<ActivationTransform>(build_duquant_transform(
          fit.rows, fit.num_rows(), s.dim, s.absmax, column_absmax(consumers), o));
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
  d.code_compat = o.params.enabled("duquant-code-compat");
  d.mean_sequence = o.params.enabled("duquant-mean-seq");
  d.asymmetric = !o.act.symmetric;
  d.alpha = static_cast<float>(o.params.real("alpha"));
  d.seed = o.seed;
  return std::make_unique<DuQuantPass>(d);
}

}  // namespace lowbit
