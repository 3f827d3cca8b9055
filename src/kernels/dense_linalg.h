#pragma once
// Dense symmetric positive definite factorisations in double, on LAPACK (OpenBLAS's dpotrf,
// dpotri and dtrtri, blocked and vectorised): what GPTQ needs from its Hessian. A hand-written
// scalar Cholesky and inverse took minutes for the 11008-wide down_proj inputs of a 7B model; the
// LAPACK routines take seconds. Matrices are row-major n x n; OpenBLAS runs single-threaded here
// (as for every BLAS call in lowbit: see sgemm.h).
#include <cstddef>
#include <span>

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

}  // namespace lowbit::kernels
