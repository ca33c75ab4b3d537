// AVX2 + FMA kernels; this file alone is compiled with -mavx2 -mfma.
#include "simd_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::fma3<xsimd::avx2>>();
}
