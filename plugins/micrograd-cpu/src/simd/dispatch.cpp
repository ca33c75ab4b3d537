// The one place that decides which instruction set runs: xsimd's cpuid probe, read once.
#include <string>

#include <xsimd/xsimd.hpp>

#include "../parallel.hpp"
#include "simd.hpp"
#if !(defined(__x86_64__) || defined(_M_X64))
#include "simd_impl.hpp"   // one build for the native vector unit (NEON on arm64)
#include "small_gemm_impl.hpp"
#endif

namespace mgcpu::simd {

#if defined(__x86_64__) || defined(_M_X64)
// Instantiated in simd_<arch>.cpp, each compiled with its own instruction-set flags.
extern template Kernels make_kernels<xsimd::fma3<xsimd::avx2>>();
extern template Kernels make_kernels<xsimd::avx512bw>();
extern template Kernels make_kernels<xsimd::sse2>();
#endif

namespace {
Kernels choose() {
#if defined(__x86_64__) || defined(_M_X64)
    auto cpu = xsimd::available_architectures();
    if (cpu.avx512bw && cpu.avx512dq && cpu.avx512cd) return make_kernels<xsimd::avx512bw>();
    if (cpu.fma3_avx2) return make_kernels<xsimd::fma3<xsimd::avx2>>();
    return make_kernels<xsimd::sse2>();
#else
    return make_kernels<xsimd::default_arch>();
#endif
}
}  // namespace

const Kernels& kernels() {
    static const Kernels chosen = choose();
    return chosen;
}

namespace {
void require_vector_unary(int op) {
    if (!unary_has_vector_kernel(op))
        throw value_error(std::string("simd::unary_contiguous: ") +
                          (op >= 0 && op < NUNARY ? UNARY_NAMES[op] : "an unknown op") +
                          " has no vector kernel (ops.hpp marks it SCALAR); use its per-dtype loop");
}
void require_vector_binary(int op) {
    if (!binary_has_vector_kernel(op))
        throw value_error(std::string("simd::binary_contiguous: ") +
                          (op >= 0 && op < NBINARY ? BINARY_NAMES[op] : "an unknown op") +
                          " has no vector kernel (ops.hpp marks it SCALAR); use its per-dtype loop");
}
}  // namespace

void unary_contiguous(int op, const float* x, float* out, int64_t n) {
    require_vector_unary(op);
    kernels().unary_f32(op, x, out, n);
}

void unary_contiguous(int op, const double* x, double* out, int64_t n) {
    require_vector_unary(op);
    kernels().unary_f64(op, x, out, n);
}

void binary_contiguous(int op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                       float* out, int64_t n, bool stream) {
    require_vector_binary(op);
    kernels().binary_f32(op, a, a_scalar, b, b_scalar, out, n, stream);
}

void binary_contiguous(int op, const double* a, bool a_scalar, const double* b, bool b_scalar,
                       double* out, int64_t n, bool stream) {
    require_vector_binary(op);
    kernels().binary_f64(op, a, a_scalar, b, b_scalar, out, n, stream);
}

bool try_binary(int op, DType dtype, const Walk<3>& walk) {
    if (!binary_has_vector_kernel(op)) return false;
    if (dtype != F32 && dtype != F64) return false;
    const int64_t size = DTYPE_SIZES[dtype];
    const int64_t so = walk.strides[0].back(), sa = walk.strides[1].back(),
                  sb = walk.strides[2].back();
    if (so != size || (sa != size && sa != 0) || (sb != size && sb != 0)) return false;
    const int64_t n = walk.numel();
    // Fresh outputs beyond 16 MB are written around the cache (in place, the lines were read
    // anyway); below 128k elements one thread is faster than waking another.
    const bool fresh = walk.base[0] != walk.base[1] && walk.base[0] != walk.base[2];
    const bool stream = fresh && n * size >= (int64_t(16) << 20);
    const Kernels& k = kernels();
    const int nd = int(walk.shape.size());
    if (nd >= 2 && (walk.shape[nd - 1] < 1024 || !stream)) {
        // Rows (small planes under a per-channel operand, an outer product's rows): whole
        // blocks of rows per kernel call, so the per-run cost is a pointer bump, not a trip
        // through the walk (which cost a 1024 x 1024 outer product a fifth of its time).
        // Outputs large enough to stream past the cache take the walk's streaming stores.
        const int64_t len = walk.shape[nd - 1], rows = walk.shape[nd - 2];
        int64_t outer = 1;
        for (int d = 0; d < nd - 2; ++d) outer *= walk.shape[d];
        int64_t row_step[3];
        for (int q = 0; q < 3; ++q) row_step[q] = walk.strides[q][nd - 2] / size;
        parallel_for(outer * rows, std::max<int64_t>(1, (1 << 16) / len), [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1;) {
                const int64_t within = r % rows, count = std::min(r1 - r, rows - within);
                std::array<char*, 3> p = walk.base;
                int64_t rest = r / rows;
                for (int d = nd - 3; d >= 0; --d) {
                    const int64_t at = rest % walk.shape[d];
                    rest /= walk.shape[d];
                    for (int q = 0; q < 3; ++q) p[q] += at * walk.strides[q][d];
                }
                for (int q = 0; q < 3; ++q) p[q] += within * walk.strides[q][nd - 2];
                if (dtype == F32)
                    k.binary_rows_f32(op, reinterpret_cast<const float*>(p[1]), sa == 0,
                                      reinterpret_cast<const float*>(p[2]), sb == 0,
                                      reinterpret_cast<float*>(p[0]), len, count, row_step);
                else
                    k.binary_rows_f64(op, reinterpret_cast<const double*>(p[1]), sa == 0,
                                      reinterpret_cast<const double*>(p[2]), sb == 0,
                                      reinterpret_cast<double*>(p[0]), len, count, row_step);
                r += count;
            }
        });
        return true;
    }
    walk.run([&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& step, int64_t len) {
        if (dtype == F32)
            binary_contiguous(op, reinterpret_cast<const float*>(p[1]), step[1] == 0,
                              reinterpret_cast<const float*>(p[2]), step[2] == 0,
                              reinterpret_cast<float*>(p[0]), len, stream && len >= 4096);
        else
            binary_contiguous(op, reinterpret_cast<const double*>(p[1]), step[1] == 0,
                              reinterpret_cast<const double*>(p[2]), step[2] == 0,
                              reinterpret_cast<double*>(p[0]), len, stream && len >= 4096);
    }, 1 << 16);
    return true;
}

