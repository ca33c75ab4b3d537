// AVX2 + FMA kernels; this file alone is compiled with -mavx2 -mfma.
#include "simd_impl.hpp"
#include "small_gemm_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::fma3<xsimd::avx2>>();
template GemmKernels make_gemm_kernels<xsimd::fma3<xsimd::avx2>>();
}
