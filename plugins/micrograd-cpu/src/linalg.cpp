// Matrix multiplication through BLAS (float32/float64; 16-bit floats via float32), exact
// wrapping loops for integers, and conv2d as im2col + one GEMM per group over the whole batch.
#include <algorithm>
#include <mutex>
#include <vector>

#include <cblas.h>

#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "parallel.hpp"

// scipy-openblas32 prefixes its symbols; another BLAS can be chosen at build time.
#ifndef MGCPU_CBLAS
#define MGCPU_CBLAS(name) scipy_cblas_##name
#define MGCPU_OPENBLAS(name) scipy_openblas_##name
#endif

namespace mgcpu {

namespace {

// OpenBLAS always runs on one thread: large products are split into row or column blocks over
// our own pool instead. Two pools on one machine fight (OpenBLAS's workers spin after each call
// and starve ours: a 19 MFLOP conv GEMM took 4-8 ms on a busy 2-core machine, 1 ms on one
// thread), and OpenBLAS's own threshold kept the MLP's 51 MFLOP products on one thread. The
// library is loaded with one thread (_blas.py); this check before every GEMM undoes a later
// raise by threadpoolctl (which benchmark harnesses use to cap "every BLAS pool") or a user,
// since OpenBLAS threads inside our pool's threads would oversubscribe the cores.
void pin_blas_to_one_thread() {
#ifdef MGCPU_OPENBLAS
    if (MGCPU_OPENBLAS(get_num_threads)() != 1) MGCPU_OPENBLAS(set_num_threads)(1);
#endif
}

template <class T>
void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
        MGCPU_CBLAS(sgemm)(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b,
                           int(ldb), beta, c, int(ldc));
    else
        MGCPU_CBLAS(dgemm)(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b,
                           int(ldb), beta, c, int(ldc));
}

// Below this a product runs on the calling thread (about 10 us of work: less than a hand-off).
constexpr double PARALLEL_GEMM_FLOPS = double(1 << 21);
// Blocks are multiples of this many rows or columns, so each fills OpenBLAS's micro-kernels.
constexpr int64_t GEMM_BLOCK_ALIGN = 16;

// C (m x n, row-major) = alpha op(A) op(B) + beta C, split over the pool along the longer of m
// and n: each thread multiplies its block of rows of op(A), or columns of op(B), with all of
// the other operand.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    pin_blas_to_one_thread();
    const double flops = 2.0 * double(m) * double(n) * double(k);
    const bool by_rows = m >= n;
    const int64_t extent = by_rows ? m : n;
    int64_t blocks = std::min<int64_t>(num_threads(), extent / GEMM_BLOCK_ALIGN);
    if (flops < PARALLEL_GEMM_FLOPS || blocks < 2) {
        blas_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int64_t tiles = (extent + GEMM_BLOCK_ALIGN - 1) / GEMM_BLOCK_ALIGN;
    const int64_t per = (tiles + blocks - 1) / blocks * GEMM_BLOCK_ALIGN;   // blocks cover extent
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t lo = blk * per, len = std::min(extent, lo + per) - lo;
            if (len <= 0) continue;
            if (by_rows)   // rows lo.. of op(A): row i of op(A) starts at a + i*lda, or a + i when transposed
                blas_gemm<T>(ta, tb, len, n, k, alpha, a + (ta ? lo : lo * lda), lda, b, ldb, beta,
                             c + lo * ldc, ldc);
            else           // columns lo.. of op(B)
                blas_gemm<T>(ta, tb, m, len, k, alpha, a, lda, b + (tb ? lo * ldb : lo), ldb, beta,
                             c + lo, ldc);
        }
    });
}

// How BLAS can read a (rows, cols) matrix with element strides (sr, sc) without a copy.
bool blas_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc, bool& trans, int64_t& ld) {
    if (sc == 1 && (sr >= std::max<int64_t>(1, cols) || rows == 1)) {
        trans = false;
        ld = rows == 1 ? std::max<int64_t>(1, cols) : sr;
        return true;
    }
    if (sr == 1 && (sc >= std::max<int64_t>(1, rows) || cols == 1)) {
        trans = true;
        ld = cols == 1 ? std::max<int64_t>(1, rows) : sc;
        return true;
    }
    return false;
}

