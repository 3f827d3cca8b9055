#pragma once
// The distillation loss of KD-QAT and its gradient with respect to the student's logits.
//
// With temperature tau, p = softmax(z_teacher / tau) and q = softmax(z_student / tau):
//   KL  = tau^2 * mean over positions of sum_v p_v (log p_v - log q_v)   (Hinton et al.'s scaling,
//         so the gradient's size does not change with tau: dKL/dz = tau (q - p) / N),
//   CE  = mean over positions with a next token of -log softmax(z_student)[target],
//   loss = (1 - ce_weight) KL + ce_weight CE.
#include <cstdint>
#include <span>

namespace lowbit::train {

struct LossOptions {
  double temperature = 1.0;
  double ce_weight = 0.0;  // 0: pure KL to the teacher; 1: pure next-token cross-entropy
};

struct LossValue {
  double loss = 0, kl = 0, ce = 0;
};

// logits: [rows, vocab] student logits, replaced by dloss/dlogits. teacher: [rows, vocab] (may be
// null when ce_weight is 1). targets: [rows], the next token of each position or -1 for none.
template <class T>
LossValue distill_loss(T* logits, const float* teacher, std::span<const int32_t> targets,
                       size_t vocab, const LossOptions& options);

// Negative log-likelihood of targets[r] under logits row r, summed over rows with a target; the
// count of those rows goes to `counted`. Logits are not modified.
template <class T>
double sum_nll(const T* logits, std::span<const int32_t> targets, size_t vocab, size_t& counted);

}  // namespace lowbit::train
