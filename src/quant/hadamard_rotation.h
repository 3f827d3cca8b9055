#pragma once
// Hadamard rotation as in QuaRot (Ashkboos et al., 2024, arXiv 2404.00456): the RMSNorm weights
// are folded into the layers they feed, the residual stream is rotated by one random Hadamard
// matrix Q (embeddings and readers get W Q, writers Q^T W, all folded offline), and the inputs of
// o_proj and down_proj, which no residual rotation reaches, get an online Hadamard transform.
// Needs no calibration data.
#include <memory>

#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// Fails unless a Hadamard matrix of every rotated width exists.
void validate_hadamard_rotation(const QuantizeOptions& options, const ModelConfig& config);
std::unique_ptr<QuantPass> make_hadamard_rotation_pass(const QuantizeOptions& options);

}  // namespace lowbit
