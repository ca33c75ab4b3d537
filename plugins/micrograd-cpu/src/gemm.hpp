// The threaded GEMM of linalg.cpp, shared with the convolutions in conv.cpp.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace mgcpu {

// C (m x n, row-major) = alpha op(A) op(B) + beta C through one-thread OpenBLAS calls, split
// over the pool when large. T is float or double (instantiated in linalg.cpp).
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// value_error naming `what` when a size exceeds the 32-bit BLAS interface.
void require_blas_size(std::initializer_list<int64_t> sizes, const char* what);

}  // namespace mgcpu
