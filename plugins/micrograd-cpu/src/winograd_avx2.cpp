// winograd_transforms.hpp compiled with AVX2 (-mavx2 -mfma, set in CMakeLists.txt); picked
// at run time by winograd.cpp on CPUs that have it.
#define WINOGRAD_ARCH avx2
#include "winograd_transforms.hpp"

namespace mgcpu::avx2 {
template WinogradTransforms<float> transforms<float>();
template WinogradTransforms<double> transforms<double>();
}  // namespace mgcpu::avx2
