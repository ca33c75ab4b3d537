// conv2d and the transposed convolution as im2col + one GEMM per group over blocks of the
// batch, with their backward passes; ungrouped 3x3 stride-1 ones by Winograd (winograd.hpp),
// kernels covering the whole input as a fully connected layer, strided transposed ones as one
// stride-1 convolution per output phase (sub-pixel).
#include <algorithm>
#include <type_traits>
#include <vector>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "gemm.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "partial_sums.hpp"
#include "winograd.hpp"

namespace mgcpu {

namespace {

struct ConvGeometry {
    int64_t N, C, H, W, O, KH, KW, OH, OW, G, Cg, Og;
    std::array<int64_t, 2> stride, padding, dilation;
    int64_t P() const { return OH * OW; }
    int64_t rows() const { return Cg * KH * KW; }
};

ConvGeometry geometry(const Shape& xs, const Shape& ws, std::array<int64_t, 2> stride,
                      std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation,
                      int64_t groups) {
    ConvGeometry g{};
    bool ok = xs.size() == 4 && ws.size() == 4 && groups >= 1;
    if (ok) {
        g = {xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], 0, 0, groups, ws[1], ws[0] / groups,
             stride, padding, dilation};
        int64_t channels;
        ok = !__builtin_mul_overflow(g.Cg, groups, &channels) && g.C == channels &&
             g.O % groups == 0;
        g.OH = sliding_windows(g.H, g.KH, stride[0], padding[0], dilation[0]);
        g.OW = sliding_windows(g.W, g.KW, stride[1], padding[1], dilation[1]);
        // im2col's rows and columns are products of these; they must be countable too
        int64_t cols;
        ok = ok && g.OH >= 1 && g.OW >= 1 && !__builtin_mul_overflow(g.OH, g.OW, &cols) &&
             !__builtin_mul_overflow(cols, std::max<int64_t>(g.N, 1), &cols) &&
             !__builtin_mul_overflow(g.KH * g.KW, std::max<int64_t>(g.Cg, 1), &cols);
    }
    if (!ok)
        throw value_error("conv2d: input " + shape_str(xs) + " and weight " + shape_str(ws) +
                          " with stride=" + shape_str({stride[0], stride[1]}) + ", padding=" +
                          shape_str({padding[0], padding[1]}) + ", dilation=" +
                          shape_str({dilation[0], dilation[1]}) + ", groups=" +
                          std::to_string(groups) +
                          " do not fit; need x (N, C, H, W), w (O, C/groups, KH, KW), O "
                          "divisible by groups, stride and dilation >= 1, padding >= 0, and a "
                          "kernel no larger than the padded input");
    return g;
}

// The output columns ow whose input column ow*stride - pad + j*dilation lies inside [0, W):
// [lo, hi), so the loops below need no per-element bounds test.
inline std::pair<int64_t, int64_t> valid_columns(const ConvGeometry& g, int64_t j) {
    const int64_t s = g.stride[1], shift = j * g.dilation[1] - g.padding[1];   // w = ow*s + shift
    auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
    const int64_t lo = std::clamp<int64_t>(ceil_div(-shift, s), 0, g.OW);
    const int64_t hi = std::clamp<int64_t>(ceil_div(g.W - shift, s), lo, g.OW);
    return {lo, hi};
}

// A stride-1 convolution whose output plane has the input's shape ("same" padding, the usual
// 3x3 pad 1): its im2col row for kernel tap (i, j) is the input plane shifted by
// (i - pad_h) * W + (j - pad_w) elements, with the wrapped-around columns zeroed. One long copy
// per plane instead of one short copy per output row, which dominates on small images.
bool shifted_planes(const ConvGeometry& g) {
    return g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 && g.dilation[1] == 1 &&
           g.OH == g.H && g.OW == g.W;
}

int64_t plane_shift(const ConvGeometry& g, int64_t i, int64_t j) {
    return (i - g.padding[0]) * g.W + (j - g.padding[1]);
}

// Output rows [oh0, oh1) of every sample: the unit the kernels below unfold and fold back.
// A whole plane for blocks of several samples; a band of rows when one sample's im2col matrix
// alone would not fit in L2.
struct RowBand {
    int64_t oh0, oh1;
};

// Zeroes the columns of `rows` output rows (OW each) that tap column j reads from outside the
// input.
template <class T>
void zero_wrapped_columns(const ConvGeometry& g, int64_t j, int64_t rows, T* band) {
    const auto [lo, hi] = valid_columns(g, j);
    if (lo == 0 && hi == g.OW) return;
    for (int64_t oh = 0; oh < rows; ++oh) {
        T* row = band + oh * g.OW;
        for (int64_t ow = 0; ow < lo; ++ow) row[ow] = T(0);   // a column or two: no memset call
        for (int64_t ow = hi; ow < g.OW; ++ow) row[ow] = T(0);
    }
}

// One output row of an im2col row of tap column j: out[ow] = in[ow * s + shift] for ow in
// [lo, hi), zero up to ow_end; S is the stride when known at compile time (1, 2), else 0 and
// s says. Loops only, kept as loops: as calls to memset and memmove (which GCC makes of such
// loops) the rows of 4-16 elements of a small image cost several times the copy (the
// stride-2 4x4 convolutions of a DCGAN generator's gradients).
#if defined(__GNUC__) && !defined(__clang__)
#define MGCPU_NO_CALLS_FOR_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define MGCPU_NO_CALLS_FOR_LOOPS
#endif
template <int S, class T>
MGCPU_NO_CALLS_FOR_LOOPS inline void unfold_row(const T* __restrict in, int64_t shift,
                                                int64_t lo, int64_t hi, int64_t ow_end,
                                                T* __restrict out, int64_t s = S) {
    for (int64_t ow = 0; ow < lo; ++ow) out[ow] = T(0);
    if constexpr (S > 0)
        for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * S + shift];
    else
        for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * s + shift];
    for (int64_t ow = hi; ow < ow_end; ++ow) out[ow] = T(0);
}

// cols[r, (n - n0)*B + b] for samples [n0, n1), output rows `band` (B = its rows * OW
// positions, b counted from its first row) and the channels of group `grp` (x contiguous NCHW).
template <class T>
void im2col(const ConvGeometry& g, const T* x, int64_t grp, int64_t n0, int64_t n1,
            RowBand band, T* cols) {
    const int64_t P = g.P(), B = (band.oh1 - band.oh0) * g.OW, NB = (n1 - n0) * B;
    if (shifted_planes(g)) {
        const int64_t a = band.oh0 * g.OW, e = band.oh1 * g.OW;   // the band's positions
        parallel_for(g.rows(), 1, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t c = r / (g.KH * g.KW), i = (r / g.KW) % g.KH, j = r % g.KW;
                const int64_t shift = plane_shift(g, i, j);
                // positions q whose source q + shift is inside the plane, within the band
                const int64_t q0 = std::clamp<int64_t>(-shift, a, e);
                const int64_t q1 = std::clamp<int64_t>(P - shift, q0, e);
                for (int64_t n = n0; n < n1; ++n) {
                    const T* plane = x + ((n * g.C) + grp * g.Cg + c) * P;
                    T* out = cols + r * NB + (n - n0) * B;   // out[q - a] for q in [a, e)
                    std::fill(out, out + (q0 - a), T(0));
                    std::copy(plane + q0 + shift, plane + q1 + shift, out + (q0 - a));
                    std::fill(out + (q1 - a), out + B, T(0));
                    zero_wrapped_columns(g, j, band.oh1 - band.oh0, out);
                }
            }
        });
        return;
    }
    parallel_for(g.rows(), 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t c = r / (g.KH * g.KW), i = (r / g.KW) % g.KH, j = r % g.KW;
            const auto [lo, hi] = valid_columns(g, j);
            const int64_t shift = j * g.dilation[1] - g.padding[1], s = g.stride[1];
            T* row = cols + r * NB;
            for (int64_t n = n0; n < n1; ++n) {
                const T* plane = x + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                for (int64_t oh = band.oh0; oh < band.oh1; ++oh) {
                    const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                    T* out = row + (n - n0) * B + (oh - band.oh0) * g.OW;
                    if (h < 0 || h >= g.H) { std::fill_n(out, g.OW, T(0)); continue; }
                    const T* in = plane + h * g.W;   // input column of ow: ow * s + shift
                    if (s == 1) unfold_row<1>(in, shift, lo, hi, g.OW, out);
                    else if (s == 2) unfold_row<2>(in, shift, lo, hi, g.OW, out);
                    else unfold_row<0>(in, shift, lo, hi, g.OW, out, s);
                }
            }
        }
    });
}

