// The threaded GEMM of linalg.cpp, shared with the convolutions in conv.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

namespace mgcpu {

// C (m x n, row-major) = alpha op(A) op(B) + beta C through one-thread OpenBLAS calls, split
// over the pool when large. T is float or double (instantiated in linalg.cpp).
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The same product on the calling thread through the small-GEMM kernels (A packed only when
// stored transposed, no fixed blocking over n): faster than OpenBLAS where small_gemm_wins.
template <class T>
void small_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// Where the small kernels beat OpenBLAS (small_gemm.cpp says how this was measured):
// - op(B) read by rows (tb false): k up to ROWS_MAX_K over an output from ROWS_MIN_OUTPUT, or a
//   mid-sized product: output from MID_MIN_OUTPUT, m * n * k past OPENBLAS_SMALL_VOLUME (below
//   it OpenBLAS's unpacked "direct" row-major kernel is faster) and up to MID_MAX_VOLUME, or
//   up to LARGE_MAX_VOLUME where k is at most SHORT_K or m at most SHORT_M (one pass over C,
//   or an A block that stays in cache while every column panel of B streams past it);
// - A @ B.T (x @ W.T): k from DOTS_MIN_K with min(m, n) up to DOTS_MAX_SIDE (the dots kernel),
//   or, below NT_MAX_K, a mid-sized product from NT_MIN_OUTPUT (B^T gathered into the rows
//   kernel's panels), up to LARGE_MAX_VOLUME where k is at most SHORT_K.
constexpr int64_t SMALL_GEMM_ROWS_MAX_K = 48;
constexpr int64_t SMALL_GEMM_ROWS_MIN_OUTPUT = 256 * 256;
constexpr int64_t SMALL_GEMM_MID_MIN_OUTPUT = 64 * 64;
constexpr int64_t SMALL_GEMM_OPENBLAS_SMALL_VOLUME = 100 * 100 * 100;
constexpr int64_t SMALL_GEMM_NT_MIN_OUTPUT = 64 * 64;
constexpr int64_t SMALL_GEMM_NT_MAX_K = 1024;
constexpr int64_t SMALL_GEMM_MID_MAX_VOLUME = int64_t(1) << 27;
constexpr int64_t SMALL_GEMM_SHORT_K = 256;
constexpr int64_t SMALL_GEMM_SHORT_M = 256;
constexpr int64_t SMALL_GEMM_LARGE_MAX_VOLUME = int64_t(1) << 28;
constexpr int64_t SMALL_GEMM_DOTS_MIN_K = 256;
constexpr int64_t SMALL_GEMM_DOTS_MAX_SIDE = 64;

// Whether an m x n x k product (one thread's block) runs faster on small_gemm than OpenBLAS.
bool small_gemm_wins(bool ta, bool tb, int64_t m, int64_t n, int64_t k);

// Whether the BLAS's GEMM kernels use narrower vectors than the small-GEMM kernels (OpenBLAS
// running its AVX2 kernels on an AVX-512 CPU, as OPENBLAS_CORETYPE=Haswell makes it); decided
// once, in linalg.cpp.
bool blas_narrower_than_small_gemm();

// value_error naming `what` when a size exceeds the 32-bit BLAS interface.
void require_blas_size(std::initializer_list<int64_t> sizes, const char* what);

}  // namespace mgcpu
