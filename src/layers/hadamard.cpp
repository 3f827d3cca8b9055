#include "layers/hadamard.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>

#include "core/error.h"

namespace lowbit {
namespace {

enum class PaleyKind { kNone, kOne, kTwo };

bool is_prime(size_t v) {
  if (v < 2) return false;
  if (v % 2 == 0) return v == 2;
  for (size_t d = 3; d <= v / d; d += 2)
    if (v % d == 0) return false;
  return true;
}

// Paley I is preferred when both apply (e.g. m = 12: q = 11 or q = 5); either is a Hadamard matrix.
PaleyKind paley_kind(size_t m) {
  // The character table squares residues below q in 64 bits; far larger orders are useless anyway.
  if (m < 4 || m > (size_t{1} << 32)) return PaleyKind::kNone;
  if ((m - 1) % 4 == 3 && is_prime(m - 1)) return PaleyKind::kOne;
  if (m % 2 == 0 && (m / 2 - 1) % 4 == 1 && is_prime(m / 2 - 1)) return PaleyKind::kTwo;
  return PaleyKind::kNone;
}

size_t paley_q(size_t m, PaleyKind kind) {
  return kind == PaleyKind::kOne ? m - 1 : m / 2 - 1;
}

// chi(k) for k < q: 0 at 0, +1 on the nonzero squares of GF(q), -1 elsewhere.
std::vector<int8_t> quadratic_character(size_t q) {
  std::vector<int8_t> chi(q, -1);
  chi[0] = 0;
  // x and q - x have the same square, so x <= q / 2 reaches every nonzero square.
  for (size_t x = 1; x <= q / 2; ++x) chi[x * x % q] = 1;
  return chi;
}

// H_m of the given Paley kind as +-1 entries, m x m row-major.
std::vector<int8_t> paley_matrix(size_t m, PaleyKind kind) {
  const size_t q = paley_q(m, kind);
  const auto chi = quadratic_character(q);
  // chi(to - from) over GF(q), the Jacobsthal entry Q[from][to].
  const auto jacobsthal = [&](size_t from, size_t to) { return chi[(to + q - from) % q]; };
  std::vector<int8_t> h(m * m);
  if (kind == PaleyKind::kOne) {
    // H = I + C with the skew conference matrix C = [[0, 1^T], [-1, Q]] (Q is skew because
    // chi(-1) = -1 when q = 3 mod 4): H H^T = I + C C^T = (q + 1) I.
    for (size_t a = 0; a < m; ++a)
      for (size_t c = 0; c < m; ++c) {
        int8_t v;
        if (a == c || a == 0) {
          v = 1;
        } else if (c == 0) {
          v = -1;
        } else {
          v = jacobsthal(a - 1, c - 1);
        }
        h[a * m + c] = v;
      }
  } else {
    // Symmetric conference matrix C = [[0, 1^T], [1, Q]] (Q symmetric as chi(-1) = 1 when
    // q = 1 mod 4), each entry expanded to a 2x2 block.
    const size_t k = q + 1;
    for (size_t u = 0; u < k; ++u)
      for (size_t v = 0; v < k; ++v) {
        const int8_t c = u == v ? 0 : (u == 0 || v == 0) ? 1 : jacobsthal(u - 1, v - 1);
        for (size_t s = 0; s < 2; ++s)
          for (size_t t = 0; t < 2; ++t) {
            int8_t e;
            if (c == 0) {
              e = (s == 0 && t == 0) ? 1 : -1;  // [[1, -1], [-1, -1]]
            } else {
              e = static_cast<int8_t>((s == 1 && t == 1) ? -c : c);  // c * [[1, 1], [1, -1]]
            }
            h[(2 * u + s) * m + 2 * v + t] = e;
          }
      }
  }
  return h;
}

// x <- x * H_p (unnormalized Sylvester, H_p[i][j] = (-1)^popcount(i & j)) for p a power of two.
void fwht(float* x, size_t p) {
  for (size_t h = 1; h < p; h *= 2)
    for (size_t i = 0; i < p; i += 2 * h)
      for (size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
}

// y = x * H_m for one vector of length m, without forming H_m. Both Paley matrices are built from
// the Jacobsthal matrix, which is circulant over GF(q), so each product reduces to a circulant
// correlation with chi, read from a doubled table as contiguous slices. O(m^2) time, O(m) memory.
class PaleyFactor {
 public:
  PaleyFactor(size_t m, PaleyKind kind) : m_(m), kind_(kind), q_(paley_q(m, kind)) {
    const auto chi = quadratic_character(q_);
    table_.resize(2 * q_);
    for (size_t k = 0; k < 2 * q_; ++k) table_[k] = chi[k % q_];
    const size_t k = q_ + 1;
    corr_a_.resize(q_);
    if (kind_ == PaleyKind::kTwo) {
      sum_.resize(k);
      diff_.resize(k);
      corr_b_.resize(q_);
    }
  }

  void apply(const float* x, float* y) {
    if (kind_ == PaleyKind::kOne) {
      // Column 0 of H is (1, -1, ..., -1); column 1 + j is 1 in row 0, then I + Q.
      correlate(x + 1, corr_a_.data());
      float rest = 0;
      for (size_t a = 1; a < m_; ++a) rest += x[a];
      y[0] = x[0] - rest;
      for (size_t j = 0; j < q_; ++j) y[1 + j] = x[0] + x[1 + j] + corr_a_[j];
      return;
    }
    // Paley II: with S_u = x[2u] + x[2u+1] and D_u = x[2u] - x[2u+1], an off-diagonal block
    // c * [[1, 1], [1, -1]] contributes (c S_u, c D_u) to output pair v, and the diagonal block
    // [[1, -1], [-1, -1]] contributes (D_v, -S_v).
    const size_t k = q_ + 1;
    for (size_t u = 0; u < k; ++u) {
      sum_[u] = x[2 * u] + x[2 * u + 1];
      diff_[u] = x[2 * u] - x[2 * u + 1];
    }
    correlate(sum_.data() + 1, corr_a_.data());
    correlate(diff_.data() + 1, corr_b_.data());
    float sum_rest = 0, diff_rest = 0;
    for (size_t u = 1; u < k; ++u) {
      sum_rest += sum_[u];
      diff_rest += diff_[u];
    }
    y[0] = diff_[0] + sum_rest;
    y[1] = diff_rest - sum_[0];
    for (size_t j = 0; j < q_; ++j) {
      y[2 * (j + 1)] = diff_[j + 1] + sum_[0] + corr_a_[j];
      y[2 * (j + 1) + 1] = diff_[0] - sum_[j + 1] + corr_b_[j];
    }
  }

 private:
  // out[j] = sum_i chi(j - i) z[i]. The loop runs over j innermost so it is a contiguous axpy.
  void correlate(const float* z, float* out) const {
    std::fill(out, out + q_, 0.0f);
    for (size_t i = 0; i < q_; ++i) {
      const float zi = z[i];
      const float* row = table_.data() + q_ - i;  // row[j] = chi(j - i)
      for (size_t j = 0; j < q_; ++j) out[j] += zi * row[j];
    }
  }

  size_t m_;
  PaleyKind kind_;
  size_t q_;
  std::vector<float> table_;  // chi(k mod q) for k < 2q
  std::vector<float> sum_, diff_, corr_a_, corr_b_;
};

float plan_scale(const HadamardPlan& plan) {
  return static_cast<float>(
      1.0 / std::sqrt(static_cast<double>(plan.block_diagonal ? plan.pow2 : plan.n)));
}

}  // namespace

std::string HadamardPlan::describe() const {
  if (block_diagonal) {
    if (pow2 == 1) return fmt::format("identity (n = {} is odd: no Hadamard block fits)", n);
    return fmt::format("block-diagonal: {} blocks of Sylvester H_{} (no Paley order fits {})", m,
                       pow2, n);
  }
  if (m == 1) return fmt::format("Sylvester H_{}", n);
  const PaleyKind kind = paley_kind(m);
  std::string s = fmt::format("Paley {} H_{} (q = {})", kind == PaleyKind::kOne ? "I" : "II", m,
                              paley_q(m, kind));
  if (pow2 > 1) s += fmt::format(" (x) Sylvester H_{}", pow2);
  return s;
}

HadamardPlan plan_hadamard(size_t n) {
  if (n == 0) fail("Hadamard rotation of size 0");
  const size_t pow2 = size_t{1} << std::countr_zero(n);
  const size_t odd = n / pow2;
  if (odd == 1) return {n, 1, n, false};
  // The smallest Paley factor keeps the O(n * m) part of the fast transform cheapest.
  for (size_t m = odd;; m *= 2) {
    if (paley_kind(m) != PaleyKind::kNone) return {n, m, n / m, false};
    if (m == n) break;
  }
  return {n, odd, pow2, true};
}

std::vector<float> random_hadamard_matrix(size_t n, uint64_t seed) {
  const HadamardPlan plan = plan_hadamard(n);
  const size_t m = plan.m, p = plan.pow2;
  // The m x m factor: Paley's matrix, or the identity for Sylvester (m == 1) and the fallback.
  std::vector<int8_t> factor;
  if (!plan.block_diagonal && m > 1) {
    factor = paley_matrix(m, paley_kind(m));
  } else {
    factor.assign(m * m, 0);
    for (size_t i = 0; i < m; ++i) factor[i * m + i] = 1;
  }
  std::vector<float> sign(n, 1.0f);
  if (seed != 0) {
    std::mt19937_64 rng(seed);
    for (auto& s : sign) s = (rng() >> 63) != 0 ? -1.0f : 1.0f;
  }
  const float scale = plan_scale(plan);
  std::vector<float> q(n * n, 0.0f);
  // Entry ((a, b), (c, d)) of H_m (x) H_p, with row a * p + b and column c * p + d.
  for (size_t a = 0; a < m; ++a)
    for (size_t b = 0; b < p; ++b) {
      const size_t row = a * p + b;
      float* dst = q.data() + row * n;
      for (size_t c = 0; c < m; ++c) {
        const int8_t h = factor[a * m + c];
        if (h == 0) continue;
        const float v = static_cast<float>(h) * sign[row] * scale;
        for (size_t d = 0; d < p; ++d) dst[c * p + d] = (std::popcount(b & d) & 1) != 0 ? -v : v;
      }
    }
  return q;
}

void hadamard_transform_rows(std::span<float> x, size_t rows, size_t n) {
  const HadamardPlan plan = plan_hadamard(n);
  if (x.size() != rows * n)
    fail("Hadamard transform of {} rows of {} got {} values", rows, n, x.size());
  const size_t m = plan.m, p = plan.pow2;
  const float scale = plan_scale(plan);
  const bool paley = !plan.block_diagonal && m > 1;
  if (!paley) {
    // Sylvester, or I_m (x) H_p: a Walsh-Hadamard transform of every block of p.
    for (size_t r = 0; r < rows; ++r) {
      float* row = x.data() + r * n;
      for (size_t a = 0; a < m; ++a) fwht(row + a * p, p);
      for (size_t i = 0; i < n; ++i) row[i] *= scale;
    }
    return;
  }
  // Row viewed as X (m x p): x * (H_m (x) H_p) = H_m^T X H_p. The Paley factor works on columns
  // of X, so they are transposed into contiguous vectors of length m first.
  PaleyFactor factor(m, paley_kind(m));
  std::vector<float> cols(n), out(n);
  for (size_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * n;
    for (size_t a = 0; a < m; ++a) fwht(row + a * p, p);
    for (size_t a = 0; a < m; ++a)
      for (size_t d = 0; d < p; ++d) cols[d * m + a] = row[a * p + d];
    for (size_t d = 0; d < p; ++d) factor.apply(cols.data() + d * m, out.data() + d * m);
    for (size_t c = 0; c < m; ++c)
      for (size_t d = 0; d < p; ++d) row[c * p + d] = out[d * m + c] * scale;
  }
}

}  // namespace lowbit
