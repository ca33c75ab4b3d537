// When a product runs on the small-GEMM kernels (simd/small_gemm_impl.hpp) instead of
// OpenBLAS, and the strided call into them from gemm()'s BLAS-style arguments.
#include <algorithm>
#include <type_traits>

#include "gemm.hpp"
#include "simd/simd.hpp"

namespace mgcpu {

bool small_gemm_wins(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
    // Against OpenBLAS's AVX2 kernels on an AVX-512 CPU (OPENBLAS_CORETYPE=Haswell on Zen 5,
    // float32 and float64, best of 7 by thread CPU time) the small kernels take 0.46-0.71x the
    // time from 32 cubed to 1024 cubed, at k = 20, with m = 20, and with either operand
    // transposed; only A^T @ B^T over long sides loses (1.47x at 700 x 256 x 1024: B is
    // gathered), which the rule below sends to OpenBLAS.
    if (blas_narrower_than_small_gemm() && !(ta && tb)) return true;
    const int64_t output = m * n, volume = m * n * k;
    // With 256-bit kernels on both sides (an AVX2-only CPU: OpenBLAS's Haswell/Zen kernels
    // against the small ones' 6 x 16 tiles) the small kernels win only on short inner
    // products over a large output, 0.73-0.87x (bench_gemm_paths.py on a Zen 3 EPYC: 256 x
    // 1024 x 20, 16 x 4096 x 9, A^T 144 x 4096 x 32); elsewhere they are even or behind (up to
    // 1.2x on 32 x 4096 x 144 and 64 x 768 x 3072), and with every product on OpenBLAS the MLP,
    // digits CNN, GPT block, LSTM and DCGAN steps took 0.94-0.98x the time of the rule below,
    // which was measured against OpenBLAS's AVX-512 kernels.
    if (simd::gemm_kernels().vector_bits == 256)
        return !tb && k <= SMALL_GEMM_ROWS_MAX_K && output >= SMALL_GEMM_ROWS_MIN_OUTPUT;
    // Measured against one-thread OpenBLAS on its AVX-512 kernels (float32; the small/OpenBLAS
    // time ratios below are best-of-31 on a loaded 2-core machine). OpenBLAS packs both
    // operands on every call, a cost of O(mk + kn) that a short k never earns back, and its NT
    // kernels are slow when m or n is short or the product is small. Past a few MB of operands
    // its blocking wins.
    const bool mid = volume <= SMALL_GEMM_MID_MAX_VOLUME;
    // rows kernel: 0.73-0.93x at k 20-48 over a large output (256 x 1024, 512 x 512); at mid
    // sizes 0.76-0.88x (64 x 256 x 64, 64 x 128 x 128, 96 x 128 x 96, 128..256 cubed,
    // 1024 x 256 x 64, 128 x 2048 x 128; A transposed 0.79-0.95x), but 1.1-1.2x up to 100
    // cubed (64, 96 and 100 cubed: the crossover was measured; OpenBLAS's direct sgemm, unpacked,
    // serves row-major A @ B there) and about even from 384 cubed
    // Past the mid sizes (thread_time, small/OpenBLAS, best of 15 interleaved): with k up to
    // 128 0.91-0.93x (1024 x 384..1024 x 128, 2048 x 512 x 128, A @ B.T 2048 x 2048 x 64 0.92x)
    // and with m up to 256 0.84-0.95x (64..256 rows by 512..2048 columns, k 512-1024: weight
    // gradients dY.T @ X), but 1.06x at 2048 x 2048 x 128 (a C of 16 MB) and 1.03-1.32x for
    // long k over long m and n (768 cubed, 1024 x 1024 x 256 A transposed, 512 x 128 x 1024
    // A transposed 1.06x).
    // Re-measured with A^T packed (a Sapphire Rapids-class Xeon, OpenBLAS on its SkylakeX
    // kernels, one thread, best of 60 rounds interleaved with MKL through PyTorch as a common
    // yardstick; small/OpenBLAS): 0.83-0.94x from 2^25 to 2^27 (1024 x 384 x 128, 1024 x 512
    // x 128, 512 cubed, A^T 512 x 128 x 1024 0.90x), and up to 2^28 with k at most 256 or m
    // at most 256 0.87-0.99x (1024 x 700 x 256 and 2048 x 128 x 2048, 256 x 256 x 4096, A^T
    // 256 x 2048 x 512 0.91x); even at 1024 x 1024 x 256 (1.02x) and losing past 2^28 (1024
    // cubed 1.25x: no blocking over n) or with m and k both long (640 cubed 1.06x)
    const bool large = volume <= SMALL_GEMM_LARGE_MAX_VOLUME && output >= SMALL_GEMM_MID_MIN_OUTPUT;
    if (!tb)
        return (k <= SMALL_GEMM_ROWS_MAX_K && output >= SMALL_GEMM_ROWS_MIN_OUTPUT) ||
               (output >= SMALL_GEMM_MID_MIN_OUTPUT && volume > SMALL_GEMM_OPENBLAS_SMALL_VOLUME &&
                mid) ||
               (large && volume > SMALL_GEMM_OPENBLAS_SMALL_VOLUME &&
                (k <= SMALL_GEMM_SHORT_K || m <= SMALL_GEMM_SHORT_M));
    if (ta) return false;
    // dots kernel: 0.63-0.89x for k >= 256 with a side up to 64; it loses at short k (few
    // vector steps per reduction) and when both sides are long
    if (k >= SMALL_GEMM_DOTS_MIN_K && std::min(m, n) <= SMALL_GEMM_DOTS_MAX_SIDE) return true;
    // B^T gathered into rows panels: 0.84-0.90x from 64 x 32 x 64 to 512 x 128 x 128; and
    // 0.87-0.95x at k 256-784 with both sides past 64 (128 x 784 x 256, 512 x 256 x 512,
    // 1024 x 128 x 384), but 1.10x at k = 1024 (128 x 1024 x 1024)
    return k < SMALL_GEMM_NT_MAX_K && output >= SMALL_GEMM_NT_MIN_OUTPUT &&
           (mid || (large && k <= SMALL_GEMM_SHORT_K));
}

// gemm()'s BLAS-style arguments (a transposed operand is read with its strides swapped) as
// the kernels' row and column strides; C is row-major.
template <class T>
void small_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    const simd::GemmKernels& kernels = simd::gemm_kernels();
    const auto kernel = [&] {
        if constexpr (std::is_same_v<T, float>) return kernels.gemm_f32;
        else return kernels.gemm_f64;
    }();
    kernel(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, b, tb ? 1 : ldb, tb ? ldb : 1, c, ldc, 1,
           alpha, beta);
}

template void small_gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                int64_t, const float*, int64_t, float, float*, int64_t);
template void small_gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                 int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace mgcpu