// grad_x += col2im(cols) for samples [n0, n1), output rows `band` and the channels of group
// `grp` (cols laid out as im2col's); threads own whole channels. The shifted-plane case first
// zeroes the wrapped columns of `cols` (scratch), so each plane is one long vectorised add.
template <class T>
void col2im(const ConvGeometry& g, T* cols, int64_t grp, int64_t n0, int64_t n1, RowBand band,
            T* gx) {
    const int64_t P = g.P(), B = (band.oh1 - band.oh0) * g.OW, NB = (n1 - n0) * B;
    const int64_t KK = g.KH * g.KW;
    if (shifted_planes(g)) {
        const int64_t a = band.oh0 * g.OW, e = band.oh1 * g.OW;
        parallel_for(g.Cg, 1, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c)
                for (int64_t ij = 0; ij < KK; ++ij) {
                    const int64_t i = ij / g.KW, j = ij % g.KW, shift = plane_shift(g, i, j);
                    const int64_t q0 = std::clamp<int64_t>(-shift, a, e);
                    const int64_t q1 = std::clamp<int64_t>(P - shift, q0, e);
                    for (int64_t n = n0; n < n1; ++n) {
                        T* row = cols + (c * KK + ij) * NB + (n - n0) * B;   // row[q - a]
                        T* plane = gx + ((n * g.C) + grp * g.Cg + c) * P;
                        zero_wrapped_columns(g, j, band.oh1 - band.oh0, row);
                        for (int64_t q = q0; q < q1; ++q) plane[q + shift] += row[q - a];
                    }
                }
        });
        return;
    }
    parallel_for(g.Cg, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t ij = 0; ij < KK; ++ij) {
                const int64_t i = ij / g.KW, j = ij % g.KW;
                const auto [lo, hi] = valid_columns(g, j);
                const int64_t shift = j * g.dilation[1] - g.padding[1], s = g.stride[1];
                const T* row = cols + (c * KK + ij) * NB;
                for (int64_t n = n0; n < n1; ++n) {
                    T* plane = gx + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                    for (int64_t oh = band.oh0; oh < band.oh1; ++oh) {
                        const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                        if (h < 0 || h >= g.H) continue;
                        const T* in = row + (n - n0) * B + (oh - band.oh0) * g.OW;
                        T* out = plane + h * g.W;
                        for (int64_t ow = lo; ow < hi; ++ow) out[ow * s + shift] += in[ow];
                    }
                }
            }
    });
}

DType compute_dtype(DType d, const char* what) {
    require_float(d, what);
    return float_compute(d);
}

// Convolutions go over blocks of samples small enough that a block's im2col matrix stays in
// L2 (about 512 KB): the whole batch's matrix (19 MB for 32x16x32x32) made every GEMM stream
// it from memory. Where one sample's matrix is larger (7 MB for 64 channels at 56x56), the
// sample is unfolded in bands of output rows that fit. Blocks run in parallel, each with its
// own scratch and one-thread GEMMs; a single block instead lets im2col and the GEMM use the
// threads.
struct ConvBlocks {
    int64_t samples, count, band_rows;   // band_rows < OH only when samples == 1
};

ConvBlocks conv_blocks(const ConvGeometry& g, int64_t itemsize) {
    const int64_t budget = (int64_t(512) << 10) / itemsize, threads = num_threads();
    const int64_t fit = std::max<int64_t>(1, budget / std::max<int64_t>(1, g.rows() * g.P()));
    // Enough blocks to fit, at least two a thread, and a multiple of the thread count, so the
    // threads get equal shares when the batch allows.
    int64_t count = std::max((g.N + fit - 1) / fit, 2 * threads);
    count = std::min(g.N, (count + threads - 1) / threads * threads);
    const int64_t per = (g.N + count - 1) / count;
    // Bands of equal height (two of 16 rows rather than 28 and 4), each within the budget.
    const int64_t fit_rows = std::max<int64_t>(1, budget / std::max<int64_t>(1, g.rows() * g.OW));
    const int64_t bands = per == 1 ? (g.OH + fit_rows - 1) / fit_rows : 1;
    return {per, (g.N + per - 1) / per, (g.OH + bands - 1) / bands};
}

// An empty batch or output has nothing to compute, and no input channels (rows() == 0) sums
// nothing: zeros. (Both would otherwise divide by zero when splitting the batch into blocks.)
bool conv_is_trivial(const ConvGeometry& g) { return g.N == 0 || g.O == 0 || g.rows() == 0; }

// A 1x1 convolution with stride 1 and no padding reads each input position once: a sample's
// (Cg, P) input planes are its im2col matrix, so its GEMMs take them in place.
bool pointwise(const ConvGeometry& g) {
    return g.KH == 1 && g.KW == 1 && g.stride[0] == 1 && g.stride[1] == 1 &&
           g.padding[0] == 0 && g.padding[1] == 0;
}

// A kernel that covers the whole unpadded input has one output position: the convolution is a
// fully connected layer, y (N, Og) = x (N, Cg*H*W) @ w_g^T per group, and its transpose (a
// DCGAN generator's first layer, 1x1 -> KxK) the adjoint product. Three plain GEMMs on the
// arrays in place; im2col and col2im of one-column matrices cost 5x PyTorch's time there.
bool fully_connected(const ConvGeometry& g) {
    return g.OH == 1 && g.OW == 1 && g.KH == g.H && g.KW == g.W && g.padding[0] == 0 &&
           g.padding[1] == 0;
}

// The leading dimension of x (N, C*H*W) as one matrix: the groups' columns side by side.
int64_t fully_connected_ld(const ConvGeometry& g) {
    const int64_t ld = g.C * g.H * g.W;
    require_blas_size({ld, g.O}, "conv2d (a kernel covering the whole input)");
    return ld;
}

// y (N, O) = x (N, C*H*W) @ w^T, group by group (their columns are contiguous slices).
template <class T>
void fully_connected_forward(const ConvGeometry& g, const T* x, const T* w, T* y) {
    const int64_t K = g.rows(), ldx = fully_connected_ld(g);
    for (int64_t grp = 0; grp < g.G; ++grp)
        gemm<T>(false, true, g.N, g.Og, K, T(1), x + grp * K, ldx, w + grp * g.Og * K, K, T(0),
                y + grp * g.Og, g.O);
}

// gx (N, C*H*W) = gy (N, O) @ w, group by group.
template <class T>
void fully_connected_input_grad(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
    const int64_t K = g.rows(), ldx = fully_connected_ld(g);
    for (int64_t grp = 0; grp < g.G; ++grp)
        gemm<T>(false, false, g.N, K, g.Og, T(1), gy + grp * g.Og, g.O, w + grp * g.Og * K, K,
                T(0), gx + grp * K, ldx);
}

