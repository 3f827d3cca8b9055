#include "train/distill_loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/vmath.h"

namespace lowbit::train {
namespace {

// log-sum-exp of x / tau over a row, in double.
template <class V>
double log_sum_exp(const V* x, size_t n, double tau) {
  double mx = static_cast<double>(x[0]);
  for (size_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp((static_cast<double>(x[i]) - mx) / tau);
  return mx / tau + std::log(sum);
}

// The row's softmax at 1 / tau into `out` (kernels::softmax: vectorized exp) and its
// log-sum-exp, recovered from the probability of the largest logit: p_max = exp(0) / sum.
double softmax_lse(const float* z, size_t n, double tau, float* out) {
  std::copy_n(z, n, out);
  kernels::softmax(std::span(out, n), static_cast<float>(1.0 / tau));
  const size_t top = static_cast<size_t>(std::max_element(z, z + n) - z);
  return static_cast<double>(z[top]) / tau - std::log(static_cast<double>(out[top]));
}

// The loss from per-row KL and CE: means over the rows (CE over rows with a target), mixed.
LossValue combine(const std::vector<double>& kl, const std::vector<double>& ce, size_t ce_rows,
                  double w) {
  LossValue out;
  for (size_t r = 0; r < kl.size(); ++r) {
    out.kl += kl[r];
    out.ce += ce[r];
  }
  out.kl /= static_cast<double>(std::max<size_t>(kl.size(), 1));
  out.ce /= static_cast<double>(std::max<size_t>(ce_rows, 1));
  out.loss = (w < 1 ? (1 - w) * out.kl : 0.0) + (w > 0 ? w * out.ce : 0.0);
  return out;
}

}  // namespace

// float: two vectorized softmax passes per row (three when a cross-entropy term needs tau = 1
// and tau != 1); KL from the identity sum_v p_v (log p_v - log q_v) = sum_v p_v (t_v - z_v) / tau
// - lse_t + lse_s, so no logarithm per entry.
template <>
LossValue distill_loss<float>(float* logits, const float* teacher, std::span<const int32_t> targets,
                              size_t vocab, const LossOptions& o) {
  const size_t rows = targets.size();
  const double w = o.ce_weight, tau = o.temperature;
  if (w < 1 && teacher == nullptr) fail("distill_loss: KL needs the teacher's logits");
  size_t ce_rows = 0;
  for (const int32_t t : targets) ce_rows += t >= 0 ? 1 : 0;
  std::vector<double> kl(rows, 0.0), ce(rows, 0.0);
  const float kl_scale = w < 1 ? static_cast<float>((1 - w) * tau / static_cast<double>(rows)) : 0;
  const float ce_scale =
      w > 0 && ce_rows ? static_cast<float>(w / static_cast<double>(ce_rows)) : 0;
  thread_pool().parallel_for(rows, 4, [&](size_t r0, size_t r1) {
    thread_local std::vector<float> p, q, q1;
    p.resize(vocab), q.resize(vocab), q1.resize(vocab);
    for (size_t r = r0; r < r1; ++r) {
      float* z = logits + r * vocab;
      const double lse_s = softmax_lse(z, vocab, tau, q.data());
      const int32_t target = targets[r];
      const bool with_ce = ce_scale > 0 && target >= 0;
      double lse1 = lse_s;
      const float* s1 = q.data();  // softmax at tau = 1
      if ((with_ce || target >= 0) && tau != 1.0) {
        lse1 = softmax_lse(z, vocab, 1.0, q1.data());
        s1 = q1.data();
      }
      if (target >= 0) ce[r] = lse1 - static_cast<double>(z[target]);
      if (w < 1) {
        const float* zt = teacher + r * vocab;
        const double lse_t = softmax_lse(zt, vocab, tau, p.data());
        double dot = 0;
        for (size_t v = 0; v < vocab; ++v)
          dot += static_cast<double>(p[v]) * (static_cast<double>(zt[v]) - z[v]);
        kl[r] = (dot / tau - lse_t + lse_s) * tau * tau;
        for (size_t v = 0; v < vocab; ++v) z[v] = kl_scale * (q[v] - p[v]);
      } else {
        std::fill(z, z + vocab, 0.0f);
      }
      if (with_ce) {
        for (size_t v = 0; v < vocab; ++v) z[v] += ce_scale * s1[v];
        z[target] -= ce_scale;
      }
    }
  });
  return combine(kl, ce, ce_rows, w);
}

// double (gradient checks): every entry in double.
template <class T>
LossValue distill_loss(T* logits, const float* teacher, std::span<const int32_t> targets,
                       size_t vocab, const LossOptions& o) {
  const size_t rows = targets.size();
  const double w = o.ce_weight, tau = o.temperature;
  if (w < 1 && teacher == nullptr) fail("distill_loss: KL needs the teacher's logits");
  size_t ce_rows = 0;
  for (const int32_t t : targets) ce_rows += t >= 0 ? 1 : 0;
  std::vector<double> kl(rows, 0.0), ce(rows, 0.0);
  const double kl_scale = w < 1 ? (1 - w) * tau / static_cast<double>(rows) : 0.0;
  const double ce_scale = w > 0 && ce_rows ? w / static_cast<double>(ce_rows) : 0.0;
  thread_pool().parallel_for(rows, 4, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r) {
      T* z = logits + r * vocab;
      const double lse1 = log_sum_exp(z, vocab, 1.0);
      const double lse_s = tau == 1.0 ? lse1 : log_sum_exp(z, vocab, tau);
      double lse_t = 0;
      const float* zt = teacher ? teacher + r * vocab : nullptr;
      if (w < 1) lse_t = log_sum_exp(zt, vocab, tau);
      const int32_t target = targets[r];
      if (target >= 0) ce[r] = lse1 - static_cast<double>(z[target]);
      double klr = 0;
      for (size_t v = 0; v < vocab; ++v) {
        const double zs = static_cast<double>(z[v]);
        double g = 0;
        if (w < 1) {
          const double log_p = static_cast<double>(zt[v]) / tau - lse_t;
          const double log_q = zs / tau - lse_s;
          const double p = std::exp(log_p);
          klr += p * (log_p - log_q);
          g += kl_scale * (std::exp(log_q) - p);
        }
        if (ce_scale > 0 && target >= 0)
          g += ce_scale * (std::exp(zs - lse1) - (static_cast<int32_t>(v) == target ? 1.0 : 0.0));
        z[v] = static_cast<T>(g);
      }
      kl[r] = klr * tau * tau;
    }
  });
  return combine(kl, ce, ce_rows, w);
}

template <class T>
double sum_nll(const T* logits, std::span<const int32_t> targets, size_t vocab, size_t& counted) {
  std::vector<double> nll(targets.size(), 0.0);
  thread_pool().parallel_for(targets.size(), 4, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; ++r)
      if (targets[r] >= 0) {
        const T* z = logits + r * vocab;
        nll[r] = log_sum_exp(z, vocab, 1.0) - static_cast<double>(z[targets[r]]);
      }
  });
  double sum = 0;
  counted = 0;
  for (size_t r = 0; r < targets.size(); ++r)
    if (targets[r] >= 0) {
      sum += nll[r];
      ++counted;
    }
  return sum;
}

template LossValue distill_loss<double>(double*, const float*, std::span<const int32_t>, size_t,
                                        const LossOptions&);
template double sum_nll<float>(const float*, std::span<const int32_t>, size_t, size_t&);
template double sum_nll<double>(const double*, std::span<const int32_t>, size_t, size_t&);

}  // namespace lowbit::train
