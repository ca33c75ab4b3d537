// Winograd F(2x2, 3x3) convolutions (winograd.hpp). With B, G, A the transforms of Lavin and
// Gray's "Fast Algorithms for Convolutional Neural Networks" (2015), a 2x2 output tile is
//     y = A^T [(G g G^T) (.) (B^T d B)] A
// for a 4x4 input tile d and 3x3 filter g, (.) elementwise over the 16 transform points. Summed
// over input channels, each point is one GEMM: M_p (O x tiles) = U_p (O x C) @ V_p (C x tiles).
// The weight gradient is the adjoint: dU_p (O x C) = dM_p @ V_p^T with dM = A dy A^T, and
// gw = G^T dU G. Float32 results stay within a few units of rounding of the direct sum (the
// transforms only add, subtract and halve).
#include "winograd.hpp"

#include <algorithm>

#include "array.hpp"
#include "dtype_dispatch.hpp"
#include "gemm.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "partial_sums.hpp"

#define WINOGRAD_ARCH baseline
#include "winograd_transforms.hpp"
#undef WINOGRAD_ARCH

namespace mgcpu {

#if defined(__x86_64__) || defined(_M_X64)
namespace avx2 { template <class T> WinogradTransforms<T> transforms(); }
namespace avx512 { template <class T> WinogradTransforms<T> transforms(); }
#endif

namespace {

constexpr int POINTS = 16;

// A block of work: whole samples [n0, n0 + samples) when a sample has few tiles (one GEMM per
// point over all their tiles: an 8x8 image has only 16), else tile rows [th0, th1) of one
// sample. Blocks are sized so that the transformed input and output of a block (16 * (C + O)
// values per tile) stay within about 512 KB of L2.
struct TileBlocks {
    int64_t TH, TW, samples, rows_per_block, per_sample;
    int64_t count(int64_t N) const { return samples > 1 ? (N + samples - 1) / samples
                                                        : N * per_sample; }
    int64_t max_tiles() const { return samples * rows_per_block * TW; }
};

TileBlocks tile_blocks(const WinogradShape& s, int64_t itemsize) {
    TileBlocks b{};
    b.TH = (s.OH() + 1) / 2;
    b.TW = (s.OW() + 1) / 2;
    const int64_t budget = std::max<int64_t>(
        1, (int64_t(512) << 10) / itemsize / (POINTS * (s.C + s.O)));
    // at least two blocks a thread when the batch allows, so the threads share them evenly
    const int64_t threads = num_threads();
    const int64_t fit = budget / (b.TH * b.TW);
    b.samples = std::clamp<int64_t>(std::min(fit, s.N / (2 * threads)), 1, s.N);
    const int64_t rows = b.samples > 1 ? b.TH : std::clamp<int64_t>(budget / b.TW, 1, b.TH);
    b.per_sample = (b.TH + rows - 1) / rows;
    b.rows_per_block = (b.TH + b.per_sample - 1) / b.per_sample;   // equal blocks
    return b;
}

// The samples and tile rows of block `item`.
struct TileBlock {
    int64_t n0, n1, th0, th1;
    int64_t tiles(const TileBlocks& b) const { return (n1 - n0) * (th1 - th0) * b.TW; }
};

TileBlock tile_block(const TileBlocks& b, int64_t N, int64_t item) {
    if (b.samples > 1) {
        const int64_t n0 = item * b.samples;
        return {n0, std::min(N, n0 + b.samples), 0, b.TH};
    }
    const int64_t n = item / b.per_sample, th0 = item % b.per_sample * b.rows_per_block;
    return {n, n + 1, th0, std::min(b.TH, th0 + b.rows_per_block)};
}

// The transforms compiled for the widest instruction set this CPU has (chosen once).
template <class T>
const WinogradTransforms<T>& transforms() {
    static const WinogradTransforms<T> chosen = [] {
#if defined(__x86_64__) || defined(_M_X64)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw"))
            return avx512::transforms<T>();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return avx2::transforms<T>();
#endif
        return baseline::transforms<T>();
    }();
    return chosen;
}

template <class T>
struct Buffer {   // scratch from the caching allocator (no page faults on every call)
    Array array;
    explicit Buffer(int64_t n) : array(empty({n}, dtype_of<T>())) {}
    T* get() { return reinterpret_cast<T*>(array.ptr()); }
};

// U[p][o][c] = (G g G^T)_p of filter g = w[o, c] (or, adjoint, the flipped w[c, o]).
template <class T>
void transform_weight(const T* w, int64_t O, int64_t C, bool adjoint, T* U) {
    for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < C; ++c) {
            T g[3][3];
            for (int i = 0; i < 3; ++i)
                for (int j = 0; j < 3; ++j)
                    g[i][j] = adjoint ? w[(c * O + o) * 9 + (2 - i) * 3 + (2 - j)]
                                      : w[(o * C + c) * 9 + i * 3 + j];
            T gg[4][3];   // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2
            for (int j = 0; j < 3; ++j) {
                gg[0][j] = g[0][j];
                gg[1][j] = T(0.5) * (g[0][j] + g[1][j] + g[2][j]);
                gg[2][j] = T(0.5) * (g[0][j] - g[1][j] + g[2][j]);
                gg[3][j] = g[2][j];
            }
            for (int k = 0; k < 4; ++k) {
                const T u[4] = {gg[k][0], T(0.5) * (gg[k][0] + gg[k][1] + gg[k][2]),
                                T(0.5) * (gg[k][0] - gg[k][1] + gg[k][2]), gg[k][2]};
                for (int l = 0; l < 4; ++l) U[((k * 4 + l) * O + o) * C + c] = u[l];
            }
        }
}

// gw[o, c] = G^T dU[o, c] G, the adjoint of transform_weight.
template <class T>
void transform_weight_grad(const T* dU, int64_t O, int64_t C, T* gw) {
    for (int64_t o = 0; o < O; ++o)
        for (int64_t c = 0; c < C; ++c) {
            T d[4][4];
            for (int k = 0; k < 4; ++k)
                for (int l = 0; l < 4; ++l) d[k][l] = dU[((k * 4 + l) * O + o) * C + c];
            T gd[3][4];   // G^T d
            for (int l = 0; l < 4; ++l) {
                gd[0][l] = d[0][l] + T(0.5) * (d[1][l] + d[2][l]);
                gd[1][l] = T(0.5) * (d[1][l] - d[2][l]);
                gd[2][l] = T(0.5) * (d[1][l] + d[2][l]) + d[3][l];
            }
            T* out = gw + (o * C + c) * 9;
            for (int i = 0; i < 3; ++i) {
                out[i * 3 + 0] = gd[i][0] + T(0.5) * (gd[i][1] + gd[i][2]);
                out[i * 3 + 1] = T(0.5) * (gd[i][1] - gd[i][2]);
                out[i * 3 + 2] = T(0.5) * (gd[i][1] + gd[i][2]) + gd[i][3];
            }
        }
}

// The input rows that tile rows [th0, th1) read (2 (th1 - th0) + 2 of them, from row
// 2 th0 - ph) of each of the C planes (H, W) at x, copied 2 TW + 2 wide from column -pw with
// zeros outside the planes: the input transform then reads every tile, edge ones included, on
// one vectorised path. Reading the planes in place, with the padding tested, a 32-wide image's
// 16 tiles a row went 2 at the edges and the 14 between as 8 in vectors and 6 as scalars: the
// copy made a 16-channel 32x32 layer's forward + backward 0.85x as long.
struct PaddedRows {
    int64_t rows, width;
    int64_t plane() const { return rows * width; }
};

PaddedRows padded_rows(const TileBlocks& b, int64_t th0, int64_t th1) {
    return {2 * (th1 - th0) + 2, 2 * b.TW + 2};
}

template <class T>
void pad_tile_rows(const T* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
                   const TileBlocks& b, int64_t th0, int64_t th1, T* out) {
    // A row is pw zeros, the input row, then zeros: 2 TW + 2 >= OW + 2 = W + 2 pw.
    const PaddedRows pr = padded_rows(b, th0, th1);
    for (int64_t c = 0; c < C; ++c)
        for (int64_t r = 0; r < pr.rows; ++r) {
            T* dst = out + c * pr.plane() + r * pr.width;
            const int64_t h = 2 * th0 - ph + r;
            if (h < 0 || h >= H) {
                std::fill_n(dst, pr.width, T(0));
                continue;
            }
            std::fill_n(dst, pw, T(0));
            std::copy_n(x + (c * H + h) * W, W, dst + pw);
            std::fill_n(dst + pw + W, pr.width - pw - W, T(0));
        }
}

// V of block k's tiles of sample n of x (C planes (H, W), padding (ph, pw)), through a padded
// copy of the rows they read (pad_tile_rows into `padded`).
template <class T>
void transform_input_block(const WinogradTransforms<T>& tf, const T* x, int64_t C, int64_t H,
                           int64_t W, int64_t ph, int64_t pw, const TileBlocks& b,
                           const TileBlock& k, T* padded, T* V, int64_t ld, T* scratch) {
    pad_tile_rows(x, C, H, W, ph, pw, b, k.th0, k.th1, padded);
    tf.input(padded, C, k.th1 - k.th0, b.TW, V, ld, scratch);
}

// The row stride of V and M (element (p, c, t) at (p * C + c) * LD + t): TB tiles and one
// cache line more. At TB = 256 (a 32x32 plane) unpadded rows lie 1 KiB apart and the 16
// points' rows that the input transform writes at once 16 KiB apart, all in one L1 set; with
// the line added a 16-channel 32x32 layer's forward + backward took 0.89x the time.
template <class T>
int64_t row_stride(int64_t TB) { return TB + 64 / int64_t(sizeof(T)); }

}  // namespace