// scipy-openblas32 takes 32-bit sizes and leading dimensions: a larger one would be truncated.
void require_blas_size(std::initializer_list<int64_t> sizes, const char* what) {
    for (int64_t s : sizes)
        if (s > INT32_MAX)
            throw value_error(std::string(what) + ": a dimension of " + std::to_string(s) +
                              " exceeds the 32-bit BLAS limit of " + std::to_string(INT32_MAX));
}

template <class T>
void matmul_blas(const Array& a_in, const Array& b_in, Array& out, int64_t batch) {
    const int nd = a_in.ndim();
    const int64_t m = a_in.shape[nd - 2], k = a_in.shape[nd - 1], n = b_in.shape[nd - 1];
    require_blas_size({m, k, n}, "matmul");
    Array a = a_in, b = b_in;
    bool ta, tb;
    int64_t lda, ldb;
    // (a leading dimension past BLAS's 32 bits, from a strided view, also means a copy)
    if (!blas_layout(m, k, a.strides[nd - 2], a.strides[nd - 1], ta, lda) || lda > INT32_MAX) {
        a = contiguous(a);
        blas_layout(m, k, a.strides[nd - 2], a.strides[nd - 1], ta, lda);
    }
    if (!blas_layout(k, n, b.strides[nd - 2], b.strides[nd - 1], tb, ldb) || ldb > INT32_MAX) {
        b = contiguous(b);
        blas_layout(k, n, b.strides[nd - 2], b.strides[nd - 1], tb, ldb);
    }
    T* o = reinterpret_cast<T*>(out.ptr());
    const T* base_a = reinterpret_cast<const T*>(a.ptr());
    const T* base_b = reinterpret_cast<const T*>(b.ptr());
    auto one = [&](int64_t i) {
        int64_t oa = 0, ob = 0;
        for (int d = nd - 3; d >= 0; --d) {
            const int64_t at = i % a.shape[d];
            i /= a.shape[d];
            oa += at * a.strides[d];
            ob += at * b.strides[d];
        }
        return std::pair<const T*, const T*>{base_a + oa, base_b + ob};
    };
    // Many small products (attention heads, grouped work) go one per thread; a single large
    // one is split inside gemm.
    const double flops = 2.0 * double(m) * double(n) * double(k);
    const int64_t grain = std::max<int64_t>(1, int64_t(PARALLEL_GEMM_FLOPS / std::max(flops, 1.0)));
    parallel_for(batch, grain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            auto [pa, pb] = one(i);
            if (k == 0) std::fill_n(o + i * m * n, m * n, T(0));
            else gemm<T>(ta, tb, m, n, k, T(1), pa, lda, pb, ldb, T(0), o + i * m * n, n);
        }
    });
}

// Integers wrap and bool is or-of-ands, as numpy computes them.
template <class T>
void matmul_exact(const Array& a_in, const Array& b_in, Array& out, int64_t batch) {
    Array a = contiguous(a_in), b = contiguous(b_in);
    const int nd = a.ndim();
    const int64_t m = a.shape[nd - 2], k = a.shape[nd - 1], n = b.shape[nd - 1];
    const T* pa = reinterpret_cast<const T*>(a.ptr());
    const T* pb = reinterpret_cast<const T*>(b.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    for (int64_t i = 0; i < batch; ++i)
        for (int64_t r = 0; r < m; ++r) {
            T* row = po + (i * m + r) * n;
            std::fill_n(row, n, T(0));
            for (int64_t t = 0; t < k; ++t) {
                const T av = load<T>(reinterpret_cast<const char*>(pa + (i * m + r) * k + t));
                const T* brow = pb + (i * k + t) * n;
                for (int64_t c = 0; c < n; ++c) {
                    if constexpr (std::is_same_v<T, bool>)
                        row[c] = row[c] || (av && load<T>(reinterpret_cast<const char*>(brow + c)));
                    else row[c] = T(uint64_t(row[c]) + uint64_t(av) * uint64_t(brow[c]));
                }
            }
        }
}

}  // namespace

