#pragma once
// SmoothQuant (Xiao et al., ICML 2023, arXiv 2211.10438): migrates the activations' outlier range
// into the weights with per-channel scales s_j = max|X_j|^alpha / max|W_j|^(1-alpha), folded into
// the operation that produces each input (RMSNorm weights, up_proj rows, v_proj rows), so nothing
// extra runs online.
#include <memory>
#include <span>
#include <vector>

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// SmoothQuant's scales s_j = max|X_j|^alpha / max|W_j|^(1-alpha), clamped to [1e-5, 1e5] (DuQuant
// smooths with them too).
std::vector<float> smoothing_scales(std::span<const float> act_absmax,
                                    std::span<const float> weight_absmax, float alpha);

std::unique_ptr<QuantPass> make_smoothquant_pass(const QuantizeOptions& options);

}  // namespace lowbit