// gw (O, C/G*H*W) = gy^T (O, N) @ x (N, C*H*W), group by group.
template <class T>
void fully_connected_weight_grad(const ConvGeometry& g, const T* x, const T* gy, T* gw) {
    const int64_t K = g.rows(), ldx = fully_connected_ld(g);
    for (int64_t grp = 0; grp < g.G; ++grp)
        gemm<T>(true, false, g.Og, K, g.N, T(1), gy + grp * g.Og, g.O, x + grp * K, ldx, T(0),
                gw + grp * g.Og * K, K);
}

// Ungrouped 3x3 convolutions with stride and dilation 1 go through Winograd F(2x2, 3x3)
// (winograd.hpp): 16 multiplications per 2x2 output tile and channel pair instead of 36. Its
// per-point GEMMs have the channel counts as their inner and outer dimensions, so with only a
// few channels (the first layer of an image model: 1 or 3) there is nothing to save and the
// transforms still cost; 8 is a judgement, not a measured crossover (16, 32 and 64 channels
// were measured faster). The input gradient is a convolution with padding 2 - padding, hence
// padding <= 2. The transforms loop along rows of OW / 2 tiles: on narrow images (8 wide: 4
// tiles) their loop overhead made the digits CNN's 16 -> 32 channel layer 1.4x (forward) to
// 1.8x (forward + backward) slower than im2col, while 32 and 56 wide went from 1.64x and 1.08x
// PyTorch's time (forward + backward) to 0.85x and 0.87x.
constexpr int64_t WINOGRAD_MIN_CHANNELS = 8;
constexpr int64_t WINOGRAD_MIN_WIDTH = 16;

bool winograd(const ConvGeometry& g) {
    return g.KH == 3 && g.KW == 3 && g.stride[0] == 1 && g.stride[1] == 1 &&
           g.dilation[0] == 1 && g.dilation[1] == 1 && g.G == 1 && g.padding[0] <= 2 &&
           g.padding[1] <= 2 && std::min(g.C, g.O) >= WINOGRAD_MIN_CHANNELS &&
           std::min(g.OW, g.W) >= WINOGRAD_MIN_WIDTH;
}

// The convolution g as Winograd sees it, and its adjoint (input gy, output x's shape).
WinogradShape winograd_shape(const ConvGeometry& g) {
    return {g.N, g.C, g.H, g.W, g.O, g.padding[0], g.padding[1]};
}
WinogradShape winograd_adjoint_shape(const ConvGeometry& g) {
    return {g.N, g.O, g.OH, g.OW, g.C, 2 - g.padding[0], 2 - g.padding[1]};
}

// The (Og, P) planes of group grp of sample n in an (N, O, OH, OW) array; with x's geometry
// (N, C, H, W) when `input` (the same for pointwise convolutions).
template <class T>
T* group_planes(const ConvGeometry& g, T* a, int64_t grp, int64_t n) {
    return a + (n * g.O + grp * g.Og) * g.P();
}
template <class T>
T* input_planes(const ConvGeometry& g, T* a, int64_t grp, int64_t n) {
    return a + (n * g.C + grp * g.Cg) * g.H * g.W;
}

// ------------------------------------------------------------ padded shifted planes
// The shifted-plane unfolding of whole planes without bounds tests: each of a block's input
// planes is first copied between `origin` zeros on each side (padding[0] rows and padding[1]
// elements: the furthest any tap shifts), so every tap's read of P positions stays inside it,
// and a tap's wrapped-around columns are cleared by a per-column mask. One branch-free,
// vectorisable loop of P elements per (row, sample): on small images (8x8: P = 64) the
// clamped copies and the fills of a few elements around them cost more in calls to memset
// and memmove than the copy itself. The fold back (col2im_padded) accumulates a plane's taps
// in its padded copy, in L1, and writes the plane once, so grad_x needs no zeroing.
template <class T>
using MaskBits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;

// The two loops, cloned for AVX-512 and AVX2 with the CPU's choice made at load time (this
// file is built for the baseline): they are store-bound, and the baseline's 16-byte stores
// made the unfolding of the digits CNN's 16 -> 32 channel layer (8x8) 15% of its time.
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(_M_X64))
#define MGCPU_STORE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MGCPU_STORE_CLONES
#endif

// masked_copy: for each of `count` rows k, out[k * n + q] = keep[q] ? in[k * ld + q] : 0 (q < n).
// masked_add_taps: for each tap t, acc[shift[t] + q] += keep[t][q] ? in[t * ld + q] : 0. A call
// does a whole im2col row of a block's samples, or all the taps of one plane: called per
// 64-element plane instead, the calls themselves were a third of the unfolding on 8x8 images.
template <class T>
inline void masked_copy_loop(const T* __restrict in, int64_t ld, const MaskBits<T>* __restrict keep,
                             int64_t n, int64_t count, T* __restrict out) {
    for (int64_t k = 0; k < count; ++k, in += ld, out += n)
        for (int64_t q = 0; q < n; ++q) {
            const T v = in[q];
            out[q] = keep[q] ? v : T(0);
        }
}
template <class T>
inline void masked_add_taps_loop(const T* __restrict in, int64_t ld,
                                 const MaskBits<T>* const* keep, const int64_t* shift,
                                 int64_t taps, int64_t n, T* __restrict acc) {
    for (int64_t t = 0; t < taps; ++t, in += ld) {
        const MaskBits<T>* __restrict kt = keep[t];
        T* __restrict at = acc + shift[t];
        for (int64_t q = 0; q < n; ++q) {
            const T v = in[q];
            at[q] += kt[q] ? v : T(0);
        }
    }
}
MGCPU_STORE_CLONES void masked_copy(const float* in, int64_t ld, const uint32_t* keep, int64_t n,
                                    int64_t count, float* out) {
    masked_copy_loop(in, ld, keep, n, count, out);
}
MGCPU_STORE_CLONES void masked_copy(const double* in, int64_t ld, const uint64_t* keep, int64_t n,
                                    int64_t count, double* out) {
    masked_copy_loop(in, ld, keep, n, count, out);
}
MGCPU_STORE_CLONES void masked_add_taps(const float* in, int64_t ld, const uint32_t* const* keep,
                                        const int64_t* shift, int64_t taps, int64_t n,
                                        float* acc) {
    masked_add_taps_loop(in, ld, keep, shift, taps, n, acc);
}
MGCPU_STORE_CLONES void masked_add_taps(const double* in, int64_t ld, const uint64_t* const* keep,
                                        const int64_t* shift, int64_t taps, int64_t n,
                                        double* acc) {
    masked_add_taps_loop(in, ld, keep, shift, taps, n, acc);
}

struct PaddedPlanes {
    int64_t origin, stride;   // the offset of position 0 in a padded plane, and its length
};

PaddedPlanes padded_planes(const ConvGeometry& g) {
    const int64_t origin = g.padding[0] * g.W + g.padding[1];
    return {origin, g.P() + 2 * origin};
}

// planes (count of them, P elements each) copied into padded planes (pp), zeros around each.
// Loops kept as loops: as memset/memmove calls on an 8x8 image's 9 + 64 + 9 elements, the calls
// cost more than the copy.
template <class T>
MGCPU_NO_CALLS_FOR_LOOPS void pad_planes_between_zeros(const T* __restrict planes, int64_t count,
                                                       int64_t P, PaddedPlanes pp,
                                                       T* __restrict padded) {
    for (int64_t c = 0; c < count; ++c, planes += P, padded += pp.stride) {
        for (int64_t q = 0; q < pp.origin; ++q) padded[q] = T(0);
        for (int64_t q = 0; q < P; ++q) padded[pp.origin + q] = planes[q];
        for (int64_t q = pp.origin + P; q < pp.stride; ++q) padded[q] = T(0);
    }
}

