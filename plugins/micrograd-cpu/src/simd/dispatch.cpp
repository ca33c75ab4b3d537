// The one place that decides which instruction set runs: xsimd's cpuid probe, read once.
#include <xsimd/xsimd.hpp>

#include "../parallel.hpp"
#include "simd.hpp"
#if !(defined(__x86_64__) || defined(_M_X64))
#include "simd_impl.hpp"   // one build for the native vector unit (NEON on arm64)
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

bool try_binary(int op, Array& out, const Array& a, const Array& b) {
    if (op != ADD && op != SUB && op != MUL && op != DIV && op != MAXIMUM && op != MINIMUM)
        return false;
    if ((a.dtype != F32 && a.dtype != F64) || a.shape != out.shape || !a.is_contiguous())
        return false;
    bool b_scalar = b.numel() == 1;
    if (!b_scalar && (b.shape != out.shape || !b.is_contiguous())) return false;
    const int64_t n = out.numel();
    const Kernels& k = kernels();
    // Below 128k elements one thread is faster than waking another.
    parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
        if (a.dtype == F32) {
            auto pa = reinterpret_cast<const float*>(a.ptr());
            auto pb = reinterpret_cast<const float*>(b.ptr());
            k.binary_f32(op, pa + begin, b_scalar ? pb : pb + begin, b_scalar,
                         reinterpret_cast<float*>(out.ptr()) + begin, end - begin);
        } else {
            auto pa = reinterpret_cast<const double*>(a.ptr());
            auto pb = reinterpret_cast<const double*>(b.ptr());
            k.binary_f64(op, pa + begin, b_scalar ? pb : pb + begin, b_scalar,
                         reinterpret_cast<double*>(out.ptr()) + begin, end - begin);
        }
    });
    return true;
}

}  // namespace mgcpu::simd
