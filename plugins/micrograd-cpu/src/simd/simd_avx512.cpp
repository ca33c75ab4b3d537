// AVX-512 kernels; this file alone is compiled with -mavx512f -mavx512cd -mavx512dq -mavx512bw.
#include "simd_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::avx512bw>();
}
