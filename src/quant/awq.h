#pragma once
// AWQ (Lin et al., MLSys 2024, arXiv 2306.00978): activation-aware weight scales. Per input site,
// s_j = mean|x_j|^r with r searched on a grid of 21 points in [0, 1] for the smallest output error
// of the quantized consumers on sampled calibration rows; the weights are scaled by s (then
// quantized with RTN) and the input is divided by s online. Weight-only: it assumes
// full-precision activations.
#include <memory>

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

std::unique_ptr<QuantPass> make_awq_pass(const QuantizeOptions& options);

}  // namespace lowbit