// keep[j * P + q] all ones where tap column j reads inside the row at output position q.
template <class T>
std::vector<MaskBits<T>> column_masks(const ConvGeometry& g) {
    std::vector<MaskBits<T>> keep(g.KW * g.P());
    for (int64_t j = 0; j < g.KW; ++j) {
        const auto [lo, hi] = valid_columns(g, j);
        for (int64_t q = 0; q < g.P(); ++q) {
            const int64_t ow = q % g.OW;
            keep[j * g.P() + q] = ow >= lo && ow < hi ? ~MaskBits<T>(0) : MaskBits<T>(0);
        }
    }
    return keep;
}

// cols[r, (n - n0) * P + q] for samples [n0, n1) of group grp, whole planes; `padded` holds
// (n1 - n0) * Cg padded planes and `masks` is column_masks(g).
template <class T>
void im2col_padded(const ConvGeometry& g, const T* x, int64_t grp, int64_t n0, int64_t n1,
                   const MaskBits<T>* masks, T* padded, T* cols) {
    const int64_t P = g.P(), NB = (n1 - n0) * P, KK = g.KH * g.KW;
    const PaddedPlanes pp = padded_planes(g);
    for (int64_t n = n0; n < n1; ++n)
        pad_planes_between_zeros(input_planes(g, x, grp, n), g.Cg, P, pp,
                                 padded + (n - n0) * g.Cg * pp.stride);
    parallel_for(g.rows(), 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t c = r / KK, i = (r / g.KW) % g.KH, j = r % g.KW;
            masked_copy(padded + c * pp.stride + pp.origin + plane_shift(g, i, j),
                        g.Cg * pp.stride, masks + j * P, P, n1 - n0, cols + r * NB);
        }
    });
}

// grad_x planes of samples [n0, n1) of group grp = col2im(cols), written (not added): the
// block covers these planes alone.
template <class T>
void col2im_padded(const ConvGeometry& g, const T* cols, int64_t grp, int64_t n0, int64_t n1,
                   const MaskBits<T>* masks, T* padded, T* gx) {
    const int64_t P = g.P(), NB = (n1 - n0) * P, KK = g.KH * g.KW;
    const PaddedPlanes pp = padded_planes(g);
    // tap ij's mask and the offset of its reads in a padded plane
    std::vector<const MaskBits<T>*> keep(KK);
    std::vector<int64_t> shift(KK);
    for (int64_t ij = 0; ij < KK; ++ij) {
        keep[ij] = masks + ij % g.KW * P;
        shift[ij] = pp.origin + plane_shift(g, ij / g.KW, ij % g.KW);
    }
    parallel_for(g.Cg, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t n = n0; n < n1; ++n) {
                T* acc = padded + ((n - n0) * g.Cg + c) * pp.stride;
                std::fill_n(acc, pp.stride, T(0));
                masked_add_taps(cols + c * KK * NB + (n - n0) * P, NB, keep.data(),
                                shift.data(), KK, P, acc);
                std::copy_n(acc + pp.origin, P, input_planes(g, gx, grp, n) + c * P);
            }
    });
}

// Whether the blocks unfold through padded planes: a "same" convolution's whole planes.
bool padded_path(const ConvGeometry& g, const ConvBlocks& blocks) {
    return shifted_planes(g) && !pointwise(g) && blocks.band_rows == g.OH;
}

// Per-thread scratch of a chunk of blocks, from the caching allocator (no page faults or
// zero-filling on every call): cols for a block's im2col matrix (none for pointwise
// convolutions), `wide` for an (Og, L) matrix of a block of several samples, and on the
// padded path the padded planes of a block and the column masks.
template <class T>
struct Scratch {
    Array cols_buf, wide_buf, padded_buf;
    std::vector<MaskBits<T>> masks;
    Scratch(const ConvGeometry& g, const ConvBlocks& blocks, DType dtype)
        : cols_buf(empty({pointwise(g) ? 0 : g.rows(), blocks.samples * blocks.band_rows * g.OW},
                         dtype)),
          wide_buf(empty({blocks.samples > 1 ? g.Og : 0, blocks.samples * g.P()}, dtype)),
          padded_buf(empty({padded_path(g, blocks) ? blocks.samples * g.Cg : 0,
                            padded_planes(g).stride}, dtype)),
          masks(padded_path(g, blocks) ? column_masks<T>(g) : std::vector<MaskBits<T>>{}) {}
    T* cols() { return reinterpret_cast<T*>(cols_buf.ptr()); }
    T* wide() { return reinterpret_cast<T*>(wide_buf.ptr()); }
    T* padded() { return reinterpret_cast<T*>(padded_buf.ptr()); }
};

// unfold_block: scratch.cols() = the im2col matrix of samples [n0, n1) of group grp of x over
// `band` (whole planes on the padded path). fold_block: grad_x of those planes += col2im of
// scratch.cols() (written, not added, on the padded path, whose blocks cover whole planes).
template <class T>
void unfold_block(const ConvGeometry& g, const ConvBlocks& blocks, const T* x, int64_t grp,
                  int64_t n0, int64_t n1, RowBand band, Scratch<T>& scratch) {
    if (padded_path(g, blocks))
        im2col_padded(g, x, grp, n0, n1, scratch.masks.data(), scratch.padded(), scratch.cols());
    else
        im2col(g, x, grp, n0, n1, band, scratch.cols());
}
template <class T>
void fold_block(const ConvGeometry& g, const ConvBlocks& blocks, int64_t grp, int64_t n0,
                int64_t n1, RowBand band, Scratch<T>& scratch, T* gx) {
    if (padded_path(g, blocks))
        col2im_padded(g, scratch.cols(), grp, n0, n1, scratch.masks.data(), scratch.padded(), gx);
    else
        col2im(g, scratch.cols(), grp, n0, n1, band, gx);
}

// Gathers the (Og, P) planes of group grp of samples [n0, n1) of `a` (N, O, OH, OW) side by
// side into one (Og, L) matrix, or scatters them back.
template <class T>
void gather_planes(const ConvGeometry& g, const T* a, int64_t grp, int64_t n0, int64_t n1,
                   T* wide) {
    const int64_t P = g.P(), L = (n1 - n0) * P;
    for (int64_t n = n0; n < n1; ++n)
        for (int64_t o = 0; o < g.Og; ++o)
            std::copy_n(group_planes(g, a, grp, n) + o * P, P, wide + o * L + (n - n0) * P);
}
template <class T>
void scatter_planes(const ConvGeometry& g, const T* wide, int64_t grp, int64_t n0, int64_t n1,
                    T* a) {
    const int64_t P = g.P(), L = (n1 - n0) * P;
    for (int64_t n = n0; n < n1; ++n)
        for (int64_t o = 0; o < g.Og; ++o)
            std::copy_n(wide + o * L + (n - n0) * P, P, group_planes(g, a, grp, n) + o * P);
}

