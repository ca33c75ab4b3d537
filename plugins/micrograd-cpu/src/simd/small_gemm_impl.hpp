// The small-GEMM kernels, written once against xsimd's batch type and instantiated per
// architecture by the simd_<arch>.cpp files (through make_gemm_kernels below).
//
// OpenBLAS pays for packing both operands and for its fixed blocking on every call, which
// dominates when one of m, n, k is small (the LSTM's 20-row products, weight gradients with
// k = batch) or the whole product is small. These kernels read the operands where they lie:
//   rows kernel: C[i, j:j+NR] += sum_p A(i, p) * B(p, j:j+NR), A broadcast one element at a
//                time (any strides), B read as vectors along a row (needs unit column stride);
//                (B is copied into L1-sized panels: rows by memcpy, or gathered from the
//                columns of a B stored transposed, so any layout of B can use it);
//   dots kernel: C[i, j] = dot(A(i, :), B(:, j)) with both read as vectors along k (A rows and
//                B columns contiguous: x @ W.T), partial sums reduced W at a time by haddp.
// Single-threaded; the caller (small_gemm.cpp) splits work over threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "simd.hpp"

namespace mgcpu::simd {

template <class Arch, class T>
struct SmallGemm {
    using B = xsimd::batch<T, Arch>;
    static constexpr int64_t W = int64_t(B::size);
    static constexpr bool WIDE_REGS = sizeof(B) == 64;   // AVX-512: 32 vector registers, else 16
    // rows kernel tile: MR rows x NV vectors (accumulators plus the NV loads and one broadcast
    // fit the register file)
    static constexpr int MR = WIDE_REGS ? 8 : 6;
    static constexpr int NV = 2;
    static constexpr int64_t NR = NV * W;
    // dots kernel tile: DR rows of A x DS columns of B, DR * DS accumulators
    static constexpr int DR = WIDE_REGS ? 4 : 2;
    static constexpr int DS = 4;
    // depth of one pass: a KC x NR panel of B stays in L1 while the rows of A stream by
    static constexpr int64_t KC = 256;
    // rows of A packed at a time (an MC x KC block: 512 KiB of float32, in L2), whole tiles
    static constexpr int64_t MC = 512 / MR * MR;
    // An A @ B.T reduces along k (dots) from this depth when one side is at most
    // DOTS_MAX_SIDE; otherwise it gathers B^T into panels for the rows kernel: a dot of a few
    // vectors spends more on its reduction than on FMAs, and with both sides long the dots
    // kernel rereads both operands from L2 (2.4x OpenBLAS on 700 x 256 x 1024, where the
    // gathered rows kernel is 1.0-1.3x).
    static constexpr int64_t DOTS_MIN_K = 256;
    static constexpr int64_t DOTS_MAX_SIDE = 64;   // the bound of gemm.hpp's shape rule

    static B fmadd(const B& a, const B& b, const B& c) {
#if XSIMD_WITH_FMA3_AVX2 || XSIMD_WITH_AVX512F
        return xsimd::fma(a, b, c);
#else
        return a * b + c;
#endif
    }

    // C(i, j) = alpha * acc(i, j) + beta * C(i, j) for an R x cols tile held row by row in tile
    // (row stride ts); beta == 0 never reads C (it may hold garbage or nan).
    static void store_tile(const T* tile, int64_t ts, int R, int64_t cols, T* c, int64_t rsc,
                           int64_t csc, T alpha, T beta) {
        for (int r = 0; r < R; ++r)
            for (int64_t j = 0; j < cols; ++j) {
                T& dst = c[r * rsc + j * csc];
                dst = beta == T(0) ? alpha * tile[r * ts + j] : alpha * tile[r * ts + j] + beta * dst;
            }
    }

