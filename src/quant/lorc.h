#pragma once
// LoRC, low-rank compensation (Yao et al. 2023, ZeroQuant-V2): after any weight quantizer, the
// error E = W - W_q of each projection is approximated by its best rank-r factorisation from the
// SVD, E ~ U_r S_r V_r^T = (U_r S_r^1/2)(S_r^1/2 V_r^T), and the two factors are added as a small
// side product (layers/weight_extras.h), y += (x V^T) U^T. The factors are stored in fp16 and
// count in the layer's bits per weight: r (in + out) 16 bits per projection.
#include <memory>

#include "model/config.h"
#include "quant/work_layer.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// Adds the rank-`rank` compensation of p's quantization error (p.q must be set) to p.extras.
void add_low_rank_compensation(WorkLinear& p, size_t rank, uint64_t seed);

std::unique_ptr<QuantPass> make_lorc_pass(const QuantizeOptions& options);

}  // namespace lowbit