// One block of a convolution: samples [n0, n1) of group grp of x unfolded, times the group's
// weight, into out (N, O, OH, OW). When gw is given, also gw += src_g @ unfolded^T with src an
// (N, O, OH, OW) array (the transposed convolution's weight gradient shares the unfolding).
// A single sample, band by band, or a pointwise convolution, sample by sample, multiplies
// straight into out; several small samples share one wider GEMM, copied into place.
template <class T>
void conv_block(const ConvGeometry& g, const ConvBlocks& blocks, const T* px, const T* pw,
                int64_t grp, int64_t n0, int64_t n1, Scratch<T>& scratch, T* out,
                const T* src = nullptr, T* gw = nullptr) {
    const int64_t P = g.P(), L = (n1 - n0) * P, K = g.rows();
    const T* wg = pw + grp * g.Og * K;
    T* gwg = gw ? gw + grp * g.Og * K : nullptr;
    if (pointwise(g)) {
        for (int64_t n = n0; n < n1; ++n) {
            const T* xn = input_planes(g, px, grp, n);
            gemm<T>(false, false, g.Og, P, K, T(1), wg, K, xn, P, T(0),
                    group_planes(g, out, grp, n), P);
            if (gwg) gemm<T>(false, true, g.Og, K, P, T(1), group_planes(g, src, grp, n), P, xn,
                             P, T(1), gwg, K);
        }
        return;
    }
    T* cols = scratch.cols();
    if (n1 - n0 == 1) {
        for (int64_t oh0 = 0; oh0 < g.OH; oh0 += blocks.band_rows) {
            const RowBand band{oh0, std::min(g.OH, oh0 + blocks.band_rows)};
            const int64_t B = (band.oh1 - band.oh0) * g.OW, at = oh0 * g.OW;
            unfold_block(g, blocks, px, grp, n0, n1, band, scratch);
            gemm<T>(false, false, g.Og, B, K, T(1), wg, K, cols, B, T(0),
                    group_planes(g, out, grp, n0) + at, P);
            if (gwg) gemm<T>(false, true, g.Og, K, B, T(1), group_planes(g, src, grp, n0) + at,
                             P, cols, B, T(1), gwg, K);
        }
        return;
    }
    T* wide = scratch.wide();
    unfold_block(g, blocks, px, grp, n0, n1, RowBand{0, g.OH}, scratch);
    gemm<T>(false, false, g.Og, L, K, T(1), wg, K, cols, L, T(0), wide, L);
    scatter_planes(g, wide, grp, n0, n1, out);
    if (!gwg) return;
    gather_planes(g, src, grp, n0, n1, wide);
    gemm<T>(false, true, g.Og, K, L, T(1), wide, L, cols, L, T(1), gwg, K);
}

// The backward of one block: grad_x += the input gradient of samples [n0, n1) of group grp
// from gy (N, O, OH, OW), and when x is given gw += gy_g @ unfolded(x)^T. Bands, samples and
// the pointwise case as in conv_block; gy is read in place except for blocks of several
// samples.
template <class T>
void conv_backward_block(const ConvGeometry& g, const ConvBlocks& blocks, const T* pgy,
                         const T* px, const T* pw, int64_t grp, int64_t n0, int64_t n1,
                         Scratch<T>& scratch, T* gx, T* gw) {
    const int64_t P = g.P(), K = g.rows();
    const T* wg = pw + grp * g.Og * K;
    T* gwg = px ? gw + grp * g.Og * K : nullptr;
    if (pointwise(g)) {   // grad_x's planes are the gradient of the im2col matrix
        for (int64_t n = n0; n < n1; ++n) {
            const T* gyn = group_planes(g, pgy, grp, n);
            if (px) gemm<T>(false, true, g.Og, K, P, T(1), gyn, P, input_planes(g, px, grp, n),
                            P, T(1), gwg, K);
            gemm<T>(true, false, K, P, g.Og, T(1), wg, K, gyn, P, T(0),
                    input_planes(g, gx, grp, n), P);
        }
        return;
    }
    T* cols = scratch.cols();
    // gy of this block as one (Og, L) matrix of leading dimension ld: in place for one sample
    const T* gyg = group_planes(g, pgy, grp, n0);
    int64_t ld = P;
    if (n1 - n0 > 1) {
        gather_planes(g, pgy, grp, n0, n1, scratch.wide());
        gyg = scratch.wide();
        ld = (n1 - n0) * P;
    }
    const int64_t band_rows = n1 - n0 == 1 ? blocks.band_rows : g.OH;
    for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band_rows) {
        const RowBand band{oh0, std::min(g.OH, oh0 + band_rows)};
        const int64_t B = (n1 - n0) * (band.oh1 - band.oh0) * g.OW;   // a band or whole planes
        const T* gyb = gyg + oh0 * g.OW;
        if (px) {   // grad_w += gy_g @ cols^T
            unfold_block(g, blocks, px, grp, n0, n1, band, scratch);
            gemm<T>(false, true, g.Og, K, B, T(1), gyb, ld, cols, B, T(1), gwg, K);
        }
        // grad_cols = w_g^T @ gy_g, folded back onto this block's input planes
        gemm<T>(true, false, K, B, g.Og, T(1), wg, K, gyb, ld, T(0), cols, B);
        fold_block(g, blocks, grp, n0, n1, band, scratch, gx);
    }
}

// Runs block(grp, n0, n1, scratch, gw) over every (group, block of samples) item in parallel,
// each chunk of items with its own scratch. With weight_grad, each chunk accumulates into its
// own zeroed weight gradient gw and their sum is returned (an empty Array otherwise, gw null).
template <class T, class Block>
Array for_each_block(const ConvGeometry& g, const ConvBlocks& blocks, const Shape& w_shape,
                     DType dtype, bool weight_grad, Block block) {
    return parallel_partial_sums<T>(blocks.count * g.G, w_shape, weight_grad,
                                    [&](int64_t i0, int64_t i1, T* gw) {
        Scratch<T> scratch(g, blocks, dtype);
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t grp = item % g.G, n0 = item / g.G * blocks.samples;
            block(grp, n0, std::min(g.N, n0 + blocks.samples), scratch, gw);
        }
    });
}

template <class T>
Array conv2d_impl(const Array& x, const Array& w, const ConvGeometry& g) {
    if (conv_is_trivial(g)) return full_float({g.N, g.O, g.OH, g.OW}, 0.0, x.dtype);
    require_blas_size({g.Og, g.rows(), g.N * g.P()}, "conv2d");
    Array out = empty({g.N, g.O, g.OH, g.OW}, x.dtype);
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    if (fully_connected(g)) {
        fully_connected_forward(g, px, pw, po);
        return out;
    }
    if (winograd(g)) {
        winograd_conv3x3(winograd_shape(g), px, pw, false, po);
        return out;
    }
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    for_each_block<T>(g, blocks, w.shape, x.dtype, false,
                      [&](int64_t grp, int64_t n0, int64_t n1, Scratch<T>& scratch, T*) {
                          conv_block(g, blocks, px, pw, grp, n0, n1, scratch, po);
                      });
    return out;
}

// The gradients of a convolution with geometry g: of its input and, when x is given, of its
// weight. A transposed convolution is the input gradient alone (x null).
template <class T>
std::pair<Array, Array> conv2d_backward_impl(const Array& gy, const Array* x, const Array& w,
                                             const ConvGeometry& g) {
    if (conv_is_trivial(g))
        return {full_float({g.N, g.C, g.H, g.W}, 0.0, w.dtype), full_float(w.shape, 0.0, w.dtype)};
    require_blas_size({g.Og, g.rows(), g.N * g.P()}, "conv2d_backward");
    const T* px = x ? reinterpret_cast<const T*>(x->ptr()) : nullptr;
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    const T* pgy = reinterpret_cast<const T*>(gy.ptr());
    if (fully_connected(g)) {
        Array gx = empty({g.N, g.C, g.H, g.W}, w.dtype), gw;
        fully_connected_input_grad(g, pgy, pw, reinterpret_cast<T*>(gx.ptr()));
        if (px) {
            gw = empty(w.shape, w.dtype);
            fully_connected_weight_grad(g, px, pgy, reinterpret_cast<T*>(gw.ptr()));
        }
        return {gx, gw};
    }
    if (winograd(g)) {
        Array gx = empty({g.N, g.C, g.H, g.W}, w.dtype), gw;
        winograd_conv3x3(winograd_adjoint_shape(g), pgy, pw, true,
                         reinterpret_cast<T*>(gx.ptr()));
        if (px) {
            gw = empty(w.shape, w.dtype);
            winograd_conv3x3_weight_grad(winograd_shape(g), px, pgy,
                                         reinterpret_cast<T*>(gw.ptr()));
        }
        return {gx, gw};
    }
    // zeros where col2im accumulates (a pointwise convolution's GEMM and col2im_padded
    // write every element instead)
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    Array gx = pointwise(g) || padded_path(g, blocks) ? empty({g.N, g.C, g.H, g.W}, w.dtype)
                                                      : full_float({g.N, g.C, g.H, g.W}, 0.0, w.dtype);
    T* pgx = reinterpret_cast<T*>(gx.ptr());
    Array gw = for_each_block<T>(
        g, blocks, w.shape, w.dtype, px != nullptr,
        [&](int64_t grp, int64_t n0, int64_t n1, Scratch<T>& scratch, T* pgw) {
            conv_backward_block(g, blocks, pgy, px, pw, grp, n0, n1, scratch, pgx, pgw);
        });
    return {gx, gw};
}