Array matmul(const Array& a, const Array& b) {
    const int nd = a.ndim();
    bool ok = nd >= 2 && b.ndim() == nd && a.dtype == b.dtype && a.shape[nd - 1] == b.shape[nd - 2];
    for (int d = 0; ok && d < nd - 2; ++d) ok = a.shape[d] == b.shape[d];
    if (!ok)
        throw value_error("matmul: cannot multiply " + std::string(DTYPE_NAMES[a.dtype]) + " " +
                          shape_str(a.shape) + " by " + DTYPE_NAMES[b.dtype] + " " +
                          shape_str(b.shape) + "; need (..., m, k) @ (..., k, n) with equal "
                          "batch dims and one dtype");
    Shape shape(a.shape.begin(), a.shape.end() - 1);
    shape.push_back(b.shape[nd - 1]);
    int64_t batch = 1;
    for (int d = 0; d < nd - 2; ++d) batch *= a.shape[d];
    if (a.dtype == F16 || a.dtype == BF16)
        return astype(matmul(astype(a, F32), astype(b, F32)), a.dtype);
    Array out = empty(shape, a.dtype);
    if (out.numel() == 0) return out;
    visit_dtype(a.dtype, [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>)
            matmul_blas<T>(a, b, out, batch);
        else if constexpr (!std::is_same_v<T, half_t> && !std::is_same_v<T, bf16_t>)
            matmul_exact<T>(a, b, out, batch);
    });
    return out;
}

// ------------------------------------------------------------------------------ conv2d

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

// Zeroes the columns of an (OH, OW) plane that tap column j reads from outside the input.
template <class T>
void zero_wrapped_columns(const ConvGeometry& g, int64_t j, T* plane) {
    const auto [lo, hi] = valid_columns(g, j);
    if (lo == 0 && hi == g.OW) return;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
        std::fill_n(plane + oh * g.OW, lo, T(0));
        std::fill(plane + oh * g.OW + hi, plane + (oh + 1) * g.OW, T(0));
    }
}

// cols[r, (n - n0)*P + p] for samples [n0, n1) and the channels of group `grp` (x contiguous
// NCHW).
template <class T>
void im2col(const ConvGeometry& g, const T* x, int64_t grp, int64_t n0, int64_t n1, T* cols) {
    const int64_t P = g.P(), NP = (n1 - n0) * P;
    if (shifted_planes(g)) {
        parallel_for(g.rows(), 1, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const int64_t c = r / (g.KH * g.KW), i = (r / g.KW) % g.KH, j = r % g.KW;
                const int64_t shift = plane_shift(g, i, j);
                const int64_t q0 = std::max<int64_t>(0, -shift), q1 = std::min(P, P - shift);
                for (int64_t n = n0; n < n1; ++n) {
                    const T* plane = x + ((n * g.C) + grp * g.Cg + c) * P;
                    T* out = cols + r * NP + (n - n0) * P;
                    std::fill_n(out, std::min(q0, P), T(0));
                    if (q0 < q1) std::copy(plane + q0 + shift, plane + q1 + shift, out + q0);
                    std::fill(out + std::max(q1, q0), out + P, T(0));
                    zero_wrapped_columns(g, j, out);
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
            T* row = cols + r * NP;
            for (int64_t n = n0; n < n1; ++n) {
                const T* plane = x + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                    T* out = row + (n - n0) * P + oh * g.OW;
                    if (h < 0 || h >= g.H) { std::fill_n(out, g.OW, T(0)); continue; }
                    const T* in = plane + h * g.W;   // input column of ow: ow * s + shift
                    std::fill_n(out, lo, T(0));
                    if (s == 1) std::copy(in + lo + shift, in + hi + shift, out + lo);
                    else for (int64_t ow = lo; ow < hi; ++ow) out[ow] = in[ow * s + shift];
                    std::fill(out + hi, out + g.OW, T(0));
                }
            }
        }
    });
}

