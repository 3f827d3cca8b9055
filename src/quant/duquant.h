#pragma once
// DuQuant's dual transformation (Lin et al., NeurIPS 2024, arXiv 2406.01721, Sec. 3) for one
// linear-input site: smoothing, a block-diagonal rotation R1 built greedily from calibration
// activations, a zigzag permutation balancing outliers across blocks, and a second greedy
// rotation R2. Activations are row vectors; a transform acts as X <- X R.
//
// A greedy step (the paper's Eq. 3): find the outlier channel d of the block, then
//   S_d = E_d R~ diag(1, Q') E_d,
// with E_d the swap of channels 0 and d, R~ an orthogonal matrix whose first row is uniform
// (1/sqrt(b): the outlier's magnitude is spread evenly over the block) and Q' a random orthogonal
// (b-1) x (b-1) matrix, drawn once per greedy call (Haar: QR of a Gaussian matrix with the sign
// correction). Without Q' every step would be its own inverse and the next step would gather the
// spread energy again. After max_steps steps the prefix of steps with the lowest peak is kept, as
// the authors' code does. The paper rotates every block with its own matrix and picks d as the
// channel (column) of the block's largest |x|; the peak is max |x| for symmetric activations and
// max - min for asymmetric ones.
//
// `code_compat` follows the authors' code (Hsu1023/DuQuant, quantize/quantizer.py `rotation`,
// utils.py `get_rot`, get_rot.py) as it is instead: the activation is reshaped to
// (rows * blocks) x b and ONE rotation is fitted and shared by all blocks; d is the ROW index of
// the larger of the max and -min entries, modulo b; the peak is max - min; R~ is their product of
// Givens rotations (authors_uniform_rotation) and Q' comes from a QR without the sign correction.
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
  bool code_compat = false;  // the authors' code path, see above
  // Fit the rotations on the mean calibration sequence propagated through the quantized earlier
  // layers (the authors' code) instead of rows sampled from every window, propagated in full
  // precision (lowbit's default).
  bool mean_sequence = false;
  bool asymmetric = false;  // activations quantized with a zero point: peak = max - min
  float alpha = 0.5f;       // smoothing strength; 0 disables smoothing
  uint64_t seed = 0;        // the random orthogonal factors (mixed with the site by the caller)
};

// R~ of the paper's variant: the Householder reflection that maps e_0 to the uniform vector
// (1, ..., 1)/sqrt(block). It is symmetric, so its first row is uniform. Row-major.
std::vector<double> uniform_first_row_rotation(size_t block);
// R~ of the authors' code (get_rot.py): G_{b-2} ... G_1 G_0 with Givens rotations G_i on
// coordinates (i, i+1), cos = 1/sqrt(i+2), sin = sqrt(i+1)/sqrt(i+2), then rows and columns 0 and
// b-1 swapped, which puts its uniform row first. Row-major.
std::vector<double> authors_uniform_rotation(size_t block);
// A random n x n orthogonal matrix: Q of the QR decomposition (Householder, LAPACK's sign
// convention) of a matrix of N(0, 1) entries drawn from `seed`; with `sign_correction` the columns
// are multiplied by sign(diag(R)), which makes Q Haar-distributed. Row-major.
std::vector<double> random_orthogonal(size_t n, uint64_t seed, bool sign_correction);

// The random factor of a greedy call: M = R~ diag(1, Q') (block x block, row-major), so that a
// step with outlier channel d is E_d M E_d.
std::vector<double> greedy_step_matrix(size_t block, uint64_t seed, bool code_compat);

// Greedy rotations for every block of `x` (rows x dim; transformed in place): returns dim / block
// matrices of block x block (with code_compat, dim / block copies of the shared one).
std::vector<float> greedy_block_rotation(std::span<float> x, size_t rows, size_t dim,
                                         const DuQuantOptions& options);

// Zigzag permutation: channels sorted by max |x| descending are dealt to blocks 0..K-1, K-1..0,
// 0..K-1, ...; each block is then ordered by descending max |x|. Output channel i takes input
// channel perm[i].
std::vector<int32_t> zigzag_permutation(std::span<const float> channel_max, size_t block);

// Builds the full transform for a site from sampled activation rows (rows x dim), the per-channel
// max |x| over all calibration tokens, and the per-input-channel max |W| over the site's layers.
// R1 and R2 draw their random factors from streams derived from options.seed.
ActivationTransform build_duquant_transform(std::span<const float> sample_rows, size_t rows,
                                            size_t dim, std::span<const float> act_absmax,
                                            std::span<const float> weight_absmax,
                                            const DuQuantOptions& options);

// Fails unless --duquant-block divides every layer width.
void validate_duquant(const QuantizeOptions& options, const ModelConfig& config);
std::unique_ptr<QuantPass> make_duquant_pass(const QuantizeOptions& options);

}  // namespace lowbit
