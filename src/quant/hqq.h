#pragma once
// HQQ, half-quadratic quantization (Badri and Shaji 2023, mobiusml/hqq): data-free. Per group the
// asymmetric grid starts from the group's min / max; then the zero point is optimised against an
// l_p error (p < 1, robust to the few large weights) with a half-quadratic solver: alternately
//   W_e = shrink_p(W - dequant(W_q), beta)          (the sparse error, a generalised soft
//   threshold) z   = mean(W_q - (W - W_e) / s)                  (the zero point's closed-form
//   update)
// with beta growing by kappa each step, stopping when the mean |error| stops improving. Zero
// points stay fractional (QuantParams::zero is a float; the packed layer folds the fraction out).
#include <memory>
#include <span>

#include "layers/quantizer.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

struct HqqSettings {
  float lp_norm = 0.7f;  // p of the l_p error (the reference's opt_params lp_norm)
  float beta = 10.0f;    // initial penalty (beta)
  float kappa = 1.01f;   // beta's growth per iteration (kappa)
  int iters = 20;        // at most (iters)
};

// Quantizes rows x cols weights with bits (2..8) per group of group_size (0: the whole row),
// asymmetric, zero points optimised as above. The spec in the result is asymmetric.
QuantizedMatrix hqq_quantize(std::span<const float> w, size_t rows, size_t cols,
                             const QuantSpec& spec, const HqqSettings& settings);

std::unique_ptr<QuantPass> make_hqq_pass(const QuantizeOptions& options);

}  // namespace lowbit
