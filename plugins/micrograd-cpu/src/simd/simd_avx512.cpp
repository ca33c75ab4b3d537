// AVX-512 kernels; this file alone is compiled with -mavx512f -mavx512cd -mavx512dq -mavx512bw.
#include "simd_impl.hpp"
#include "small_gemm_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::avx512bw>();
template GemmKernels make_gemm_kernels<xsimd::avx512bw>();
}
