#pragma once
// LWC, OmniQuant's learnable weight clipping (Shao et al., ICLR 2024, arXiv 2308.13137, Sec. 3.2),
// as the block-wise post-training pass OmniQuant runs and DuQuant reuses for its "DuQuant + LWC"
// rows (Lin et al. 2024, Sec. 4): per decoder layer, per output channel (or group), a clipping
// logit for each end of the weight grid, trained with AdamW so that the quantized layer's output
// matches the full-precision layer's output (mean squared error), then the weights are rounded on
// the learned grid. What OmniQuant's code does, and lowbit with it:
//  - the target is the full-precision layer applied to the full-precision model's hidden states;
//    the student input is the hidden states of the already-quantized earlier layers;
//  - weights stay fixed; only the logits train (lr --lwc-lr, default 1e-2, no weight decay, no
//    schedule), batch 1, --lwc-epochs passes (default 20) over the calibration windows in order;
//  - activations, keys, values and queries are fake-quantized as the model will run them, so the
//    clipping learns what W4A4 needs.
// lowbit differs where OmniQuant's bounds are sigmoid(gamma) max(W): the logits scale the ends of
// the round-to-nearest start's grid (train/fake_quant.h), which is min-max with --no-mse-clip and
// MSE-clipped by default; OmniQuant's initial 4.0 gives sigmoid(4) = 0.982 of min-max instead.
//
// It runs after the weight quantizer, which must be rtn: LWC learns the clipping of rounding to
// nearest (GPTQ's error feedback and AWQ's scales rewrite the weights it would start from).
#include <memory>

#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

void validate_lwc(const QuantizeOptions& options, const ModelConfig& config);
std::unique_ptr<QuantPass> make_lwc_pass(const QuantizeOptions& options);

}  // namespace lowbit