// grad_x += col2im(cols) for samples [n0, n1) and the channels of group `grp`; threads own
// whole channels. The shifted-plane case first zeroes the wrapped columns of `cols` (scratch),
// so each plane is one long vectorised add.
template <class T>
void col2im(const ConvGeometry& g, T* cols, int64_t grp, int64_t n0, int64_t n1, T* gx) {
    const int64_t P = g.P(), NP = (n1 - n0) * P, KK = g.KH * g.KW;
    if (shifted_planes(g)) {
        parallel_for(g.Cg, 1, [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c)
                for (int64_t ij = 0; ij < KK; ++ij) {
                    const int64_t i = ij / g.KW, j = ij % g.KW, shift = plane_shift(g, i, j);
                    const int64_t q0 = std::max<int64_t>(0, -shift), q1 = std::min(P, P - shift);
                    for (int64_t n = n0; n < n1; ++n) {
                        T* row = cols + (c * KK + ij) * NP + (n - n0) * P;
                        T* plane = gx + ((n * g.C) + grp * g.Cg + c) * P;
                        zero_wrapped_columns(g, j, row);
                        for (int64_t q = q0; q < q1; ++q) plane[q + shift] += row[q];
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
                const T* row = cols + (c * KK + ij) * NP;
                for (int64_t n = n0; n < n1; ++n) {
                    T* plane = gx + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                    for (int64_t oh = 0; oh < g.OH; ++oh) {
                        const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                        if (h < 0 || h >= g.H) continue;
                        const T* in = row + (n - n0) * P + oh * g.OW;
                        T* out = plane + h * g.W;
                        for (int64_t ow = lo; ow < hi; ++ow) out[ow * s + shift] += in[ow];
                    }
                }
            }
    });
}

DType compute_dtype(DType d, const char* what) {
    if (d == F32 || d == F64) return d;
    if (d == F16 || d == BF16) return F32;
    throw type_error(std::string(what) + " needs a floating dtype, got " + DTYPE_NAMES[d]);
}

// Convolutions go over blocks of samples small enough that a block's im2col matrix stays in
// L2 (about 512 KB): the whole batch's matrix (19 MB for 32x16x32x32) made every GEMM stream
// it from memory. Blocks run in parallel, each with its own scratch and one-thread GEMMs; a
// single block instead lets im2col and the GEMM use the threads.
struct ConvBlocks {
    int64_t samples, count;
};

ConvBlocks conv_blocks(const ConvGeometry& g, int64_t itemsize) {
    const int64_t budget = (int64_t(512) << 10) / itemsize, threads = num_threads();
    const int64_t fit = std::max<int64_t>(1, budget / std::max<int64_t>(1, g.rows() * g.P()));
    // Enough blocks to fit, at least two a thread, and a multiple of the thread count, so the
    // threads get equal shares when the batch allows.
    int64_t count = std::max((g.N + fit - 1) / fit, 2 * threads);
    count = std::min(g.N, (count + threads - 1) / threads * threads);
    const int64_t per = (g.N + count - 1) / count;
    return {per, (g.N + per - 1) / per};
}

// An empty batch or output has nothing to compute, and no input channels (rows() == 0) sums
// nothing: zeros. (Both would otherwise divide by zero when splitting the batch into blocks.)
bool conv_is_trivial(const ConvGeometry& g) { return g.N == 0 || g.O == 0 || g.rows() == 0; }

// One block of a convolution: samples [n0, n1) of group grp of x unfolded into cols, times the
// group's weight into y (Og, L), laid out into out (N, O, OH, OW). cols is left for the caller
// (the transposed convolution's backward reuses it for the weight gradient).
template <class T>
void conv_block(const ConvGeometry& g, const T* px, const T* pw, int64_t grp, int64_t n0,
                int64_t n1, T* cols, T* y, T* out) {
    const int64_t P = g.P(), L = (n1 - n0) * P;
    im2col(g, px, grp, n0, n1, cols);
    gemm<T>(false, false, g.Og, L, g.rows(), T(1), pw + grp * g.Og * g.rows(), g.rows(), cols, L,
            T(0), y, L);
    for (int64_t n = n0; n < n1; ++n)
        for (int64_t o = 0; o < g.Og; ++o)
            std::copy_n(y + o * L + (n - n0) * P, P, out + (n * g.O + grp * g.Og + o) * P);
}

template <class T>
Array conv2d_impl(const Array& x, const Array& w, const ConvGeometry& g) {
    const int64_t P = g.P();
    if (conv_is_trivial(g)) return full_float({g.N, g.O, g.OH, g.OW}, 0.0, x.dtype);
    require_blas_size({g.Og, g.rows(), g.N * P}, "conv2d");
    Array out = empty({g.N, g.O, g.OH, g.OW}, x.dtype);
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    parallel_for(blocks.count * g.G, 1, [&](int64_t i0, int64_t i1) {
        // Scratch from the caching allocator: no page faults or zero-filling on every call.
        Array cols_buf = empty({g.rows(), blocks.samples * P}, out.dtype);
        Array y_buf = empty({g.Og, blocks.samples * P}, out.dtype);
        T* cols = reinterpret_cast<T*>(cols_buf.ptr());
        T* y = reinterpret_cast<T*>(y_buf.ptr());
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t grp = item % g.G, n0 = item / g.G * blocks.samples;
            conv_block(g, px, pw, grp, n0, std::min(g.N, n0 + blocks.samples), cols, y, po);
        }
    });
    return out;
}

