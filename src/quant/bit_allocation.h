#pragma once
// Automatic per-layer bit allocation (`lowbit quantize --bits-budget B`): like llama.cpp's mixed
// k-quants, but measured on the user's model instead of a fixed recipe. Every projection of every
// layer is quantized alone (round-to-nearest with the run's weight spec at each candidate bit
// width, the rest of the model in full precision) and its sensitivity is the mean KL divergence
// of the model's next-token distributions on the calibration windows against the full-precision
// model's. Assuming the sensitivities add, a greedy then spends the budget: every projection
// starts at the smallest candidate, and the upgrade with the largest KL reduction per extra bit
// (weighted by the projection's size) is taken while the average bits per weight stay within the
// budget. Bits per weight count the codes at their nominal width plus the fp32 scales (and zero
// points) per group, as the uniform formats' budget does; lowbit's packed file stores 2..4-bit
// codes in a 4-bit container and 5..8-bit ones in an 8-bit one (docs/quantization.md).
// Cost: (projections x candidates) passes over the calibration windows, each re-running the
// layers from the measured one on and the head; memory: the full-precision model's probabilities
// (tokens x vocab floats) beside one window's logits.
#include <span>
#include <string>
#include <vector>

#include "model/llama.h"
#include "quant/bits_map.h"

namespace lowbit {

struct BitAllocation {
  BitsMap map;          // one rule per projection
  double average_bits;  // of the chosen allocation
  std::string table;    // Markdown: per projection, the KL at each candidate and the choice
};

// Nominal bits per weight of a projection with `in` inputs at spec `w`.
double nominal_bits_per_weight(const QuantSpec& w, size_t in);

// `base`: the run's weight spec (group, symmetry, clip); candidates ascending, 2..8 or 16.
BitAllocation allocate_bits(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows,
                            const QuantSpec& base, std::span<const int> candidates, double budget,
                            bool progress);

}  // namespace lowbit
