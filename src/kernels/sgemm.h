#pragma once
// fp32 matrix products for the full-precision path. They run on OpenBLAS (runtime-dispatched for
// the CPU it finds) in single-threaded mode, sliced over output columns by lowbit's thread pool,
// so BLAS threads never compete with lowbit's own parallel regions.
#include <cstddef>

namespace lowbit::kernels {

// C[m x n] (row stride ldc) = A[m x k] (lda) * B[n x k]^T (ldb), plus C when accumulate.
// This is y = x W^T for a weight W stored [out, in], as checkpoints store it.
void sgemm_nt(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb,
              float* c, size_t ldc, bool accumulate = false);

// Single-threaded variants for callers that already run inside a parallel region.
void sgemm_nt_serial(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                     size_t ldb, float* c, size_t ldc, bool accumulate = false);
// C[m x n] = A[m x k] * B[k x n] (row-major, no transpose), single-threaded.
void sgemm_nn_serial(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                     size_t ldb, float* c, size_t ldc, bool accumulate = false);

}  // namespace lowbit::kernels
