#pragma once
// SqueezeLLM (Kim et al. 2024, "SqueezeLLM: Dense-and-Sparse Quantization"; SqueezeAILab/
// SqueezeLLM): non-uniform, per output channel. Each row's weights are clustered into 2^bits
// values by k-means weighted by the diagonal Fisher information (sensitivity-weighted k-means:
// the centroids sit where a weight's error costs the most loss); the row's table is its codebook
// (layers/codebook.h, per-row tables run on the look-up-table kernels), stored in fp16 as the
// reference stores its look-up tables. Dense-and-sparse keeps a
// small fraction of weights out of the clustering, in fp16 in a compressed-sparse-row side matrix
// (layers/weight_extras.h): the largest-magnitude ones (outliers) and the ones with the largest
// Fisher values (sensitive).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

// Weighted 1-D k-means of one row: 2^bits centroids (ascending) minimising sum f_i (w_i - c)^2,
// k-means++ seeding then at most `iters` Lloyd steps (sklearn's KMeans, which the reference
// calls with sample_weight = Fisher). Points of weight 0 do not pull centroids; a row whose
// weights are all 0 is clustered unweighted. codes[i] is the nearest centroid of w[i].
std::vector<float> weighted_kmeans(std::span<const float> w, std::span<const float> f, int bits,
                                   int iters, uint64_t seed, std::span<uint8_t> codes);

// codes[i] = the index of w[i]'s nearest centroid in `c` (ascending; a tie goes to the lower
// one). Returns whether any code changed.
bool assign_nearest(std::span<const float> w, std::span<const double> c, std::span<uint8_t> codes);

// The positions (row-major indices) kept in the sparse part: the `outlier_fraction` of weights
// with the largest |w| and the `sensitive_fraction` with the largest Fisher values (the union).
std::vector<size_t> dense_and_sparse_positions(std::span<const float> w, std::span<const float> f,
                                               double outlier_fraction, double sensitive_fraction);

std::unique_ptr<QuantPass> make_squeezellm_pass(const QuantizeOptions& options);
void validate_squeezellm(const QuantizeOptions& options, const ModelConfig& config);

}  // namespace lowbit
