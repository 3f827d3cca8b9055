#pragma once
// DuQuant's dual transformation (Lin et al., NeurIPS 2024) for one linear-input site:
// smoothing, a block-diagonal rotation R1 built greedily from calibration activations, a zigzag
// permutation balancing outliers across blocks, and a second greedy rotation R2.
//
// Greedy rotation of one block: each step finds the outlier channel, swaps it to position 0
// (E_c), applies an orthogonal matrix whose first row is uniform (so the outlier's magnitude is
// spread evenly over the block), and swaps back: R_step = E_c R~ E_c. After max_steps steps the
// prefix of steps with the smallest peak |x| is kept (as the authors' code does).
//
// Outlier channel rule: the paper picks the column (channel) of the largest |x| in the block. The
// authors' public code takes the row index of the largest entry of the activation matrix modulo
// the block size instead; `row_rule` reproduces that for comparison.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "layers/activation_transform.h"
#include "model/config.h"

namespace lowbit {

struct QuantizeOptions;
class QuantPass;

struct DuQuantOptions {
  size_t block = 128;
  int max_steps = 256;
  bool row_rule = false;  // the authors' code's outlier rule, see above
  float alpha = 0.5f;     // smoothing strength; 0 disables smoothing
};

// The orthogonal block x block matrix R~ used at every step: the Householder reflection that maps
// e_0 to the uniform vector (1, ..., 1)/sqrt(block). It is symmetric, so its first row is uniform.
std::vector<float> uniform_first_row_rotation(size_t block);

// Greedy rotations for every block of `x` (rows x dim; transformed in place): returns dim / block
// matrices of block x block.
std::vector<float> greedy_block_rotation(std::span<float> x, size_t rows, size_t dim,
                                         const DuQuantOptions& options);

// Zigzag permutation: channels sorted by max |x| descending are dealt to blocks 0..K-1, K-1..0,
// 0..K-1, ...; each block is then ordered by descending max |x|. Output channel i takes input
// channel perm[i].
std::vector<int32_t> zigzag_permutation(std::span<const float> channel_max, size_t block);

// Builds the full transform for a site from sampled activation rows (rows x dim), the per-channel
// max |x| over all calibration tokens, and the per-input-channel max |W| over the site's layers.
ActivationTransform build_duquant_transform(std::span<const float> sample_rows, size_t rows,
                                            size_t dim, std::span<const float> act_absmax,
                                            std::span<const float> weight_absmax,
                                            const DuQuantOptions& options);

// Fails unless --duquant-block divides every layer width.
void validate_duquant(const QuantizeOptions& options, const ModelConfig& config);
std::unique_ptr<QuantPass> make_duquant_pass(const QuantizeOptions& options);

}  // namespace lowbit