    // ----------------------------------------------------------------- rows kernel
    // R x (V*W) tile: B rows start rsb elements apart and hold at least V*W readable values.
    template <int R, int V>
    static void rows_tile(int64_t k, const T* a, int64_t rsa, int64_t csa, const T* b,
                          int64_t rsb, T* c, int64_t rsc, int64_t csc, int64_t cols, T alpha,
                          T beta) {
        B acc[R][V];
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < V; ++v) acc[r][v] = B(T(0));
        for (int64_t p = 0; p < k; ++p) {
            B bv[V];
            for (int v = 0; v < V; ++v) bv[v] = B::load_unaligned(b + p * rsb + v * W);
            const T* ap = a + p * csa;
            for (int r = 0; r < R; ++r) {
                const B av(ap[r * rsa]);
                for (int v = 0; v < V; ++v) acc[r][v] = fmadd(av, bv[v], acc[r][v]);
            }
        }
        if (csc == 1 && cols == V * W) {
            const B va(alpha), vb(beta);
            for (int r = 0; r < R; ++r)
                for (int v = 0; v < V; ++v) {
                    T* dst = c + r * rsc + v * W;
                    B out = acc[r][v] * va;
                    if (beta != T(0)) out = fmadd(vb, B::load_unaligned(dst), out);
                    out.store_unaligned(dst);
                }
            return;
        }
        alignas(64) T tile[R * V * W];
        for (int r = 0; r < R; ++r)
            for (int v = 0; v < V; ++v) acc[r][v].store_aligned(tile + r * V * W + v * W);
        store_tile(tile, V * W, R, cols, c, rsc, csc, alpha, beta);
    }

    template <int V, int R = MR>
    static void rows_tile_any(int rows, int64_t k, const T* a, int64_t rsa, int64_t csa,
                              const T* b, int64_t rsb, T* c, int64_t rsc, int64_t csc,
                              int64_t cols, T alpha, T beta) {
        if constexpr (R > 1)
            if (rows < R)
                return rows_tile_any<V, R - 1>(rows, k, a, rsa, csa, b, rsb, c, rsc, csc, cols,
                                               alpha, beta);
        rows_tile<R, V>(k, a, rsa, csa, b, rsb, c, rsc, csc, cols, alpha, beta);
    }

    // Copies a kc x nc block of op(B) into panel (rows NR apart, zero-padded past nc): rows
    // by memcpy when op(B)'s columns are at unit stride, else gathered column by column (each
    // a contiguous run of the stored B^T).
    static void pack_panel(T* panel, const T* bp, int64_t rsb, int64_t csb, int64_t kc,
                           int64_t nc) {
        if (csb == 1 && nc == NR) {
            // vector copies: GCC inlines a memcpy of this fixed size as `rep movsq`, whose
            // start-up cost made packing a quarter of the kernel's time on K = 144 panels
            for (int64_t p = 0; p < kc; ++p)
                for (int v = 0; v < NV; ++v)
                    B::load_unaligned(bp + p * rsb + v * W).store_aligned(panel + p * NR + v * W);
            return;
        }
        if (csb == 1) {
            for (int64_t p = 0; p < kc; ++p) {
                std::memcpy(panel + p * NR, bp + p * rsb, size_t(nc) * sizeof(T));
                std::fill(panel + p * NR + nc, panel + (p + 1) * NR, T(0));
            }
            return;
        }
        if (nc < NR)
            for (int64_t p = 0; p < kc; ++p) std::fill(panel + p * NR + nc, panel + (p + 1) * NR, T(0));
        for (int64_t j = 0; j < nc; ++j) {
            const T* col = bp + j * csb;
            for (int64_t p = 0; p < kc; ++p) panel[p * NR + j] = col[p * rsb];
        }
    }

    // Copies rows [0, mc) x depth [0, kc) of op(A) (stored with rsa == 1: A^T row-major) into
    // slivers of MR rows, element (r, p) of sliver s at s * kc + p * MR + r. Each stored row p
    // is read once, in order (sliver by sliver instead, every line of a 4 KiB-strided A^T
    // would be loaded once per sliver).
    static void pack_columns(T* dst, const T* a, int64_t csa, int64_t mc, int64_t kc) {
        const int64_t full = mc / MR * MR;
        for (int64_t p = 0; p < kc; ++p) {
            const T* row = a + p * csa;
            for (int64_t s = 0; s < full; s += MR)   // fixed-size copies, inlined
                std::copy_n(row + s, MR, dst + s * kc + p * MR);
            if (full < mc) std::copy_n(row + full, mc - full, dst + full * kc + p * MR);
        }
    }

