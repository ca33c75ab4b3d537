// Baseline x86-64 kernels (every x86-64 CPU has SSE2).
#include "simd_impl.hpp"

namespace mgcpu::simd {
template Kernels make_kernels<xsimd::sse2>();
}
