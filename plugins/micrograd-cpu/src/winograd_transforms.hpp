// The tile transforms of winograd.cpp, written as plain loops over a row of tiles that the
// compiler vectorises (restrict pointers, no branches inside). Included once per instruction
// set (winograd.cpp for the baseline, winograd_avx2.cpp and winograd_avx512.cpp with their
// flags), each time inside its own namespace WINOGRAD_ARCH, and picked at run time: the
// transforms are a third of the work at 16 channels, and scalar code made them the larger part.
// Only plain loops in here: an inline library function instantiated with wider instructions
// could be the copy the linker keeps for the baseline too.
#pragma once

#include <cstdint>

namespace mgcpu {

template <class T>
struct WinogradTransforms {
    // V[p][c][t] (rows ld apart) = (B^T d B)_p of the 4x4 input tiles t of tile rows
    // [th0, th1) of each of the C planes (H, W) at x, padding (ph, pw) read as zeros; TW tiles
    // a row; scratch 18 (TW + 1).
    void (*input)(const T* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
                  int64_t TW, int64_t th0, int64_t th1, T* V, int64_t ld, T* scratch);
    // Rows 2 th0 .. 2 th1 of the O planes (OH, OW) at y = A^T M A; scratch 4 TW.
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

template <class T>
void transform_input(const T* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
                     int64_t TW, int64_t th0, int64_t th1, T* V, int64_t TB, T* scratch) {
    T* __restrict even = scratch;          // padded columns 2k and 2k + 1 of one input row
    T* __restrict odd = even + (TW + 1);
    T* __restrict rowt = odd + (TW + 1);   // rowt[r][j][tw]: B^T's combination j of row r
    // padded columns k with both 2k - pw and 2k + 1 - pw inside the row: [k0, k1)
    const int64_t k1 = (W + pw) / 2 < TW + 1 ? (W + pw) / 2 : TW + 1;
    const int64_t k0 = (pw + 1) / 2 < k1 ? (pw + 1) / 2 : k1;
    for (int64_t c = 0; c < C; ++c) {
        const T* plane = x + c * H * W;
        for (int64_t th = th0; th < th1; ++th) {
            for (int r = 0; r < 4; ++r) {
                const int64_t h = 2 * th - ph + r;
                T* __restrict rt = rowt + r * 4 * TW;
                if (h < 0 || h >= H) {
                    MGCPU_IVDEP
                    for (int64_t i = 0; i < 4 * TW; ++i) rt[i] = T(0);
                    continue;
                }
                const T* __restrict row = plane + h * W;
                auto edge = [&](int64_t k) {   // a column pair with a side in the padding
                    const int64_t w0 = 2 * k - pw, w1 = w0 + 1;
                    even[k] = w0 >= 0 && w0 < W ? row[w0] : T(0);
                    odd[k] = w1 >= 0 && w1 < W ? row[w1] : T(0);
                };
                for (int64_t k = 0; k < k0; ++k) edge(k);
                MGCPU_IVDEP
                for (int64_t k = k0; k < k1; ++k) {
                    even[k] = row[2 * k - pw];
                    odd[k] = row[2 * k + 1 - pw];
                }
                for (int64_t k = k1; k <= TW; ++k) edge(k);
                // the tile's columns d0..d3 = even[tw], odd[tw], even[tw + 1], odd[tw + 1]
                MGCPU_IVDEP
                for (int64_t tw = 0; tw < TW; ++tw) {
                    rt[tw] = even[tw] - even[tw + 1];
                    rt[TW + tw] = odd[tw] + even[tw + 1];
                    rt[2 * TW + tw] = even[tw + 1] - odd[tw];
                    rt[3 * TW + tw] = odd[tw] - odd[tw + 1];
                }
            }
            const int64_t t0 = (th - th0) * TW;
            for (int j = 0; j < 4; ++j) {
                const T* __restrict r0 = rowt + j * TW;
                const T* __restrict r1 = r0 + 4 * TW;
                const T* __restrict r2 = r1 + 4 * TW;
                const T* __restrict r3 = r2 + 4 * TW;
                T* __restrict v0 = V + ((0 * 4 + j) * C + c) * TB + t0;
                T* __restrict v1 = V + ((1 * 4 + j) * C + c) * TB + t0;
                T* __restrict v2 = V + ((2 * 4 + j) * C + c) * TB + t0;
                T* __restrict v3 = V + ((3 * 4 + j) * C + c) * TB + t0;
                MGCPU_IVDEP
                for (int64_t tw = 0; tw < TW; ++tw) {
                    v0[tw] = r0[tw] - r2[tw];
                    v1[tw] = r1[tw] + r2[tw];
                    v2[tw] = r2[tw] - r1[tw];
                    v3[tw] = r1[tw] - r3[tw];
                }
            }
        }
    }
}

// s_j = (row combination of A^T) over the four points of column j, for one row of tiles
template <class T>
inline void combine_rows(const T* __restrict p0, const T* __restrict p1, const T* __restrict p2,
                         const T* __restrict p3, bool second, int64_t n, T* __restrict out) {
    if (!second)   // (1, 1, 1, 0)
        MGCPU_IVDEP
        for (int64_t i = 0; i < n; ++i) out[i] = p0[i] + p1[i] + p2[i];
    else           // (0, 1, -1, -1)
        MGCPU_IVDEP
        for (int64_t i = 0; i < n; ++i) out[i] = p1[i] - p2[i] - p3[i];
}

template <class T>
void transform_output(const T* M, int64_t TB, int64_t O, int64_t OH, int64_t OW, int64_t TW,
                      int64_t th0, int64_t th1, T* y, T* scratch) {
    const int64_t full = OW / 2;
    T* __restrict s = scratch;   // s[j][tw]: row combination a of column j
    for (int64_t o = 0; o < O; ++o) {
        T* plane = y + o * OH * OW;
        for (int64_t th = th0; th < th1; ++th) {
            const int64_t t0 = (th - th0) * TW;
            auto m = [&](int i, int j) { return M + ((i * 4 + j) * O + o) * TB + t0; };
            for (int a = 0; a < 2 && 2 * th + a < OH; ++a) {
                for (int j = 0; j < 4; ++j)
                    combine_rows(m(0, j), m(1, j), m(2, j), m(3, j), a == 1, TW, s + j * TW);
                const T* __restrict s0 = s;
                const T* __restrict s1 = s + TW;
                const T* __restrict s2 = s + 2 * TW;
                const T* __restrict s3 = s + 3 * TW;
                T* __restrict out = plane + (2 * th + a) * OW;
                MGCPU_IVDEP
                for (int64_t tw = 0; tw < full; ++tw) {
                    out[2 * tw] = s0[tw] + s1[tw] + s2[tw];
                    out[2 * tw + 1] = s1[tw] - s2[tw] - s3[tw];
                }
                if (OW % 2) out[OW - 1] = s0[full] + s1[full] + s2[full];
            }
        }
    }
}

template <class T>
void transform_output_grad(const T* gy, int64_t O, int64_t OH, int64_t OW, int64_t TW,
                           int64_t th0, int64_t th1, T* dM, int64_t TB, T* scratch) {
    const int64_t full = OW / 2;
    T* __restrict cols = scratch;   // cols[a][j][tw]: row a of the tile times A^T's columns
    for (int64_t o = 0; o < O; ++o) {
        const T* plane = gy + o * OH * OW;
        for (int64_t th = th0; th < th1; ++th) {
            for (int a = 0; a < 2; ++a) {
                const int64_t h = 2 * th + a;
                T* __restrict c = cols + a * 4 * TW;
                if (h >= OH) {
                    MGCPU_IVDEP
                    for (int64_t i = 0; i < 4 * TW; ++i) c[i] = T(0);
                    continue;
                }
                const T* __restrict row = plane + h * OW;
                MGCPU_IVDEP
                for (int64_t tw = 0; tw < full; ++tw) {
                    const T e0 = row[2 * tw], e1 = row[2 * tw + 1];
                    c[tw] = e0;
                    c[TW + tw] = e0 + e1;
                    c[2 * TW + tw] = e0 - e1;
                    c[3 * TW + tw] = -e1;
                }
                if (full < TW) {   // a last tile half outside: its second column is zero
                    const T e0 = row[2 * full];
                    c[full] = e0;
                    c[TW + full] = e0;
                    c[2 * TW + full] = e0;
                    c[3 * TW + full] = T(0);
                }
            }
            const int64_t t0 = (th - th0) * TW;
            for (int j = 0; j < 4; ++j) {
                const T* __restrict r0 = cols + j * TW;
                const T* __restrict r1 = r0 + 4 * TW;
                T* __restrict d0 = dM + ((0 * 4 + j) * O + o) * TB + t0;
                T* __restrict d1 = dM + ((1 * 4 + j) * O + o) * TB + t0;
                T* __restrict d2 = dM + ((2 * 4 + j) * O + o) * TB + t0;
                T* __restrict d3 = dM + ((3 * 4 + j) * O + o) * TB + t0;
                MGCPU_IVDEP
                for (int64_t tw = 0; tw < TW; ++tw) {
                    d0[tw] = r0[tw];
                    d1[tw] = r0[tw] + r1[tw];
                    d2[tw] = r0[tw] - r1[tw];
                    d3[tw] = -r1[tw];
                }
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
