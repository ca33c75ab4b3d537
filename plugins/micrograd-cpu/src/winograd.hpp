// 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3): each 2x2 output tile
// from a 4x4 input tile with 16 multiplications per channel pair instead of 36, as 16 GEMMs
// (one per transform point) over blocks of tiles. Used by conv.cpp for the forward, the input
// gradient (a convolution of the output gradient with the flipped, transposed weight) and the
// weight gradient of ungrouped 3x3 convolutions.
#pragma once

#include <cstdint>

namespace mgcpu {

// The shape of one Winograd convolution: x (N, C, H, W) with a 3x3 weight (O, C, 3, 3), zero
// padding (ph, pw), stride and dilation 1: y (N, O, H + 2ph - 2, W + 2pw - 2).
struct WinogradShape {
    int64_t N, C, H, W, O, ph, pw;
    int64_t OH() const { return H + 2 * ph - 2; }
    int64_t OW() const { return W + 2 * pw - 2; }
};

// y = conv(x, w). With `adjoint`, w is (C, O, 3, 3) and the convolution uses its flipped
// transpose w'[o, c, i, j] = w[c, o, 2 - i, 2 - j]: the input gradient of a convolution by w.
template <class T>
void winograd_conv3x3(const WinogradShape& s, const T* x, const T* w, bool adjoint, T* y);

// gw (O, C, 3, 3) = the weight gradient of y = conv(x, w) for the output gradient gy.
template <class T>
void winograd_conv3x3_weight_grad(const WinogradShape& s, const T* x, const T* gy, T* gw);

}  // namespace mgcpu
