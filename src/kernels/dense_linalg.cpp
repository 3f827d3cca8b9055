#include "kernels/dense_linalg.h"

#include <cblas.h>

#include <climits>
#include <mutex>

#include "core/error.h"

// LAPACK's Fortran entry points, as OpenBLAS exports them (no LAPACKE header is needed). The
// trailing length is the Fortran hidden length of the character argument.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info,
             size_t uplo_len, size_t diag_len);
}

namespace lowbit::kernels {
namespace {

int checked_n(std::span<double> a, size_t n, const char* what) {
  if (n == 0 || n > static_cast<size_t>(INT_MAX) || a.size() != n * n)
    fail("{}: {} values for a {} x {} matrix", what, a.size(), n, n);
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
  return static_cast<int>(n);
}

// A row-major matrix is the column-major transpose: its lower triangle is LAPACK's upper ('U').
constexpr char kRowMajorLower = 'U';

}  // namespace

bool cholesky_lower(std::span<double> a, size_t n) {
  const int N = checked_n(a, n, "cholesky_lower");
  int info = 0;
  dpotrf_(&kRowMajorLower, &N, a.data(), &N, &info, 1);
  if (info != 0) return false;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) a[i * n + j] = 0.0;
  return true;
}

bool inverse_from_cholesky(std::span<double> a, size_t n) {
  const int N = checked_n(a, n, "inverse_from_cholesky");
  int info = 0;
  dpotri_(&kRowMajorLower, &N, a.data(), &N, &info, 1);
  if (info != 0) return false;
  for (size_t i = 0; i < n; ++i)  // dpotri fills the lower triangle (row-major): mirror it
    for (size_t j = i + 1; j < n; ++j) a[i * n + j] = a[j * n + i];
  return true;
}

bool invert_lower_triangular(std::span<double> a, size_t n) {
  const int N = checked_n(a, n, "invert_lower_triangular");
  int info = 0;
  const char non_unit = 'N';
  dtrtri_(&kRowMajorLower, &non_unit, &N, a.data(), &N, &info, 1, 1);
  return info == 0;
}

}  // namespace lowbit::kernels
