#pragma once
// Dense symmetric positive definite factorisations in double, on LAPACK (OpenBLAS's dpotrf,
// dpotri and dtrtri, blocked and vectorised): what GPTQ needs from its Hessian. A hand-written
// scalar Cholesky and inverse took minutes for the 11008-wide down_proj inputs of a 7B model; the
// LAPACK routines take seconds. Matrices are row-major n x n; OpenBLAS runs single-threaded here
// (as for every BLAS call in lowbit: see sgemm.h).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lowbit::kernels {

// In place: a (symmetric positive definite) becomes its lower Cholesky factor L, a = L L^T, with
// the strict upper triangle zeroed. False (a undefined) if a is not positive definite.
bool cholesky_lower(std::span<double> a, size_t n);

// In place: from the lower Cholesky factor L of A (as cholesky_lower leaves it), a becomes A^-1,
// full and symmetric. False if L is singular.
bool inverse_from_cholesky(std::span<double> a, size_t n);

// In place: a lower triangular L (strict upper triangle zero, as cholesky_lower leaves it)
// becomes L^-1, lower triangular. False if L is singular.
bool invert_lower_triangular(std::span<double> a, size_t n);

// The best rank-r approximation of a [m, n] (row-major) as U diag(S) Vt, by randomized SVD (Halko,
// Martinsson and Tropp 2011: a Gaussian sketch of r + 8 columns, two power iterations with QR
// re-orthonormalisation, then LAPACK's dgesdd on the small projected matrix), in double. Exact for
// a matrix of rank <= r; for a general matrix its error is within a few percent of the optimum,
// and it costs O(m n r) instead of the O(m n min(m, n)) of a full SVD (minutes for a 7B
// model's 11008 x 4096 projections). Deterministic for a given seed.
struct TruncatedSvd {
  size_t rank = 0;
  std::vector<double> u;   // [m, rank]
  std::vector<double> s;   // [rank], descending
  std::vector<double> vt;  // [rank, n]
};
TruncatedSvd truncated_svd(std::span<const float> a, size_t m, size_t n, size_t rank,
                           uint64_t seed = 0);

}  // namespace lowbit::kernels
