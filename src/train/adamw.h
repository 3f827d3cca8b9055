#pragma once
// AdamW (Loshchilov & Hutter; PyTorch's torch.optim.AdamW update and defaults) over the trainable
// tensors of a model, with global gradient-norm clipping and a learning-rate schedule of linear
// warm-up then cosine decay.
#include <cstddef>
#include <vector>

#include "train/train_weights.h"

namespace lowbit::train {

struct AdamWOptions {
  double lr = 5e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;  // decoupled: w <- w - lr * wd * w
  double clip_norm = 1.0;      // global gradient norm limit; 0 = no clipping
  size_t warmup = 0;           // steps of linear warm-up from lr / warmup
  double min_lr_ratio = 0.1;   // cosine decay from lr to lr * min_lr_ratio at the last step
  // Learned clipping logits: their own peak rate (OmniQuant's LWC trains them at 1e-2 — a logit
  // moves in units of 1, a weight in units of 1e-2), same schedule, no weight decay.
  double clip_lr = 5e-3;
  // false: only the learned clipping logits train (LWC's block-wise pass, quant/lwc.h).
  bool train_weights = true;
};

// The learning rate of step `step` (0-based) of `total`.
double scheduled_lr(const AdamWOptions& o, size_t step, size_t total);

class AdamW {
 public:
  // Moments for every tensor of `w` not in `frozen` (parse_freeze).
  AdamW(TrainWeights<float>& w, unsigned frozen, const AdamWOptions& options);

  // Clips the gradient to the global norm, then updates the trainable tensors with learning rate
  // lr. Returns the gradient's norm before clipping.
  double step(TrainWeights<float>& w, TrainWeights<float>& grad, double lr);

  size_t steps_taken() const { return t_; }
  // The moments in tensors_of order (checkpoints save and restore them).
  std::vector<std::vector<float>>& first_moments() { return m_; }
  std::vector<std::vector<float>>& second_moments() { return v_; }
  void set_steps_taken(size_t t) { t_ = t; }
  // Whether tensor i of tensors_of(w) is trained.
  const std::vector<bool>& trained() const { return trained_; }

 private:
  AdamWOptions o_;
  std::vector<bool> trained_;
  std::vector<std::vector<float>> m_, v_;  // empty for frozen tensors
  size_t t_ = 0;
};

// The trainable tensors named by `frozen` for a model whose table may be tied to its head.
bool is_trained(const TensorRef<float>& t, unsigned frozen, bool tied);

}  // namespace lowbit::train