// Both gradients of a transposed convolution, whose forward was the input gradient of the
// convolution g (input gy (N, C, H, W), output gradient x (N, O, OH, OW)): grad_x is that
// convolution of gy, grad_w its weight gradient with x as the output gradient. They share one
// im2col of gy per block.
template <class T>
std::pair<Array, Array> conv_transpose2d_backward_impl(const Array& gy, const Array& x,
                                                       const Array& w, const ConvGeometry& g) {
    if (conv_is_trivial(g))
        return {full_float({g.N, g.O, g.OH, g.OW}, 0.0, w.dtype), full_float(w.shape, 0.0, w.dtype)};
    require_blas_size({g.Og, g.rows(), g.N * g.P()}, "conv_transpose2d_backward");
    Array gx = empty({g.N, g.O, g.OH, g.OW}, w.dtype);
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    const T* pgy = reinterpret_cast<const T*>(gy.ptr());
    T* pgx = reinterpret_cast<T*>(gx.ptr());
    if (fully_connected(g)) {   // as below: the convolution g of gy, its weight gradient
        Array gw = empty(w.shape, w.dtype);
        fully_connected_forward(g, pgy, pw, pgx);
        fully_connected_weight_grad(g, pgy, px, reinterpret_cast<T*>(gw.ptr()));
        return {gx, gw};
    }
    if (winograd(g)) {   // the convolution g of gy, and its weight gradient with x as output's
        Array gw = empty(w.shape, w.dtype);
        winograd_conv3x3(winograd_shape(g), pgy, pw, false, pgx);
        winograd_conv3x3_weight_grad(winograd_shape(g), pgy, px, reinterpret_cast<T*>(gw.ptr()));
        return {gx, gw};
    }
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    Array gw = for_each_block<T>(
        g, blocks, w.shape, w.dtype, true,
        [&](int64_t grp, int64_t n0, int64_t n1, Scratch<T>& scratch, T* pgw) {
            conv_block(g, blocks, pgy, pw, grp, n0, n1, scratch, pgx, px, pgw);
        });
    return {gx, gw};
}

}  // namespace

Array conv2d(const Array& x_in, const Array& w_in, std::array<int64_t, 2> stride,
             std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups) {
    if (x_in.dtype != w_in.dtype)
        throw type_error(std::string("conv2d: input is ") + DTYPE_NAMES[x_in.dtype] +
                         " but weight is " + DTYPE_NAMES[w_in.dtype]);
    DType cd = compute_dtype(x_in.dtype, "conv2d");
    ConvGeometry g = geometry(x_in.shape, w_in.shape, stride, padding, dilation, groups);
    Array x = contiguous(astype_if(x_in, cd)), w = contiguous(astype_if(w_in, cd));
    Array y = cd == F32 ? conv2d_impl<float>(x, w, g) : conv2d_impl<double>(x, w, g);
    return y.dtype == x_in.dtype ? y : astype(y, x_in.dtype);
}

std::pair<Array, Array> conv2d_backward(const Array& gy_in, const Array& x_in, const Array& w_in,
                                        std::array<int64_t, 2> stride,
                                        std::array<int64_t, 2> padding,
                                        std::array<int64_t, 2> dilation, int64_t groups) {
    if (x_in.dtype != w_in.dtype || gy_in.dtype != x_in.dtype)
        throw type_error("conv2d_backward: grad, input and weight need one dtype");
    DType cd = compute_dtype(x_in.dtype, "conv2d_backward");
    ConvGeometry g = geometry(x_in.shape, w_in.shape, stride, padding, dilation, groups);
    if (gy_in.shape != Shape{g.N, g.O, g.OH, g.OW})
        throw value_error("conv2d_backward: grad_y has shape " + shape_str(gy_in.shape) +
                          ", expected " + shape_str({g.N, g.O, g.OH, g.OW}));
    Array x = contiguous(astype_if(x_in, cd)), w = contiguous(astype_if(w_in, cd)),
          gy = contiguous(astype_if(gy_in, cd));
    auto grads = cd == F32 ? conv2d_backward_impl<float>(gy, &x, w, g)
                           : conv2d_backward_impl<double>(gy, &x, w, g);
    if (cd != x_in.dtype)
        grads = {astype(grads.first, x_in.dtype), astype(grads.second, x_in.dtype)};
    return grads;
}

