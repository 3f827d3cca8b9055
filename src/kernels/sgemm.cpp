#include "kernels/sgemm.h"

#include <cblas.h>

#include <algorithm>
#include <mutex>

#include "core/thread_pool.h"

namespace lowbit::kernels {
namespace {

void ensure_blas_serial() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Up to this many rows of A, a product runs as one matrix-vector product per row: sgemm packs
// all of B on every call, which for a few rows (a decode step's queries against every cached key)
// costs more than the arithmetic.
constexpr size_t kGemvRows = 4;

int to_int(size_t v) {
  return static_cast<int>(v);
}

// Row i of C (ldc) = op(B) times row i of A (lda), for m rows; B is [b_rows x b_cols] at ldb.
void gemv_rows(CBLAS_TRANSPOSE op, size_t b_rows, size_t b_cols, size_t m, const float* a,
               size_t lda, const float* b, size_t ldb, float beta, float* c, size_t ldc) {
  for (size_t i = 0; i < m; ++i)
    cblas_sgemv(CblasRowMajor, op, to_int(b_rows), to_int(b_cols), 1.0f, b, to_int(ldb),
                a + i * lda, 1, beta, c + i * ldc, 1);
}

}  // namespace

void sgemm_nt_serial(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                     size_t ldb, float* c, size_t ldc, bool accumulate) {
  ensure_blas_serial();
  const float beta = accumulate ? 1.0f : 0.0f;
  if (m <= kGemvRows) {
    gemv_rows(CblasNoTrans, n, k, m, a, lda, b, ldb, beta, c, ldc);  // B is [n x k]
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, to_int(m), to_int(n), to_int(k), 1.0f, a,
              to_int(lda), b, to_int(ldb), beta, c, to_int(ldc));
}

void sgemm_nn_serial(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                     size_t ldb, float* c, size_t ldc, bool accumulate) {
  ensure_blas_serial();
  const float beta = accumulate ? 1.0f : 0.0f;
  if (m <= kGemvRows) {
    gemv_rows(CblasTrans, k, n, m, a, lda, b, ldb, beta, c, ldc);  // B is [k x n]
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, to_int(m), to_int(n), to_int(k), 1.0f, a,
              to_int(lda), b, to_int(ldb), beta, c, to_int(ldc));
}

void sgemm_nt(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
              float* c, size_t ldc, bool accumulate) {
  // Slices of 64 output columns keep each thread's B panel contiguous and the split even.
  thread_pool().parallel_for(n, 64, [&](size_t begin, size_t end) {
    sgemm_nt_serial(m, end - begin, k, a, lda, b + begin * ldb, ldb, c + begin, ldc, accumulate);
  });
}

}  // namespace lowbit::kernels
