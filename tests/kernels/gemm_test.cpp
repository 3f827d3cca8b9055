// kernels/gemm.h against a plain triple loop: every transpose combination, float and double,
// strided operands, alpha/beta, shapes that split over rows and over columns, and k = 0.
#include "kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace lowbit::kernels {
namespace {

template <class T>
void check(Trans ta, Trans tb, size_t m, size_t n, size_t k, bool parallel) {
  // Stored shapes: A is m x k (or k x m when transposed), B is k x n (or n x k); row strides
  // padded by 3 to test lda/ldb/ldc.
  const size_t ar = ta == Trans::kNo ? m : k, ac = ta == Trans::kNo ? k : m;
  const size_t br = tb == Trans::kNo ? k : n, bc = tb == Trans::kNo ? n : k;
  const size_t lda = ac + 3, ldb = bc + 3, ldc = n + 3;
  std::vector<T> a(ar * lda), b(br * ldb), c(m * ldc), ref(m * ldc);
  for (size_t i = 0; i < a.size(); ++i)
    a[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i)));
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<T>(std::cos(0.11 * static_cast<double>(i)));
  for (size_t i = 0; i < c.size(); ++i)
    c[i] = ref[i] = static_cast<T>(0.5 - 0.01 * static_cast<double>(i % 7));
  const T alpha = T(1.5), beta = T(0.25);
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      double s = 0;
      for (size_t p = 0; p < k; ++p) {
        const T x = ta == Trans::kNo ? a[i * lda + p] : a[p * lda + i];
        const T y = tb == Trans::kNo ? b[p * ldb + j] : b[j * ldb + p];
        s += static_cast<double>(x) * y;
      }
      ref[i * ldc + j] = static_cast<T>(alpha * s + beta * static_cast<double>(ref[i * ldc + j]));
    }
  if (parallel)
    gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  else
    gemm_serial(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  const double tol = sizeof(T) == 4 ? 1e-4 : 1e-12;
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j)
      ASSERT_NEAR(c[i * ldc + j], ref[i * ldc + j], tol * (1 + std::abs(ref[i * ldc + j])))
          << m << "x" << n << "x" << k << " at " << i << "," << j;
  for (size_t i = 0; i < m; ++i)  // the padding is untouched
    for (size_t j = n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], ref[i * ldc + j]);
}

TEST(Gemm, EveryTransposeMatchesTheTripleLoop) {
  for (const Trans ta : {Trans::kNo, Trans::kYes})
    for (const Trans tb : {Trans::kNo, Trans::kYes})
      for (const bool parallel : {false, true}) {
        check<float>(ta, tb, 7, 150, 33, parallel);  // wide: split over columns
        check<float>(ta, tb, 150, 5, 33, parallel);  // tall: split over rows
        check<double>(ta, tb, 9, 70, 17, parallel);
        check<double>(ta, tb, 70, 9, 17, parallel);
        check<double>(ta, tb, 4, 6, 0, parallel);  // k = 0: C = beta C
      }
}

}  // namespace
}  // namespace lowbit::kernels
