#include "train/adamw.h"

#include <cmath>
#include <numbers>

#include "core/thread_pool.h"

namespace lowbit::train {

double scheduled_lr(const AdamWOptions& o, size_t step, size_t total) {
  if (step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  const size_t span = total > o.warmup ? total - o.warmup : 1;
  const double progress =
      span > 1 ? static_cast<double>(step - o.warmup) / static_cast<double>(span - 1) : 1.0;
  const double cosine = 0.5 * (1 + std::cos(std::numbers::pi * std::min(progress, 1.0)));
  return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * cosine);
}

bool is_trained(const TensorRef<float>& t, unsigned fr, bool tied) {
  if (tied && (t.kind == ParamKind::kHead || t.kind == ParamKind::kEmbed))
    return !frozen(fr, ParamKind::kHead) && !frozen(fr, ParamKind::kEmbed);
  return !frozen(fr, t.kind);
}

AdamW::AdamW(TrainWeights<float>& w, unsigned fr, const AdamWOptions& options) : o_(options) {
  const bool tied = w.embedding.empty();
  for (const auto& t : tensors_of(w)) {
    const bool on = is_trained(t, fr, tied) && (o_.train_weights || t.clip);
    trained_.push_back(on);
    m_.emplace_back(on ? t.values->size() : 0, 0.0f);
    v_.emplace_back(on ? t.values->size() : 0, 0.0f);
  }
}

double AdamW::step(TrainWeights<float>& w, TrainWeights<float>& grad, double lr) {
  auto params = tensors_of(w);
  auto grads = tensors_of(grad);
  double ss = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!trained_[i]) continue;
    for (const float g : *grads[i].values) ss += static_cast<double>(g) * g;
  }
  const double norm = std::sqrt(ss);
  const double clip = o_.clip_norm > 0 && norm > o_.clip_norm ? o_.clip_norm / (norm + 1e-6) : 1.0;
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(t_));
  const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const double clip_lr = o_.lr > 0 ? lr / o_.lr * o_.clip_lr : o_.clip_lr;
  const float inv_sqrt_bc2 = static_cast<float>(1 / std::sqrt(bc2));
  const float eps = static_cast<float>(o_.eps), scale = static_cast<float>(clip);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!trained_[i]) continue;
    const double rate = params[i].clip ? clip_lr : lr;
    const float step_size = static_cast<float>(rate / bc1);
    const float decay = static_cast<float>(1 - rate * (params[i].clip ? 0.0 : o_.weight_decay));
    float* p = params[i].values->data();
    const float* g = grads[i].values->data();
    float* m = m_[i].data();
    float* v = v_[i].data();
    thread_pool().parallel_for(m_[i].size(), 4096, [&](size_t j0, size_t j1) {
      for (size_t j = j0; j < j1; ++j) {
        const float gj = g[j] * scale;
        p[j] *= decay;
        m[j] = b1 * m[j] + (1 - b1) * gj;
        v[j] = b2 * v[j] + (1 - b2) * gj * gj;
        p[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + eps);
      }
    });
  }
  return norm;
}

}  // namespace lowbit::train
