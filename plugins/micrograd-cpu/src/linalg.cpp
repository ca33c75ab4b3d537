// Matrix multiplication through BLAS (float32/float64; 16-bit floats via float32), exact
// wrapping loops for integers, and conv2d as im2col + one GEMM per group over the whole batch.
#include <algorithm>
#include <atomic>

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

// Products below this many flops run on one BLAS thread: waking OpenBLAS's workers costs more
// than they save there, and on a busy machine its spinning workers starve everyone (a 19 MFLOP
// conv GEMM took 4-8 ms threaded, 1 ms on one thread). OpenBLAS's thread count is global, so the
// last value set is remembered and only changes are passed on.
constexpr double THREADED_GEMM_FLOPS = double(1 << 27);

void use_blas_threads_for(double flops) {
#ifdef MGCPU_OPENBLAS
    static std::atomic<int> current{0};
    const int want = flops >= THREADED_GEMM_FLOPS ? num_threads() : 1;
    if (current.exchange(want) != want) MGCPU_OPENBLAS(set_num_threads)(want);
#endif
}

}  // namespace mgcpu

namespace mgcpu {

namespace {

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    use_blas_threads_for(2.0 * double(m) * double(n) * double(k));
    auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
        MGCPU_CBLAS(sgemm)(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b,
                           int(ldb), beta, c, int(ldc));
    else
        MGCPU_CBLAS(dgemm)(CblasRowMajor, TA, TB, int(m), int(n), int(k), alpha, a, int(lda), b,
                           int(ldb), beta, c, int(ldc));
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

template <class T>
void matmul_blas(const Array& a_in, const Array& b_in, Array& out, int64_t batch) {
    const int nd = a_in.ndim();
    const int64_t m = a_in.shape[nd - 2], k = a_in.shape[nd - 1], n = b_in.shape[nd - 1];
    Array a = a_in, b = b_in;
    bool ta, tb;
    int64_t lda, ldb;
    if (!blas_layout(m, k, a.strides[nd - 2], a.strides[nd - 1], ta, lda)) {
        a = contiguous(a);
        blas_layout(m, k, a.strides[nd - 2], a.strides[nd - 1], ta, lda);
    }
    if (!blas_layout(k, n, b.strides[nd - 2], b.strides[nd - 1], tb, ldb)) {
        b = contiguous(b);
        blas_layout(k, n, b.strides[nd - 2], b.strides[nd - 1], tb, ldb);
    }
    T* o = reinterpret_cast<T*>(out.ptr());
    Shape idx(std::max(nd - 2, 0), 0);
    for (int64_t i = 0; i < batch; ++i) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < nd - 2; ++d) {
            oa += idx[d] * a.strides[d];
            ob += idx[d] * b.strides[d];
        }
        const T* pa = reinterpret_cast<const T*>(a.ptr()) + oa;
        const T* pb = reinterpret_cast<const T*>(b.ptr()) + ob;
        if (k == 0) std::fill_n(o + i * m * n, m * n, T(0));
        else gemm<T>(ta, tb, m, n, k, T(1), pa, lda, pb, ldb, T(0), o + i * m * n, n);
        for (int d = nd - 3; d >= 0; --d) {
            if (++idx[d] < a.shape[d]) break;
            idx[d] = 0;
        }
    }
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
                T av = pa[(i * m + r) * k + t];
                const T* brow = pb + (i * k + t) * n;
                for (int64_t c = 0; c < n; ++c) {
                    if constexpr (std::is_same_v<T, bool>) row[c] = row[c] || (av && brow[c]);
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
    bool ok = xs.size() == 4 && ws.size() == 4 && groups >= 1 && stride[0] >= 1 &&
              stride[1] >= 1 && dilation[0] >= 1 && dilation[1] >= 1 && padding[0] >= 0 &&
              padding[1] >= 0;
    if (ok) {
        g = {xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], 0, 0, groups, ws[1], ws[0] / groups,
             stride, padding, dilation};
        ok = g.C == g.Cg * groups && g.O % groups == 0;
        g.OH = (g.H + 2 * padding[0] - dilation[0] * (g.KH - 1) - 1) / stride[0] + 1;
        g.OW = (g.W + 2 * padding[1] - dilation[1] * (g.KW - 1) - 1) / stride[1] + 1;
        ok = ok && g.OH >= 1 && g.OW >= 1;
    }
    if (!ok)
        throw value_error("conv2d: input " + shape_str(xs) + " and weight " + shape_str(ws) +
                          " with groups=" + std::to_string(groups) +
                          " do not fit; need x (N, C, H, W), w (O, C/groups, KH, KW), O "
                          "divisible by groups, and a kernel no larger than the padded input");
    return g;
}