template <class T>
void winograd_conv3x3(const WinogradShape& s, const T* x, const T* w, bool adjoint, T* y) {
    const TileBlocks b = tile_blocks(s, sizeof(T));
    const int64_t C = s.C, O = s.O, TBmax = b.max_tiles();
    const WinogradTransforms<T>& tf = transforms<T>();
    Buffer<T> U(POINTS * O * C);
    transform_weight(w, O, C, adjoint, U.get());
    const T* pu = U.get();
    parallel_for(b.count(s.N), 1, [&](int64_t i0, int64_t i1) {
        const int64_t LDmax = row_stride<T>(TBmax);
        Buffer<T> V(POINTS * C * LDmax), M(POINTS * O * LDmax), scratch(16 * b.TW),
            padded(C * padded_rows(b, 0, b.rows_per_block).plane());
        for (int64_t item = i0; item < i1; ++item) {
            const TileBlock k = tile_block(b, s.N, item);
            const int64_t TB = k.tiles(b), LD = row_stride<T>(TB), per = (k.th1 - k.th0) * b.TW;
            if (TB == 0) continue;
            for (int64_t n = k.n0; n < k.n1; ++n)
                transform_input_block(tf, x + n * C * s.H * s.W, C, s.H, s.W, s.ph, s.pw, b, k,
                                      padded.get(), V.get() + (n - k.n0) * per, LD,
                                      scratch.get());
            for (int p = 0; p < POINTS; ++p)
                gemm<T>(false, false, O, TB, C, T(1), pu + p * O * C, C, V.get() + p * C * LD,
                        LD, T(0), M.get() + p * O * LD, LD);
            for (int64_t n = k.n0; n < k.n1; ++n)
                tf.output(M.get() + (n - k.n0) * per, LD, O, s.OH(), s.OW(), b.TW, k.th0, k.th1,
                          y + n * O * s.OH() * s.OW(), scratch.get());
        }
    });
}

