// The tile transforms of winograd.cpp. Each of Winograd's three matrices (B^T on input tiles,
// A^T on output tiles, A on output-gradient tiles) is one 1-D transform of a few values, applied
// along the rows of a row of tiles and then along its columns by the same loop, which the
// compiler vectorises over the tiles (restrict pointers, no branches inside). Included once per
// instruction set (winograd.cpp for the baseline, winograd_avx2.cpp and winograd_avx512.cpp
// with their flags), each time inside its own namespace WINOGRAD_ARCH, and picked at run time:
// the transforms are a third of the work at 16 channels, and scalar code made them the larger
// part. Only plain loops in here: an inline library function instantiated with wider
// instructions could be the copy the linker keeps for the baseline too.
#pragma once

#include <cstdint>

namespace mgcpu {

template <class T>
struct WinogradTransforms {
    // V[p][c][t] (rows ld apart) = (B^T d B)_p of the 4x4 input tiles t of TH rows of TW
    // tiles of each of the C already padded planes (2 TH + 2 rows of 2 TW + 2) at x: tile
    // (th, tw) reads rows 2 th .. 2 th + 3 and columns 2 tw .. 2 tw + 3. Scratch 16 TW.
    void (*input)(const T* x, int64_t C, int64_t TH, int64_t TW, T* V, int64_t ld, T* scratch);
    // Rows 2 th0 .. 2 th1 of the O planes (OH, OW) at y = A^T M A; scratch 8 TW.
    void (*output)(const T* M, int64_t ld, int64_t O, int64_t OH, int64_t OW, int64_t TW,
                   int64_t th0, int64_t th1, T* y, T* scratch);
    // dM[p][o][t] (rows ld apart) = (A dy A^T)_p of the 2x2 output tiles of gy (outputs past
    // (OH, OW) read as zeros); scratch 8 TW.
    void (*output_grad)(const T* gy, int64_t O, int64_t OH, int64_t OW, int64_t TW, int64_t th0,
                        int64_t th1, T* dM, int64_t ld, T* scratch);
};

}  // namespace mgcpu

#ifdef WINOGRAD_ARCH

// GCC ignores restrict on local pointers: the loops below read and write disjoint rows of
// one scratch buffer, which it would otherwise assume may overlap (and not vectorise).
#if defined(__GNUC__) && !defined(__clang__)
#define MGCPU_IVDEP _Pragma("GCC ivdep")
#elif defined(__clang__)
#define MGCPU_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#else
#define MGCPU_IVDEP
#endif

