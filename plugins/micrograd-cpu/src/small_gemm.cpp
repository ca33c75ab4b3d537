// When a product runs on the small-GEMM kernels (simd/small_gemm_impl.hpp) instead of
// OpenBLAS, and the strided call into them from gemm()'s BLAS-style arguments.
#include <algorithm>

#include "gemm.hpp"
#include "simd/simd.hpp"

namespace mgcpu {

bool small_gemm_wins(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
    // Measured against one-thread OpenBLAS (float32, AVX-512, 64..1024 on each side): OpenBLAS
    // packs both operands on every call, a cost of O(mk + kn) that a short k never earns back,
    // and its NT kernels are slow when m or n is short. Elsewhere its blocking wins.
    // rows kernel: 0.73-0.93x OpenBLAS at k 20-48 over a large output (256 x 1024, 512 x 512),
    // but 1.4x over a 64 x 64 one, where OpenBLAS's packing is cheap
    if (!tb) return k <= SMALL_GEMM_ROWS_MAX_K && m * n >= SMALL_GEMM_ROWS_MIN_OUTPUT;
    // dots kernel (x @ W.T): 0.63-0.89x OpenBLAS for k >= 256 with a side up to 64; it loses
    // at short k (few vector steps per reduction) and when both sides are long
    return !ta && k >= SMALL_GEMM_DOTS_MIN_K && std::min(m, n) <= SMALL_GEMM_DOTS_MAX_SIDE;
}

template <>
void small_gemm<float>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                       float* c, int64_t ldc) {
    simd::gemm_kernels().gemm_f32(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, b, tb ? 1 : ldb,
                                  tb ? ldb : 1, c, ldc, 1, alpha, beta);
}

template <>
void small_gemm<double>(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                        const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
                        double* c, int64_t ldc) {
    simd::gemm_kernels().gemm_f64(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, b, tb ? 1 : ldb,
                                  tb ? ldb : 1, c, ldc, 1, alpha, beta);
}

}  // namespace mgcpu
