#include "kernels/gemm.h"

#include <cblas.h>

#include <mutex>

#include "core/thread_pool.h"

namespace lowbit::kernels {
namespace {

void ensure_blas_serial() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

CBLAS_TRANSPOSE op(Trans t) {
  return t == Trans::kYes ? CblasTrans : CblasNoTrans;
}

int to_int(size_t v) {
  return static_cast<int>(v);
}

void blas(Trans ta, Trans tb, size_t m, size_t n, size_t k, float alpha, const float* a, size_t lda,
          const float* b, size_t ldb, float beta, float* c, size_t ldc) {
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), to_int(m), to_int(n), to_int(k), alpha, a, to_int(lda),
              b, to_int(ldb), beta, c, to_int(ldc));
}

void blas(Trans ta, Trans tb, size_t m, size_t n, size_t k, double alpha, const double* a,
          size_t lda, const double* b, size_t ldb, double beta, double* c, size_t ldc) {
  cblas_dgemm(CblasRowMajor, op(ta), op(tb), to_int(m), to_int(n), to_int(k), alpha, a, to_int(lda),
              b, to_int(ldb), beta, c, to_int(ldc));
}

}  // namespace

template <class T>
void gemm_serial(Trans ta, Trans tb, size_t m, size_t n, size_t k, T alpha, const T* a, size_t lda,
                 const T* b, size_t ldb, T beta, T* c, size_t ldc) {
  if (m == 0 || n == 0) return;
  ensure_blas_serial();
  if (k == 0) {  // BLAS leaves C * beta; make that explicit for beta == 0 (C may hold NaN)
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  blas(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void gemm(Trans ta, Trans tb, size_t m, size_t n, size_t k, T alpha, const T* a, size_t lda,
          const T* b, size_t ldb, T beta, T* c, size_t ldc) {
  if (n >= m) {
    // Columns j0..j1 of C need columns j0..j1 of op(B): B's columns, or B's rows when transposed.
    thread_pool().parallel_for(n, 64, [&](size_t j0, size_t j1) {
      const T* bj = tb == Trans::kNo ? b + j0 : b + j0 * ldb;
      gemm_serial(ta, tb, m, j1 - j0, k, alpha, a, lda, bj, ldb, beta, c + j0, ldc);
    });
  } else {
    // Rows i0..i1 of C need rows i0..i1 of op(A): A's rows, or A's columns when transposed.
    thread_pool().parallel_for(m, 16, [&](size_t i0, size_t i1) {
      const T* ai = ta == Trans::kNo ? a + i0 * lda : a + i0;
      gemm_serial(ta, tb, i1 - i0, n, k, alpha, ai, lda, b, ldb, beta, c + i0 * ldc, ldc);
    });
  }
}

template void gemm_serial<float>(Trans, Trans, size_t, size_t, size_t, float, const float*, size_t,
                                 const float*, size_t, float, float*, size_t);
template void gemm_serial<double>(Trans, Trans, size_t, size_t, size_t, double, const double*,
                                  size_t, const double*, size_t, double, double*, size_t);
template void gemm<float>(Trans, Trans, size_t, size_t, size_t, float, const float*, size_t,
                          const float*, size_t, float, float*, size_t);
template void gemm<double>(Trans, Trans, size_t, size_t, size_t, double, const double*, size_t,
                           const double*, size_t, double, double*, size_t);

}  // namespace lowbit::kernels