// The gradients of a convolution with geometry g: of its input and, when x is given, of its
// weight. A transposed convolution is the input gradient alone (x null).
template <class T>
std::pair<Array, Array> conv2d_backward_impl(const Array& gy, const Array* x, const Array& w,
                                             const ConvGeometry& g) {
    const int64_t P = g.P(), wsize = w.numel();
    Array gx = full_float({g.N, g.C, g.H, g.W}, 0.0, w.dtype);
    if (conv_is_trivial(g)) return {gx, full_float(w.shape, 0.0, w.dtype)};
    require_blas_size({g.Og, g.rows(), g.N * P}, "conv2d_backward");
    const T* px = x ? reinterpret_cast<const T*>(x->ptr()) : nullptr;
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    const T* pgy = reinterpret_cast<const T*>(gy.ptr());
    T* pgx = reinterpret_cast<T*>(gx.ptr());
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    // Each chunk of blocks sums its weight gradient apart; the partial sums are added at the end.
    std::mutex partial_mutex;
    std::vector<Array> partials;
    parallel_for(blocks.count * g.G, 1, [&](int64_t i0, int64_t i1) {
        Array cols_buf = empty({g.rows(), blocks.samples * P}, w.dtype);
        Array gyg_buf = empty({g.Og, blocks.samples * P}, w.dtype);
        Array gw = px ? full_float(w.shape, 0.0, w.dtype) : Array();
        T* cols = reinterpret_cast<T*>(cols_buf.ptr());
        T* gyg = reinterpret_cast<T*>(gyg_buf.ptr());
        T* pgw = px ? reinterpret_cast<T*>(gw.ptr()) : nullptr;
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t grp = item % g.G, n0 = item / g.G * blocks.samples;
            const int64_t n1 = std::min(g.N, n0 + blocks.samples), L = (n1 - n0) * P;
            for (int64_t n = n0; n < n1; ++n)   // gy of this group and block as (Og, L)
                for (int64_t o = 0; o < g.Og; ++o)
                    std::copy_n(pgy + (n * g.O + grp * g.Og + o) * P, P, gyg + o * L + (n - n0) * P);
            if (px) {
                im2col(g, px, grp, n0, n1, cols);
                // grad_w += gy_g @ cols^T
                gemm<T>(false, true, g.Og, g.rows(), L, T(1), gyg, L, cols, L, T(1),
                        pgw + grp * g.Og * g.rows(), g.rows());
            }
            // grad_cols = w_g^T @ gy_g, folded back onto this block's input planes
            gemm<T>(true, false, g.rows(), L, g.Og, T(1), pw + grp * g.Og * g.rows(), g.rows(),
                    gyg, L, T(0), cols, L);
            col2im(g, cols, grp, n0, n1, pgx);
        }
        if (!px) return;
        std::lock_guard<std::mutex> lock(partial_mutex);
        partials.push_back(std::move(gw));
    });
    if (!px) return {gx, Array()};
    Array gw = partials.front();
    T* sum = reinterpret_cast<T*>(gw.ptr());
    for (size_t i = 1; i < partials.size(); ++i) {
        const T* part = reinterpret_cast<const T*>(partials[i].ptr());
        for (int64_t e = 0; e < wsize; ++e) sum[e] += part[e];
    }
    return {gx, gw};
}