    // C = alpha A B + beta C, A read in place with any strides, B through L1-sized panels.
    static void rows(int64_t m, int64_t n, int64_t k, const T* a, int64_t rsa, int64_t csa,
                     const T* b, int64_t rsb, int64_t csb, T* c, int64_t rsc, int64_t csc,
                     T alpha, T beta) {
        // A panel of B is copied (zero-padded past n) when it is partial, when several row
        // tiles reuse it (packed rows sit one NR apart, not rsb, which is often a power of two
        // that maps every row of the panel onto the same L1 sets), or when B is read by columns.
        const bool pack_full = m > MR || csb != 1;
        // A stored transposed (rsa == 1) is packed too when several panels of B reuse it: read
        // in place, a tile's step p reads a new line csa (often 4 KiB) past the last, all of
        // them in one L1 set, and the kernel ran at 0.7x its rate on A read by rows (1024 x 700
        // x 256, A^T @ B). Blocks of MC rows bound the copy.
        const bool pack_a = rsa == 1 && csa != 1 && n > NR;
        const int64_t block_rows = pack_a ? MC : m;
        const int64_t ra = pack_a ? 1 : rsa, ca = pack_a ? MR : csa;   // A's strides as read
        // (left uninitialised: a vector's zeroing would write the whole block once more)
        const size_t a_block = size_t((std::min(MC, m) + MR - 1) / MR * MR * KC);
        std::unique_ptr<T[]> a_packed(pack_a ? new T[a_block] : nullptr);
        alignas(64) T panel[KC * NR];
        for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = std::min(KC, k - pc);
            const T beta_pass = pc == 0 ? beta : T(1);
            for (int64_t i0 = 0; i0 < m; i0 += block_rows) {
                const int64_t mc = std::min(block_rows, m - i0);
                if (pack_a) pack_columns(a_packed.get(), a + i0 + pc * csa, csa, mc, kc);
                for (int64_t jc = 0; jc < n; jc += NR) {
                    const int64_t nc = std::min(NR, n - jc);
                    const T* bp = b + pc * rsb + jc * csb;
                    int64_t bs = rsb;
                    if (nc < NR || pack_full) {
                        pack_panel(panel, bp, rsb, csb, kc, nc);
                        bp = panel;
                        bs = NR;
                    }
                    for (int64_t ic = i0; ic < i0 + mc; ic += MR) {
                        const int rows_here = int(std::min<int64_t>(MR, i0 + mc - ic));
                        const T* ap = pack_a ? a_packed.get() + (ic - i0) * kc
                                             : a + ic * rsa + pc * csa;
                        T* cp = c + ic * rsc + jc * csc;
                        if (nc > W)
                            rows_tile_any<2>(rows_here, kc, ap, ra, ca, bp, bs, cp, rsc, csc, nc,
                                             alpha, beta_pass);
                        else
                            rows_tile_any<1>(rows_here, kc, ap, ra, ca, bp, bs, cp, rsc, csc, nc,
                                             alpha, beta_pass);
                    }
                }
            }
        }
    }

    // ----------------------------------------------------------------- dots kernel
    // Which input batch each lane of haddp's result sums: xsimd 8's AVX-512 float haddp
    // returns them out of order, so the order is measured once instead of assumed.
    static const int* haddp_order() {
        static const auto order = [] {
            B rows[W];
            for (int64_t i = 0; i < W; ++i) rows[i] = B(T(i + 1));
            alignas(64) T lanes[W];
            xsimd::haddp(rows).store_aligned(lanes);
            std::array<int, size_t(W)> o{};
            for (int64_t l = 0; l < W; ++l) o[size_t(l)] = int(lanes[l] / T(W)) - 1;
            return o;
        }();
        return order.data();
    }

    // R x S outputs: row r of A at a + r * rsa, column s of B at b + s * csb, both unit stride.
    template <int R, int S>
    static void dots_tile(int64_t k, const T* a, int64_t rsa, const T* b, int64_t csb, T* c,
                          int64_t rsc, int64_t csc, T alpha, T beta) {
        constexpr int N = R * S;
        // haddp reduces W accumulators at once; pad to a multiple of W with zeros
        constexpr int NP = (N + int(W) - 1) / int(W) * int(W);
        B acc[NP];
        for (int i = 0; i < NP; ++i) acc[i] = B(T(0));
        int64_t p = 0;
        for (; p + W <= k; p += W) {
            B bv[S];
            for (int s = 0; s < S; ++s) bv[s] = B::load_unaligned(b + s * csb + p);
            for (int r = 0; r < R; ++r) {
                const B av = B::load_unaligned(a + r * rsa + p);
                for (int s = 0; s < S; ++s) acc[r * S + s] = fmadd(av, bv[s], acc[r * S + s]);
            }
        }
        alignas(64) T sums[NP];
        alignas(64) T lanes[W];
        const int* order = haddp_order();
        for (int g = 0; g < NP; g += int(W)) {
            xsimd::haddp(acc + g).store_aligned(lanes);
            for (int l = 0; l < int(W); ++l) sums[g + order[l]] = lanes[l];
        }
        for (; p < k; ++p)
            for (int r = 0; r < R; ++r)
                for (int s = 0; s < S; ++s) sums[r * S + s] += a[r * rsa + p] * b[s * csb + p];
        store_tile(sums, S, R, S, c, rsc, csc, alpha, beta);
    }

    template <int S, int R = DR>
    static void dots_tile_rows(int rows, int64_t k, const T* a, int64_t rsa, const T* b,
                               int64_t csb, T* c, int64_t rsc, int64_t csc, T alpha, T beta) {
        if constexpr (R > 1)
            if (rows < R)
                return dots_tile_rows<S, R - 1>(rows, k, a, rsa, b, csb, c, rsc, csc, alpha, beta);
        dots_tile<R, S>(k, a, rsa, b, csb, c, rsc, csc, alpha, beta);
    }

    template <int S = DS>
    static void dots_tile_any(int rows, int cols, int64_t k, const T* a, int64_t rsa,
                              const T* b, int64_t csb, T* c, int64_t rsc, int64_t csc, T alpha,
                              T beta) {
        if constexpr (S > 1)
            if (cols < S)
                return dots_tile_any<S - 1>(rows, cols, k, a, rsa, b, csb, c, rsc, csc, alpha, beta);
        dots_tile_rows<S>(rows, k, a, rsa, b, csb, c, rsc, csc, alpha, beta);
    }

    // C = alpha A B + beta C with A's rows and B's columns at unit stride.
    static void dots(int64_t m, int64_t n, int64_t k, const T* a, int64_t rsa, const T* b,
                     int64_t csb, T* c, int64_t rsc, int64_t csc, T alpha, T beta) {
        // the inner loop runs over the smaller operand, which then stays in cache
        if (m * rsa <= n * csb) {
            for (int64_t j = 0; j < n; j += DS)
                for (int64_t i = 0; i < m; i += DR)
                    dots_tile_any(int(std::min<int64_t>(DR, m - i)), int(std::min<int64_t>(DS, n - j)),
                                  k, a + i * rsa, rsa, b + j * csb, csb, c + i * rsc + j * csc,
                                  rsc, csc, alpha, beta);
        } else {
            for (int64_t i = 0; i < m; i += DR)
                for (int64_t j = 0; j < n; j += DS)
                    dots_tile_any(int(std::min<int64_t>(DR, m - i)), int(std::min<int64_t>(DS, n - j)),
                                  k, a + i * rsa, rsa, b + j * csb, csb, c + i * rsc + j * csc,
                                  rsc, csc, alpha, beta);
        }
    }

    // ----------------------------------------------------------------- entry
    // C (m x n, element (i, j) at c[i*rsc + j*csc]) = alpha op(A) op(B) + beta C, where
    // op(A)(i, p) = a[i*rsa + p*csa] and op(B)(p, j) = b[p*rsb + j*csb]; each operand has a unit
    // stride on one of its axes.
    static void gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t rsa, int64_t csa,
                     const T* b, int64_t rsb, int64_t csb, T* c, int64_t rsc, int64_t csc,
                     T alpha, T beta) {
        if (m <= 0 || n <= 0) return;
        if (k <= 0) {   // an empty sum: C = beta C
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) {
                    T& dst = c[i * rsc + j * csc];
                    dst = beta == T(0) ? T(0) : beta * dst;
                }
            return;
        }
        if (csb == 1) return rows(m, n, k, a, rsa, csa, b, rsb, 1, c, rsc, csc, alpha, beta);
        if (csa == 1 && rsb == 1 && k >= DOTS_MIN_K && std::min(m, n) <= DOTS_MAX_SIDE)
            return dots(m, n, k, a, rsa, b, csb, c, rsc, csc, alpha, beta);
        if (rsa == 1 && rsb == 1)   // C^T = op(B)^T op(A)^T, whose right operand reads by rows
            return rows(n, m, k, b, csb, rsb, a, csa, 1, c, csc, rsc, alpha, beta);
        rows(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, alpha, beta);   // B gathered
    }
};

template <class Arch>
GemmKernels make_gemm_kernels() {
    return GemmKernels{&SmallGemm<Arch, float>::gemm, &SmallGemm<Arch, double>::gemm,
                       int(8 * sizeof(xsimd::batch<float, Arch>))};
}

}  // namespace mgcpu::simd