bool try_unary(int op, Array& out, const Array& x) {
    if (!unary_has_vector_kernel(op)) return false;
    if ((x.dtype != F32 && x.dtype != F64) || !x.is_contiguous() || !out.is_contiguous())
        return false;
    // Threads only from 128k elements (64k a thread, 20-40 us of exp or tanh): measured at 1 vs
    // 2 threads, a 16k tanh split in two (the old 8k grain) was slower than on one thread, the
    // wake-up of a sleeping worker costing as much as its half of the work.
    parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) {
        if (x.dtype == F32)
            unary_contiguous(op, reinterpret_cast<const float*>(x.ptr()) + b,
                             reinterpret_cast<float*>(out.ptr()) + b, e - b);
        else
            unary_contiguous(op, reinterpret_cast<const double*>(x.ptr()) + b,
                             reinterpret_cast<double*>(out.ptr()) + b, e - b);
    });
    return true;
}

// ------------------------------------------------------------------ small GEMM (gemm branch)
#if defined(__x86_64__) || defined(_M_X64)
extern template GemmKernels make_gemm_kernels<xsimd::fma3<xsimd::avx2>>();
extern template GemmKernels make_gemm_kernels<xsimd::avx512bw>();
extern template GemmKernels make_gemm_kernels<xsimd::sse2>();
#endif

// The instruction set kernels() chose (one decision, read here by its name).
const GemmKernels& gemm_kernels() {
    static const GemmKernels chosen = [] {
#if defined(__x86_64__) || defined(_M_X64)
        const std::string arch = kernels().arch;
        if (arch == xsimd::avx512bw::name()) return make_gemm_kernels<xsimd::avx512bw>();
        if (arch == xsimd::fma3<xsimd::avx2>::name())
            return make_gemm_kernels<xsimd::fma3<xsimd::avx2>>();
        return make_gemm_kernels<xsimd::sse2>();
#else
        return make_gemm_kernels<xsimd::default_arch>();
#endif
    }();
    return chosen;
}

}  // namespace mgcpu::simd
