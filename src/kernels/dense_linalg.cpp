#include "kernels/dense_linalg.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <mutex>
#include <random>

#include "core/error.h"

// LAPACK's Fortran entry points, as OpenBLAS exports them (no LAPACKE header is needed). The
// trailing length is the Fortran hidden length of the character argument.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info,
             size_t uplo_len, size_t diag_len);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work,
             const int* lwork, int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau,
             double* work, const int* lwork, int* info);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork,
             int* iwork, int* info, size_t jobz_len);
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

namespace {

// In place: the m x l column-major y becomes the orthonormal Q of its QR factorisation.
void orthonormalize(std::vector<double>& y, int m, int l) {
  std::vector<double> tau(static_cast<size_t>(l));
  int info = 0, lwork = -1;
  double query = 0.0;
  dgeqrf_(&m, &l, y.data(), &m, tau.data(), &query, &lwork, &info);
  lwork = std::max(1, static_cast<int>(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dgeqrf_(&m, &l, y.data(), &m, tau.data(), work.data(), &lwork, &info);
  if (info != 0) fail("truncated_svd: dgeqrf failed ({})", info);
  lwork = -1;
  dorgqr_(&m, &l, &l, y.data(), &m, tau.data(), &query, &lwork, &info);
  lwork = std::max(1, static_cast<int>(query));
  work.resize(static_cast<size_t>(lwork));
  dorgqr_(&m, &l, &l, y.data(), &m, tau.data(), work.data(), &lwork, &info);
  if (info != 0) fail("truncated_svd: dorgqr failed ({})", info);
}

}  // namespace

TruncatedSvd truncated_svd(std::span<const float> a, size_t m, size_t n, size_t rank,
                           uint64_t seed) {
  if (m == 0 || n == 0 || a.size() != m * n || m > INT_MAX || n > INT_MAX)
    fail("truncated_svd: {} values for a {} x {} matrix", a.size(), m, n);
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
  rank = std::min({rank, m, n});
  TruncatedSvd out;
  out.rank = rank;
  if (rank == 0) return out;
  const size_t l = std::min({rank + 8, m, n});
  const int M = static_cast<int>(m), N = static_cast<int>(n), L = static_cast<int>(l);
  // A in double, row-major [m, n] = column-major [n, m] (At).
  std::vector<double> ad(a.begin(), a.end());
  // Sketch: Y [m, l] (column-major) = A Omega with Omega [n, l] Gaussian.
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> omega(n * l), y(m * l), z(n * l);
  for (double& v : omega) v = normal(rng);
  // Column-major Y = A Omega: with A row-major, C(m x l, col-major) = A(row-major) * Omega.
  cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, M, L, N, 1.0, ad.data(), N, omega.data(), N,
              0.0, y.data(), M);
  orthonormalize(y, M, L);
  for (int it = 0; it < 2; ++it) {
    // Z [n, l] = A^T Y, then Y = A Z, each re-orthonormalised (keeps small singular values).
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, N, L, M, 1.0, ad.data(), N, y.data(), M,
                0.0, z.data(), N);
    orthonormalize(z, N, L);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, M, L, N, 1.0, ad.data(), N, z.data(), N,
                0.0, y.data(), M);
    orthonormalize(y, M, L);
  }
  // B [l, n] (column-major) = Q^T A.
  std::vector<double> b(l * n);
  cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, L, N, M, 1.0, y.data(), M, ad.data(), N, 0.0,
              b.data(), L);
  ad.clear();
  ad.shrink_to_fit();
  // SVD of B: Ub [l, l], S [l], Vtb [l, n] (column-major).
  const int kmin = std::min(L, N);
  std::vector<double> s(static_cast<size_t>(kmin)), ub(l * static_cast<size_t>(kmin)),
      vtb(static_cast<size_t>(kmin) * n);
  std::vector<int> iwork(8 * static_cast<size_t>(kmin));
  int info = 0, lwork = -1;
  double query = 0.0;
  const char jobz = 'S';
  dgesdd_(&jobz, &L, &N, b.data(), &L, s.data(), ub.data(), &L, vtb.data(), &kmin, &query, &lwork,
          iwork.data(), &info, 1);
  lwork = std::max(1, static_cast<int>(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dgesdd_(&jobz, &L, &N, b.data(), &L, s.data(), ub.data(), &L, vtb.data(), &kmin, work.data(),
          &lwork, iwork.data(), &info, 1);
  if (info != 0) fail("truncated_svd: dgesdd failed ({})", info);
  // U = Q Ub, the first `rank` columns, written row-major [m, rank].
  std::vector<double> uc(m * static_cast<size_t>(kmin));
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, M, kmin, L, 1.0, y.data(), M, ub.data(), L,
              0.0, uc.data(), M);
  out.u.resize(m * rank);
  out.s.assign(s.begin(), s.begin() + static_cast<ptrdiff_t>(rank));
  out.vt.resize(rank * n);
  for (size_t i = 0; i < m; ++i)
    for (size_t t = 0; t < rank; ++t) out.u[i * rank + t] = uc[t * m + i];
  for (size_t t = 0; t < rank; ++t)
    for (size_t j = 0; j < n; ++j) out.vt[t * n + j] = vtb[j * static_cast<size_t>(kmin) + t];
  return out;
}

}  // namespace lowbit::kernels