namespace {

// The convolution that a transposed convolution of x (N, Cin, H, W) by w (Cin, Cout/groups,
// KH, KW) is the input gradient of: input (N, Cout, OH, OW) with OH = (H - 1) * stride -
// 2 * padding + dilation * (KH - 1) + output_padding + 1, output x.
ConvGeometry transposed_geometry(const Shape& xs, const Shape& ws,
                                 std::array<int64_t, 2> stride, std::array<int64_t, 2> padding,
                                 std::array<int64_t, 2> output_padding,
                                 std::array<int64_t, 2> dilation, int64_t groups) {
    if (xs.size() != 4 || ws.size() != 4 || groups < 1 || xs[1] != ws[0])
        throw value_error("conv_transpose2d: input " + shape_str(xs) + " and weight " +
                          shape_str(ws) + " do not fit; need x (N, Cin, H, W) and w (Cin, "
                          "Cout/groups, KH, KW)");
    Shape out{xs[0], ws[1] * groups, 0, 0};
    for (int i = 0; i < 2; ++i)
        out[2 + i] = (xs[2 + i] - 1) * stride[i] - 2 * padding[i] +
                     dilation[i] * (ws[2 + i] - 1) + output_padding[i] + 1;
    ConvGeometry g = geometry(out, ws, stride, padding, dilation, groups);
    if (g.OH != xs[2] || g.OW != xs[3])
        throw value_error("conv_transpose2d: output_padding must be smaller than stride or "
                          "dilation; input " + shape_str(xs) + " gives output " +
                          shape_str(out));
    return g;
}

// A transposed convolution with stride s > 1 as s_h * s_w stride-1 convolutions of its input
// ("sub-pixel"): output row h = q * s + r - padding only receives kernel rows i = r + s * t,
// from input row q - t. Each output phase (r_h, r_w) is thus a correlation of x with the
// phase's (ceil((KH - r_h) / s_h), ceil((KW - r_w) / s_w)) sub-kernel, one GEMM with
// Og * taps inner products, written to every s-th output position. The col2im route instead
// multiplies into KH * KW / (s_h * s_w) times more columns than the output has, with only
// Og products each (the DCGAN generator's 4x4 stride-2 layers: K = 32..128, where the GEMM
// is memory-bound), and then scatter-adds them. Few output channels per group make the phase
// GEMMs a few rows tall, slower than col2im's (Cg * KH * KW)-row one: the generator's 32 -> 3
// layer took 2.6 ms this way against at most 1.2 ms by col2im (one thread, CPU time), its
// 64 -> 32 layer 3.7 against 4.5 ms. 8 is a judgement between the two.
constexpr int64_t SUBPIXEL_MIN_CHANNELS = 8;

bool subpixel(const ConvGeometry& g) {
    return g.dilation[0] == 1 && g.dilation[1] == 1 && (g.stride[0] > 1 || g.stride[1] > 1) &&
           g.KH >= g.stride[0] && g.KW >= g.stride[1] && g.Cg >= SUBPIXEL_MIN_CHANNELS;
}

// Output phase (rh, rw) of the transposed convolution of geometry g (its output (N, C, H, W),
// its input (N, O, OH, OW)): output rows h = (qh0 + a) * s_h + rh - pad_h for a in [0, nqh),
// reading input rows qh0 + a - t for sub-kernel rows t in [0, th); columns alike.
struct SubpixelPhase {
    int64_t rh, rw, th, tw, qh0, qw0, nqh, nqw;
    int64_t taps() const { return th * tw; }
    int64_t positions() const { return nqh * nqw; }
};

SubpixelPhase subpixel_phase(const ConvGeometry& g, int64_t rh, int64_t rw) {
    auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
    const int64_t sh = g.stride[0], sw = g.stride[1], ph = g.padding[0], pw = g.padding[1];
    const int64_t qh0 = ceil_div(ph - rh, sh), qw0 = ceil_div(pw - rw, sw);
    return {rh, rw, ceil_div(g.KH - rh, sh), ceil_div(g.KW - rw, sw), qh0, qw0,
            std::max<int64_t>(0, ceil_div(g.H + ph - rh, sh) - qh0),
            std::max<int64_t>(0, ceil_div(g.W + pw - rw, sw) - qw0)};
}

// The phase's weight matrix of group grp: wp (Cg, Og * th * tw) with
// wp[c, (o * th + t) * tw + u] = w[grp * Og + o, c, rh + s_h * t, rw + s_w * u].
template <class T>
void subpixel_weight(const ConvGeometry& g, const SubpixelPhase& f, const T* w, int64_t grp,
                     T* wp) {
    const int64_t R = g.Og * f.taps();
    for (int64_t o = 0; o < g.Og; ++o)
        for (int64_t c = 0; c < g.Cg; ++c) {
            const T* kernel = w + ((grp * g.Og + o) * g.Cg + c) * g.KH * g.KW;
            for (int64_t t = 0; t < f.th; ++t)
                for (int64_t u = 0; u < f.tw; ++u)
                    wp[c * R + (o * f.th + t) * f.tw + u] =
                        kernel[(f.rh + g.stride[0] * t) * g.KW + f.rw + g.stride[1] * u];
        }
}

// The input planes with the zeros around them that any phase reads: phase f reads rows
// [qh0 - th + 1, qh0 + nqh) and columns [qw0 - tw + 1, qw0 + nqw), past the input by up to
// th - 1 and tw - 1.
struct SubpixelPadding {
    int64_t top = 0, left = 0, rows = 0, cols = 0;
    SubpixelPadding(const ConvGeometry& g, const std::vector<SubpixelPhase>& phases) {
        int64_t bottom = 0, right = 0;
        for (const SubpixelPhase& f : phases) {
            if (f.positions() == 0) continue;
            top = std::max(top, f.th - 1 - f.qh0);
            left = std::max(left, f.tw - 1 - f.qw0);
            bottom = std::max(bottom, f.qh0 + f.nqh - g.OH);
            right = std::max(right, f.qw0 + f.nqw - g.OW);
        }
        rows = top + g.OH + bottom;
        cols = left + g.OW + right;
    }
    int64_t plane() const { return rows * cols; }
};

// xp (N, O, rows, cols) = x (N, O, OH, OW) with the zeros of `pad` around each plane.
template <class T>
void pad_planes(const ConvGeometry& g, const SubpixelPadding& pad, const T* x, T* xp) {
    parallel_for(g.N * g.O, 16, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
            const T* plane = x + p * g.OH * g.OW;
            T* dst = xp + p * pad.plane();
            std::fill_n(dst, pad.top * pad.cols, T(0));
            for (int64_t h = 0; h < g.OH; ++h) {
                T* row = dst + (pad.top + h) * pad.cols;
                std::fill_n(row, pad.left, T(0));
                std::copy_n(plane + h * g.OW, g.OW, row + pad.left);
                std::fill(row + pad.left + g.OW, row + pad.cols, T(0));
            }
            std::fill(dst + (pad.top + g.OH) * pad.cols, dst + pad.plane(), T(0));
        }
    });
}

// cols (Og * th * tw, (n1 - n0) * nqh * nqw): cols[(o, t, u), (n, a, b)] =
// x[n, grp * Og + o, qh0 + a - t, qw0 + b - u], zero outside the input: plain shifted copies
// out of the padded planes xp. Copies row by row with the bounds clamped (a call to fill and
// copy for every nqw elements) took most of the DCGAN generator's 4x4 -> 8x8 layer, whose
// rows are 4 elements long.
template <class T>
void subpixel_cols(const ConvGeometry& g, const SubpixelPhase& f, const SubpixelPadding& pad,
                   const T* xp, int64_t grp, int64_t n0, int64_t n1, T* cols) {
    const int64_t Q = f.positions(), L = (n1 - n0) * Q;
    for (int64_t o = 0; o < g.Og; ++o)
        for (int64_t t = 0; t < f.th; ++t)
            for (int64_t u = 0; u < f.tw; ++u) {
                T* row = cols + ((o * f.th + t) * f.tw + u) * L;
                for (int64_t n = n0; n < n1; ++n) {
                    const T* in = xp + (n * g.O + grp * g.Og + o) * pad.plane() +
                                  (pad.top + f.qh0 - t) * pad.cols + pad.left + f.qw0 - u;
                    T* out = row + (n - n0) * Q;
                    for (int64_t a = 0; a < f.nqh; ++a)
                        for (int64_t b = 0; b < f.nqw; ++b)
                            out[a * f.nqw + b] = in[a * pad.cols + b];
                }
            }
}

