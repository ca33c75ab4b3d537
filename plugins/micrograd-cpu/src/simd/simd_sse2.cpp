// Baseline x86-64 kernels (every x86-64 CPU has SSE2).
#include "simd_impl.hpp"
#include "small_gemm_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::sse2>();
template GemmKernels make_gemm_kernels<xsimd::sse2>();
}
