#pragma once
// Automatic per-layer bit allocation (`lowbit quantize --bits-budget B`): like llama.cpp's mixed
// k-quants, but measured on the user's model instead of a fixed recipe. Every projection of every
// layer is quantized alone (round-to-nearest with the run's weight spec at each candidate bit
// width, the rest of the model in full precision) and its sensitivity is the mean KL divergence
// of the model's next-token distributions on the calibration windows against the full-precision
// model's. Assuming the sensitivities add, a greedy then spends the budget: every projection
// starts at its cheapest candidate, and the upgrade with the largest KL reduction per extra bit
// (weighted by the projection's size) is taken while the average bits per weight stay within the
// budget. Candidates are formats: a bit width and optionally a group size of its own (4g0: 4 bits
// with one scale per row; 4g32; plain 4: the run's --group), so the budget can buy finer groups as
// well as more bits.
// Bits per weight are counted one of two ways:
//   stored   (the default) what the .lowbit file holds, as `lowbit inspect` reports it: the
//            packed blob with its codes in their container (their own width, bit-plane packed
//            for 2, 3, 5 and 6; 7 bits in 8), fp32 scales and 8-bit zero points per group, header
//            and alignment; full precision as fp32.
//   nominal  codes at their nominal width plus the scales and zero points, the uniform formats'
//            usual count (the papers').
// The default candidates are 2, 3, 4, 5, 6 and 8 with the run's group either way.
// Candidates that another candidate beats on both cost and KL for a projection are dropped for it.
// Cost: (projections x candidates) passes over the calibration windows, each re-running the
// layers from the measured one on and the head; memory: the full-precision model's probabilities
// (tokens x vocab floats) beside one window's logits.
#include <span>
#include <string>
#include <vector>

#include "model/llama.h"
#include "quant/bits_map.h"

namespace lowbit {

// One format --bits-budget may choose: bits (2..8 or 16) and a group (-1: the run's --group; 0:
// one scale per row; else the group size).
struct BitCandidate {
  int bits = 4;
  int group = -1;
  std::string text() const;  // as a --bits-map value: "4", "4g32"
  QuantSpec spec(const QuantSpec& base) const;
  friend bool operator==(const BitCandidate&, const BitCandidate&) = default;
};

enum class BitsCost { kStored, kNominal };

// "--bits-candidates" text: comma-separated BITS['g'GROUP]; fails naming the flag and item.
std::vector<BitCandidate> parse_bit_candidates(const std::string& text);
std::vector<BitCandidate> default_bit_candidates();  // 2, 3, 4, 5, 6, 8
BitsCost parse_bits_cost(const std::string& text);  // "stored" or "nominal"

struct BitAllocation {
  BitsMap map;          // one rule per projection
  double average_bits;  // of the chosen allocation
  std::string table;    // Markdown: per projection, the KL at each candidate and the choice
};

// Bits per weight of a projection [out, in] at spec `w`: nominal (codes at their width plus
// scales and zero points), and as the packed blob stores it (with its header and alignment).
double nominal_bits_per_weight(const QuantSpec& w, size_t in);
double stored_bits_per_weight(const QuantSpec& w, size_t out, size_t in);

// `base`: the run's weight spec (group, symmetry, clip); candidates in any order.
BitAllocation allocate_bits(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows,
                            const QuantSpec& base, std::span<const BitCandidate> candidates,
                            double budget, BitsCost cost, bool progress);

}  // namespace lowbit