// y (N, C, H, W) = the transposed convolution of x (N, O, OH, OW) by w (O, Cg, KH, KW), the
// adjoint of the convolution g, phase by phase. Items (block of samples, group, phase) run in
// parallel with one-thread GEMMs; every output position belongs to exactly one phase, so the
// items write disjoint positions and y needs no zeroing.
template <class T>
Array subpixel_transpose_impl(const Array& x, const Array& w, const ConvGeometry& g) {
    Array y = empty({g.N, g.C, g.H, g.W}, w.dtype);
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    T* py = reinterpret_cast<T*>(y.ptr());
    const int64_t S = g.stride[0] * g.stride[1];
    std::vector<SubpixelPhase> phases;
    int64_t max_rows = 0, max_positions = 0;
    for (int64_t rh = 0; rh < g.stride[0]; ++rh)
        for (int64_t rw = 0; rw < g.stride[1]; ++rw) {
            phases.push_back(subpixel_phase(g, rh, rw));
            max_rows = std::max(max_rows, g.Og * phases.back().taps());
            max_positions = std::max(max_positions, phases.back().positions());
        }
    const SubpixelPadding pad(g, phases);
    Array xp_buf = empty({g.N * g.O * pad.plane()}, w.dtype);
    T* xp = reinterpret_cast<T*>(xp_buf.ptr());
    pad_planes(g, pad, px, xp);
    // Every phase's weight matrix of every group, packed once (as large as w).
    std::vector<int64_t> wp_at(S * g.G + 1, 0);
    for (int64_t i = 0; i < S * g.G; ++i)
        wp_at[i + 1] = wp_at[i] + g.Cg * g.Og * phases[i % S].taps();
    Array wp_buf = empty({wp_at.back()}, w.dtype);
    T* wp = reinterpret_cast<T*>(wp_buf.ptr());
    for (int64_t i = 0; i < S * g.G; ++i)
        subpixel_weight(g, phases[i % S], pw, i / S, wp + wp_at[i]);
    // Blocks of samples whose cols stay in L2 (as conv_blocks), at least two items a thread.
    const int64_t budget = (int64_t(512) << 10) / int64_t(sizeof(T));
    const int64_t fit = std::max<int64_t>(1, budget / std::max<int64_t>(1, max_rows * max_positions));
    int64_t blocks = (g.N + fit - 1) / fit;
    blocks = std::min(g.N, std::max(blocks, (2 * num_threads() + S * g.G - 1) / (S * g.G)));
    const int64_t per = (g.N + blocks - 1) / blocks;
    blocks = (g.N + per - 1) / per;
    parallel_for(blocks * g.G * S, 1, [&](int64_t i0, int64_t i1) {
        Array cols_buf = empty({max_rows * per * max_positions}, w.dtype);
        Array out_buf = empty({g.Cg * per * max_positions}, w.dtype);
        T* cols = reinterpret_cast<T*>(cols_buf.ptr());
        T* out = reinterpret_cast<T*>(out_buf.ptr());
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t k = item % (S * g.G), grp = k / S, n0 = item / (S * g.G) * per;
            const int64_t n1 = std::min(g.N, n0 + per);
            const SubpixelPhase& f = phases[k % S];
            const int64_t R = g.Og * f.taps(), Q = f.positions(), L = (n1 - n0) * Q;
            if (L == 0) continue;
            subpixel_cols(g, f, pad, xp, grp, n0, n1, cols);
            gemm<T>(false, false, g.Cg, L, R, T(1), wp + wp_at[k], R, cols, L, T(0), out, L);
            for (int64_t n = n0; n < n1; ++n)
                for (int64_t c = 0; c < g.Cg; ++c) {
                    const T* src = out + c * L + (n - n0) * Q;
                    T* plane = py + (n * g.C + grp * g.Cg + c) * g.H * g.W;
                    for (int64_t a = 0; a < f.nqh; ++a) {
                        const int64_t h = (f.qh0 + a) * g.stride[0] + f.rh - g.padding[0];
                        T* dst = plane + h * g.W + f.qw0 * g.stride[1] + f.rw - g.padding[1];
                        for (int64_t b = 0; b < f.nqw; ++b)
                            dst[b * g.stride[1]] = src[a * f.nqw + b];
                    }
                }
        }
    });
    return y;
}

}  // namespace

Array conv_transpose2d(const Array& x_in, const Array& w_in, std::array<int64_t, 2> stride,
                       std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding,
                       std::array<int64_t, 2> dilation, int64_t groups) {
    if (x_in.dtype != w_in.dtype)
        throw type_error(std::string("conv_transpose2d: input is ") + DTYPE_NAMES[x_in.dtype] +
                         " but weight is " + DTYPE_NAMES[w_in.dtype]);
    DType cd = compute_dtype(x_in.dtype, "conv_transpose2d");
    ConvGeometry g = transposed_geometry(x_in.shape, w_in.shape, stride, padding,
                                         output_padding, dilation, groups);
    Array x = contiguous(astype_if(x_in, cd)), w = contiguous(astype_if(w_in, cd));
    Array y;
    if (conv_is_trivial(g) || fully_connected(g) || !subpixel(g))
        y = cd == F32 ? conv2d_backward_impl<float>(x, nullptr, w, g).first
                      : conv2d_backward_impl<double>(x, nullptr, w, g).first;
    else
        y = cd == F32 ? subpixel_transpose_impl<float>(x, w, g)
                      : subpixel_transpose_impl<double>(x, w, g);
    return y.dtype == x_in.dtype ? y : astype(y, x_in.dtype);
}

std::pair<Array, Array> conv_transpose2d_backward(
        const Array& gy_in, const Array& x_in, const Array& w_in, std::array<int64_t, 2> stride,
        std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding,
        std::array<int64_t, 2> dilation, int64_t groups) {
    if (x_in.dtype != w_in.dtype || gy_in.dtype != x_in.dtype)
        throw type_error("conv_transpose2d_backward: grad, input and weight need one dtype");
    DType cd = compute_dtype(x_in.dtype, "conv_transpose2d_backward");
    ConvGeometry g = transposed_geometry(x_in.shape, w_in.shape, stride, padding,
                                         output_padding, dilation, groups);
    if (gy_in.shape != Shape{g.N, g.C, g.H, g.W})
        throw value_error("conv_transpose2d_backward: grad_y has shape " +
                          shape_str(gy_in.shape) + ", expected " +
                          shape_str({g.N, g.C, g.H, g.W}));
    Array x = contiguous(astype_if(x_in, cd)), w = contiguous(astype_if(w_in, cd)),
          gy = contiguous(astype_if(gy_in, cd));
    auto grads = cd == F32 ? conv_transpose2d_backward_impl<float>(gy, x, w, g)
                           : conv_transpose2d_backward_impl<double>(gy, x, w, g);
    if (cd != x_in.dtype)
        grads = {astype(grads.first, x_in.dtype), astype(grads.second, x_in.dtype)};
    return grads;
}

// --------------------------------------------------------------------------- bindings

void init_conv(py::module_& m) {
    m.def("conv2d", [](const Array& x, const Array& w, py::handle stride, py::handle padding,
                       py::handle dilation, int64_t groups) {
        auto st = to_pair(stride), pa = to_pair(padding), di = to_pair(dilation);
        py::gil_scoped_release release;
        return conv2d(x, w, st, pa, di, groups);
    }, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
       py::arg("groups"), "Cross-correlation of NCHW x with (O, C/groups, KH, KW) w (no bias).");
    m.def("conv2d_backward", [](const Array& grad_y, const Array& x, const Array& w,
                                py::handle stride, py::handle padding, py::handle dilation,
                                int64_t groups) {
        auto st = to_pair(stride), pa = to_pair(padding), di = to_pair(dilation);
        py::gil_scoped_release release;
        return conv2d_backward(grad_y, x, w, st, pa, di, groups);
    }, py::arg("grad_y"), py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
       py::arg("dilation"), py::arg("groups"), "(grad_x, grad_w) of conv2d.");
    m.def("conv_transpose2d", [](const Array& x, const Array& w, py::handle stride,
                                 py::handle padding, py::handle output_padding,
                                 py::handle dilation, int64_t groups) {
        auto st = to_pair(stride), pa = to_pair(padding), ou = to_pair(output_padding),
             di = to_pair(dilation);
        py::gil_scoped_release release;
        return conv_transpose2d(x, w, st, pa, ou, di, groups);
    }, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"),
       py::arg("dilation"), py::arg("groups"),
       "Transposed convolution: the input gradient of conv2d with this geometry (no bias).");
    m.def("conv_transpose2d_backward", [](const Array& grad_y, const Array& x, const Array& w,
                                          py::handle stride, py::handle padding,
                                          py::handle output_padding, py::handle dilation,
                                          int64_t groups) {
        auto st = to_pair(stride), pa = to_pair(padding), ou = to_pair(output_padding),
             di = to_pair(dilation);
        py::gil_scoped_release release;
        return conv_transpose2d_backward(grad_y, x, w, st, pa, ou, di, groups);
    }, py::arg("grad_y"), py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
       py::arg("output_padding"), py::arg("dilation"), py::arg("groups"),
       "(grad_x, grad_w) of conv_transpose2d: a conv2d of grad_y and a conv2d weight gradient.");
}

}  // namespace mgcpu
