// winograd_transforms.hpp compiled with AVX512 (-mavx512f -mavx512cd -mavx512dq -mavx512bw -mfma, set in CMakeLists.txt); picked
// at run time by winograd.cpp on CPUs that have it.
#define WINOGRAD_ARCH avx512
#include "winograd_transforms.hpp"

namespace mgcpu::avx512 {
template WinogradTransforms<float> transforms<float>();
template WinogradTransforms<double> transforms<double>();
}  // namespace mgcpu::avx512
