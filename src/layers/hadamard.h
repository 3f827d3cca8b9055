#pragma once
// Orthonormal Hadamard rotations for QuaRot-style rotation of hidden states. A Hadamard rotation
// spreads every outlier channel evenly over all channels (each entry of H/sqrt(n) has the same
// magnitude), which is what makes the rotated activations and weights easy to quantize.
//
// Hidden sizes of LLMs are often not powers of two (e.g. 384 = 12 * 32), so besides Sylvester's
// H_{2^k} the rotation uses H_m (x) H_{2^k} with H_m from Paley's constructions:
//  - Paley I, m = q + 1 for a prime q = 3 (mod 4): H = I + [[0, 1^T], [-1, Q]], with Q the
//    Jacobsthal matrix Q[i][j] = chi(j - i) of GF(q) (chi = quadratic character).
//  - Paley II, m = 2(q + 1) for a prime q = 1 (mod 4): the symmetric conference matrix
//    C = [[0, 1^T], [1, Q]] with every 0 replaced by [[1, -1], [-1, -1]] and every +-1 by
//    +-[[1, 1], [1, -1]].
// Only prime q are used (not prime powers), so e.g. 52 (q = 25) and 344 (q = 343) have no Paley
// factor. When no such factor fits n the rotation falls back to a block-diagonal matrix of
// Sylvester blocks.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lowbit {

// How the rotation of size n is built; always n == m * pow2.
//  - Sylvester (m == 1, pow2 == n, a power of two): H_n.
//  - Paley (m a Paley I or II order, pow2 = n / m): H_m (x) H_pow2, the smallest such m.
//  - block_diagonal: no such factor exists; pow2 is the largest power of two dividing n and m is
//    the number of diagonal blocks: I_m (x) H_pow2. For odd n the blocks have size 1, so the
//    "rotation" is the identity.
struct HadamardPlan {
  size_t n = 0;
  size_t m = 1;
  size_t pow2 = 1;
  bool block_diagonal = false;
  // e.g. "Paley I H_12 (q = 11) (x) Sylvester H_32".
  std::string describe() const;
};

// Throws lowbit::Error for n == 0.
HadamardPlan plan_hadamard(size_t n);

// Dense n x n row-major orthogonal matrix Q = diag(signs) * H, where H is the plan's matrix scaled
// to be orthonormal (entries +-1/sqrt(n); for the block-diagonal fallback 0 or +-1/sqrt(pow2)).
// seed == 0 gives H itself; otherwise row i is negated when the top bit of the i-th draw of
// std::mt19937_64(seed) is set.
std::vector<float> random_hadamard_matrix(size_t n, uint64_t seed);

// In place, for each of the `rows` rows of x (row length n): x_row <- x_row * H, H being
// random_hadamard_matrix(n, 0). Costs O(n log n) for the power-of-two factor plus O(n * m) for the
// Paley factor; never forms H. Throws lowbit::Error if x.size() != rows * n.
void hadamard_transform_rows(std::span<float> x, size_t rows, size_t n);

}  // namespace lowbit
