#pragma once
// Knowledge-distillation quantization-aware training (KD-QAT; "Oh! We Freeze", Bhardwaj et al.,
// arXiv 2403.18159, and LLM-QAT, Liu et al., arXiv 2305.17888): the full-precision model is the
// teacher, the fake-quantized student starts from a PTQ result and learns to match the teacher's
// next-token distributions (distill_loss.h) on windows of text. `frozen` keeps whole projection
// kinds at their quantized starting values (ov-freeze: o and v).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <vector>

#include "model/llama.h"
#include "train/adamw.h"
#include "train/distill_loss.h"
#include "train/train_weights.h"

namespace lowbit::train {

struct QatOptions {
  size_t steps = 0, batch = 4, seq = 256;
  AdamWOptions adam;
  LossOptions loss;
  unsigned frozen = 0;  // parse_freeze
  uint64_t seed = 0;
  size_t eval_every = 0;    // held-out perplexity every K steps (0: at the start and end only)
  size_t eval_windows = 8;  // held-out windows of `seq` tokens per evaluation
  size_t checkpoint_every = 0;
  std::filesystem::path checkpoint;  // where checkpoints go (empty: none)
  bool resume = false;               // continue from `checkpoint`
  bool recompute = false;            // activation recomputation (train_model.h)
  bool progress = true;
};

struct QatStepLog {
  size_t step = 0;
  double lr = 0, loss = 0, kl = 0, ce = 0, grad_norm = 0;
};

struct QatEvalLog {
  size_t step = 0;
  double perplexity = 0;
  size_t tokens = 0;
};

inline constexpr size_t kProjections = 7;  // q, k, v, o, gate, up, down (ParamKind order)

struct QatReport {
  std::vector<QatStepLog> steps;
  std::vector<QatEvalLog> evals;
  // The squared Frobenius norm of every projection's weight gradient before clipping, per step:
  // grad_sq[step][layer * kProjections + projection]; -1 for frozen projections.
  std::vector<std::vector<double>> grad_sq;
  size_t start_step = 0;  // > 0 after --resume
  double seconds = 0, teacher_seconds = 0;
  size_t tokens = 0;  // student tokens trained on in this run
};

// The batch of step `step`: `batch` windows of `seq` tokens at offsets drawn from a generator
// seeded by (seed, step), so a resumed run sees the windows the uninterrupted one would.
std::vector<int32_t> training_batch(std::span<const int32_t> data, size_t batch, size_t seq,
                                    uint64_t seed, size_t step);

// Perplexity of the student on the first `windows` non-overlapping windows of `seq` tokens of
// `tokens` (the NLL of tokens 1..seq-1 of each window).
QatEvalLog heldout_perplexity(TrainWeights<float>& student, std::span<const int32_t> tokens,
                              size_t seq, size_t windows);

// Trains `student` in place. `data` and `heldout` are token streams; throws before any training
// when they are too short for one window.
QatReport run_kd_qat(LlamaModel& teacher, TrainWeights<float>& student,
                     std::span<const int32_t> data, std::span<const int32_t> heldout,
                     const QatOptions& options);

// LLM-QAT's data-free variant: `count` sequences of `seq` tokens sampled from the teacher, each
// from a random first token (temperature 1, the full distribution), concatenated.
std::vector<int32_t> generate_teacher_data(LlamaModel& teacher, size_t count, size_t seq,
                                           uint64_t seed, bool progress);

}  // namespace lowbit::train
