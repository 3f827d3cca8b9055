#pragma once
// General dense products C = alpha op(A) op(B) + beta C in float and double, for the training
// engine (src/train): its backward passes need every transpose combination (dW = dY^T X,
// dX = dY W), and its gradient checks run the same code in double. OpenBLAS does the arithmetic
// single-threaded; the parallel form slices C over lowbit's thread pool (sgemm.h explains why).
// Row-major throughout; lda/ldb/ldc are row strides of the matrices as stored.
#include <cstddef>

namespace lowbit::kernels {

enum class Trans { kNo, kYes };

// Single-threaded, for callers inside a parallel region. op(A) is m x k, op(B) is k x n.
template <class T>
void gemm_serial(Trans ta, Trans tb, size_t m, size_t n, size_t k, T alpha, const T* a, size_t lda,
                 const T* b, size_t ldb, T beta, T* c, size_t ldc);

// The same product spread over the pool: slices of C's columns (or rows, when C is taller than
// wide), each computed by one gemm_serial call. Results depend on the thread count only through
// where the slices fall.
template <class T>
void gemm(Trans ta, Trans tb, size_t m, size_t n, size_t k, T alpha, const T* a, size_t lda,
          const T* b, size_t ldb, T beta, T* c, size_t ldc);

}  // namespace lowbit::kernels