namespace mgcpu::WINOGRAD_ARCH {

// The 1-D transforms: IN values of one line of a tile to OUT values.
struct InputBT {   // B^T, 4 -> 4
    static constexpr int IN = 4, OUT = 4;
    template <class T>
    static void line(const T (&d)[4], T (&v)[4]) {
        v[0] = d[0] - d[2];
        v[1] = d[1] + d[2];
        v[2] = d[2] - d[1];
        v[3] = d[1] - d[3];
    }
};
struct OutputAT {   // A^T, 4 -> 2
    static constexpr int IN = 4, OUT = 2;
    template <class T>
    static void line(const T (&m)[4], T (&y)[2]) {
        y[0] = m[0] + m[1] + m[2];
        y[1] = m[1] - m[2] - m[3];
    }
};
struct GradA {   // A, 2 -> 4: the adjoint of A^T
    static constexpr int IN = 2, OUT = 4;
    template <class T>
    static void line(const T (&e)[2], T (&d)[4]) {
        d[0] = e[0];
        d[1] = e[0] + e[1];
        d[2] = e[0] - e[1];
        d[3] = -e[1];
    }
};

// out[k][t * OUT_STEP] = F(in[0][t * IN_STEP], ..., in[IN-1][t * IN_STEP])[k] for t < n: one
// transform across n tiles, the lines' values IN (OUT) rows of a buffer or strided columns of
// a plane. Pointers are copied into locals so the compiler sees that the stores cannot move
// them.
template <class F, int IN_STEP, int OUT_STEP, class T>
inline void transform_lines(const T* const (&in)[F::IN], T* const (&out)[F::OUT], int64_t n) {
    const T* __restrict src[F::IN];
    T* __restrict dst[F::OUT];
    for (int k = 0; k < F::IN; ++k) src[k] = in[k];
    for (int k = 0; k < F::OUT; ++k) dst[k] = out[k];
    MGCPU_IVDEP
    for (int64_t t = 0; t < n; ++t) {
        T a[F::IN], b[F::OUT];
        for (int k = 0; k < F::IN; ++k) a[k] = src[k][t * IN_STEP];
        F::line(a, b);
        for (int k = 0; k < F::OUT; ++k) dst[k][t * OUT_STEP] = b[k];
    }
}

template <class T>
void transform_input(const T* x, int64_t C, int64_t TH, int64_t TW, T* V, int64_t ld,
                     T* scratch) {
    T* __restrict rowt = scratch;   // rowt[r][j][tw]: point j of row r of tile tw
    const int64_t W = 2 * TW + 2, plane = (2 * TH + 2) * W;
    // Along the rows with stride-2 loads straight from the padded row. (Through deinterleaved
    // copies of the row instead, each vector load of the copies waited on the stores that had
    // just written them: a third of a 16-channel layer's time.)
    for (int64_t c = 0; c < C; ++c)
        for (int64_t th = 0; th < TH; ++th) {
            for (int r = 0; r < 4; ++r) {   // along each of the tiles' four rows
                const T* row = x + c * plane + (2 * th + r) * W;
                T* rt = rowt + r * 4 * TW;
                transform_lines<InputBT, 2, 1, T>({row, row + 1, row + 2, row + 3},
                                                  {rt, rt + TW, rt + 2 * TW, rt + 3 * TW}, TW);
            }
            for (int j = 0; j < 4; ++j) {   // then down each of its four columns
                const T* r0 = rowt + j * TW;
                auto v = [&](int i) { return V + ((i * 4 + j) * C + c) * ld + th * TW; };
                transform_lines<InputBT, 1, 1, T>({r0, r0 + 4 * TW, r0 + 8 * TW, r0 + 12 * TW},
                                                  {v(0), v(1), v(2), v(3)}, TW);
            }
        }
}

template <class T>
void transform_output(const T* M, int64_t ld, int64_t O, int64_t OH, int64_t OW, int64_t TW,
                      int64_t th0, int64_t th1, T* y, T* scratch) {
    const int64_t full = OW / 2;
    T* s = scratch;   // s[a][j][tw]: output row a of column j of tile tw
    for (int64_t o = 0; o < O; ++o) {
        T* plane = y + o * OH * OW;
        for (int64_t th = th0; th < th1; ++th) {
            const int64_t t0 = (th - th0) * TW;
            auto m = [&](int i, int j) { return M + ((i * 4 + j) * O + o) * ld + t0; };
            for (int j = 0; j < 4; ++j)   // down each of the four columns
                transform_lines<OutputAT, 1, 1, T>({m(0, j), m(1, j), m(2, j), m(3, j)},
                                                   {s + j * TW, s + (4 + j) * TW}, TW);
            for (int a = 0; a < 2 && 2 * th + a < OH; ++a) {   // then along the two rows
                const T* sa = s + a * 4 * TW;
                T* out = plane + (2 * th + a) * OW;
                transform_lines<OutputAT, 1, 2, T>({sa, sa + TW, sa + 2 * TW, sa + 3 * TW},
                                                   {out, out + 1}, full);
                if (OW % 2) {   // a last tile half outside: only its first column is kept
                    T last[2];
                    OutputAT::line<T>({sa[full], sa[TW + full], sa[2 * TW + full],
                                       sa[3 * TW + full]}, last);
                    out[OW - 1] = last[0];
                }
            }
        }
    }
}

template <class T>
void transform_output_grad(const T* gy, int64_t O, int64_t OH, int64_t OW, int64_t TW,
                           int64_t th0, int64_t th1, T* dM, int64_t ld, T* scratch) {
    const int64_t full = OW / 2;
    T* cols = scratch;   // cols[a][j][tw]: point j of row a of tile tw
    for (int64_t o = 0; o < O; ++o) {
        const T* plane = gy + o * OH * OW;
        for (int64_t th = th0; th < th1; ++th) {
            for (int a = 0; a < 2; ++a) {   // along each of the tiles' two rows
                const int64_t h = 2 * th + a;
                T* c = cols + a * 4 * TW;
                if (h >= OH) {
                    MGCPU_IVDEP
                    for (int64_t i = 0; i < 4 * TW; ++i) c[i] = T(0);
                    continue;
                }
                const T* row = plane + h * OW;
                transform_lines<GradA, 2, 1, T>({row, row + 1},
                                                {c, c + TW, c + 2 * TW, c + 3 * TW}, full);
                if (full < TW) {   // a last tile half outside: its second column is zero
                    T d[4];
                    GradA::line<T>({row[2 * full], T(0)}, d);
                    for (int j = 0; j < 4; ++j) c[j * TW + full] = d[j];
                }
            }
            const int64_t t0 = (th - th0) * TW;
            for (int j = 0; j < 4; ++j) {   // then down each of its four columns
                auto d = [&](int i) { return dM + ((i * 4 + j) * O + o) * ld + t0; };
                transform_lines<GradA, 1, 1, T>({cols + j * TW, cols + (4 + j) * TW},
                                                {d(0), d(1), d(2), d(3)}, TW);
            }
        }
    }
}

template <class T>
WinogradTransforms<T> transforms() {
    return {transform_input<T>, transform_output<T>, transform_output_grad<T>};
}

}  // namespace mgcpu::WINOGRAD_ARCH

#endif  // WINOGRAD_ARCH