// cols[r, n*P + p] for the channels of group `grp` (x contiguous NCHW).
template <class T>
void im2col(const ConvGeometry& g, const T* x, int64_t grp, T* cols) {
    const int64_t P = g.P(), NP = g.N * P;
    parallel_for(g.rows(), 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t c = r / (g.KH * g.KW), i = (r / g.KW) % g.KH, j = r % g.KW;
            T* row = cols + r * NP;
            for (int64_t n = 0; n < g.N; ++n) {
                const T* plane = x + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                for (int64_t oh = 0; oh < g.OH; ++oh) {
                    const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                    T* out = row + n * P + oh * g.OW;
                    if (h < 0 || h >= g.H) { std::fill_n(out, g.OW, T(0)); continue; }
                    for (int64_t ow = 0; ow < g.OW; ++ow) {
                        const int64_t w = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
                        out[ow] = (w >= 0 && w < g.W) ? plane[h * g.W + w] : T(0);
                    }
                }
            }
        }
    });
}

// grad_x += col2im(cols) for the channels of group `grp`; threads own whole channels.
template <class T>
void col2im(const ConvGeometry& g, const T* cols, int64_t grp, T* gx) {
    const int64_t P = g.P(), NP = g.N * P, KK = g.KH * g.KW;
    parallel_for(g.Cg, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
            for (int64_t ij = 0; ij < KK; ++ij) {
                const int64_t i = ij / g.KW, j = ij % g.KW;
                const T* row = cols + (c * KK + ij) * NP;
                for (int64_t n = 0; n < g.N; ++n) {
                    T* plane = gx + ((n * g.C) + grp * g.Cg + c) * g.H * g.W;
                    for (int64_t oh = 0; oh < g.OH; ++oh) {
                        const int64_t h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
                        if (h < 0 || h >= g.H) continue;
                        const T* in = row + n * P + oh * g.OW;
                        for (int64_t ow = 0; ow < g.OW; ++ow) {
                            const int64_t w = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
                            if (w >= 0 && w < g.W) plane[h * g.W + w] += in[ow];
                        }
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

template <class T>
Array conv2d_impl(const Array& x, const Array& w, const ConvGeometry& g) {
    const int64_t P = g.P(), NP = g.N * P;
    Array out = empty({g.N, g.O, g.OH, g.OW}, x.dtype);
    std::vector<T> cols(size_t(g.rows() * NP)), y(size_t(g.Og * NP));
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    for (int64_t grp = 0; grp < g.G; ++grp) {
        im2col(g, px, grp, cols.data());
        gemm<T>(false, false, g.Og, NP, g.rows(), T(1), pw + grp * g.Og * g.rows(), g.rows(),
                cols.data(), NP, T(0), y.data(), NP);
        for (int64_t n = 0; n < g.N; ++n)
            for (int64_t o = 0; o < g.Og; ++o)
                std::copy_n(y.data() + o * NP + n * P, P, po + (n * g.O + grp * g.Og + o) * P);
    }
    return out;
}

template <class T>
std::pair<Array, Array> conv2d_backward_impl(const Array& gy, const Array& x, const Array& w,
                                             const ConvGeometry& g) {
    const int64_t P = g.P(), NP = g.N * P;
    Array gx = full_float(x.shape, 0.0, x.dtype);
    Array gw = empty(w.shape, w.dtype);
    std::vector<T> cols(size_t(g.rows() * NP)), gyg(size_t(g.Og * NP));
    const T* px = reinterpret_cast<const T*>(x.ptr());
    const T* pw = reinterpret_cast<const T*>(w.ptr());
    const T* pgy = reinterpret_cast<const T*>(gy.ptr());
    T* pgx = reinterpret_cast<T*>(gx.ptr());
    T* pgw = reinterpret_cast<T*>(gw.ptr());
    for (int64_t grp = 0; grp < g.G; ++grp) {
        for (int64_t n = 0; n < g.N; ++n)       // gy of this group as (Og, N*P)
            for (int64_t o = 0; o < g.Og; ++o)
                std::copy_n(pgy + (n * g.O + grp * g.Og + o) * P, P, gyg.data() + o * NP + n * P);
        im2col(g, px, grp, cols.data());
        // grad_w = gy_g @ cols^T
        gemm<T>(false, true, g.Og, g.rows(), NP, T(1), gyg.data(), NP, cols.data(), NP, T(0),
                pgw + grp * g.Og * g.rows(), g.rows());
        // grad_cols = w_g^T @ gy_g, folded back onto the input
        gemm<T>(true, false, g.rows(), NP, g.Og, T(1), pw + grp * g.Og * g.rows(), g.rows(),
                gyg.data(), NP, T(0), cols.data(), NP);
        col2im(g, cols.data(), grp, pgx);
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
    auto grads = cd == F32 ? conv2d_backward_impl<float>(gy, x, w, g)
                           : conv2d_backward_impl<double>(gy, x, w, g);
    if (cd != x_in.dtype)
        grads = {astype(grads.first, x_in.dtype), astype(grads.second, x_in.dtype)};
    return grads;
}

}  // namespace mgcpu