template <class T>
void winograd_conv3x3_weight_grad(const WinogradShape& s, const T* x, const T* gy, T* gw) {
    const TileBlocks b = tile_blocks(s, sizeof(T));
    const int64_t C = s.C, O = s.O, TBmax = b.max_tiles();
    const WinogradTransforms<T>& tf = transforms<T>();
    // dU summed over each chunk of blocks, then over the chunks
    Array dU = parallel_partial_sums<T>(b.count(s.N), {POINTS * O * C}, true,
                                        [&](int64_t i0, int64_t i1, T* pdu) {
        const int64_t LDmax = row_stride<T>(TBmax);
        Buffer<T> V(POINTS * C * LDmax), dM(POINTS * O * LDmax), scratch(16 * b.TW),
            padded(C * padded_rows(b, 0, b.rows_per_block).plane());
        for (int64_t item = i0; item < i1; ++item) {
            const TileBlock k = tile_block(b, s.N, item);
            const int64_t TB = k.tiles(b), LD = row_stride<T>(TB), per = (k.th1 - k.th0) * b.TW;
            if (TB == 0) continue;
            for (int64_t n = k.n0; n < k.n1; ++n) {
                transform_input_block(tf, x + n * C * s.H * s.W, C, s.H, s.W, s.ph, s.pw, b, k,
                                      padded.get(), V.get() + (n - k.n0) * per, LD,
                                      scratch.get());
                tf.output_grad(gy + n * O * s.OH() * s.OW(), O, s.OH(), s.OW(), b.TW, k.th0,
                               k.th1, dM.get() + (n - k.n0) * per, LD, scratch.get());
            }
            for (int p = 0; p < POINTS; ++p)
                gemm<T>(false, true, O, C, TB, T(1), dM.get() + p * O * LD, LD,
                        V.get() + p * C * LD, LD, T(1), pdu + p * O * C, C);
        }
    });
    const T* total = reinterpret_cast<const T*>(dU.ptr());
    transform_weight_grad(total, O, C, gw);
}

template void winograd_conv3x3<float>(const WinogradShape&, const float*, const float*, bool,
                                      float*);
template void winograd_conv3x3<double>(const WinogradShape&, const double*, const double*, bool,
                                       double*);
template void winograd_conv3x3_weight_grad<float>(const WinogradShape&, const float*,
                                                  const float*, float*);
template void winograd_conv3x3_weight_grad<double>(const WinogradShape&, const double*,
                                                   const double*, double*);

}  // namespace mgcpu