// Both gradients of a transposed convolution, whose forward was the input gradient of the
// convolution g (input gy (N, C, H, W), output gradient x (N, O, OH, OW)): grad_x is that
// convolution of gy, grad_w its weight gradient with x as the output gradient. They share one
// im2col of gy per block.
template <class T>
std::pair<Array, Array> conv_transpose2d_backward_impl(const Array& gy, const Array& x,
                                                       const Array& w, const ConvGeometry& g) {
    const int64_t P = g.P(), wsize = w.numel();
    if (conv_is_trivial(g))
        return {full_float({g.N, g.O, g.OH, g.OW}, 0.0, w.dtype), full_float(w.shape, 0.0, w.dtype)};
    require_blas_size({g.Og, g.rows(), g.N * P}, "conv_transpose2d_backward");
    Array gx = empty({g.N, g.O, g.OH, g.OW}, w.dtype);
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    const T* pgy = reinterpret_cast<const T*>(gy.ptr());
    T* pgx = reinterpret_cast<T*>(gx.ptr());
    const ConvBlocks blocks = conv_blocks(g, sizeof(T));
    std::mutex partial_mutex;
    std::vector<Array> partials;
    parallel_for(blocks.count * g.G, 1, [&](int64_t i0, int64_t i1) {
        Array cols_buf = empty({g.rows(), blocks.samples * P}, w.dtype);
        Array y_buf = empty({g.Og, blocks.samples * P}, w.dtype);
        Array gw = full_float(w.shape, 0.0, w.dtype);
        T* cols = reinterpret_cast<T*>(cols_buf.ptr());
        T* y = reinterpret_cast<T*>(y_buf.ptr());
        T* pgw = reinterpret_cast<T*>(gw.ptr());
        for (int64_t item = i0; item < i1; ++item) {
            const int64_t grp = item % g.G, n0 = item / g.G * blocks.samples;
            const int64_t n1 = std::min(g.N, n0 + blocks.samples), L = (n1 - n0) * P;
            conv_block(g, pgy, pw, grp, n0, n1, cols, y, pgx);     // grad_x of this block
            // grad_w += x_g @ cols^T, with x of this group and block gathered as (Og, L)
            for (int64_t n = n0; n < n1; ++n)
                for (int64_t o = 0; o < g.Og; ++o)
                    std::copy_n(px + (n * g.O + grp * g.Og + o) * P, P, y + o * L + (n - n0) * P);
            gemm<T>(false, true, g.Og, g.rows(), L, T(1), y, L, cols, L, T(1),
                    pgw + grp * g.Og * g.rows(), g.rows());
        }
        std::lock_guard<std::mutex> lock(partial_mutex);
        partials.push_back(std::move(gw));
    });
    Array gw = partials.front();
    T* sum = reinterpret_cast<T*>(gw.ptr());
    for (size_t i = 1; i < partials.size(); ++i) {
        const T* part = reinterpret_cast<const T*>(partials[i].ptr());
        for (int64_t e = 0; e < wsize; ++e) sum[e] += part[e];
    }
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
    Array y = cd == F32 ? conv2d_backward_impl<float>(x, nullptr, w, g).first
                        : conv2d_backward_impl<double>(x, nullptr, w, g).first;
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

}  // namespace mgcpu
