// Matrix multiplication through BLAS (float32/float64; 16-bit floats via float32) and exact
// wrapping loops for integers; the threaded GEMM that conv.cpp also uses.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <cblas.h>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "gemm.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"

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

// The width in bits of the vectors in OpenBLAS's GEMM kernels, from the name of the kernel set
// it chose when it loaded (by CPU model, or as OPENBLAS_CORETYPE told it); 0 when unknown.
int blas_vector_bits() {
#ifdef MGCPU_OPENBLAS
    const std::string core = MGCPU_OPENBLAS(get_corename)();
    for (const char* name : {"SkylakeX", "Cooperlake", "SapphireRapids"})
        if (core == name) return 512;
    for (const char* name : {"Sandybridge", "Haswell", "Zen"})
        if (core == name) return 256;
    return 128;
#else
    return 0;
#endif
}

// Which kernel runs a block: -1 by small_gemm_wins, 0 always OpenBLAS, 1 always the small
// kernels (tests and A/B timing force each path through _set_gemm_path).
std::atomic<int> gemm_path{-1};

// One block on the calling thread, on the kernel that is faster for its shape.
template <class T>
void gemm_block(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    const int path = gemm_path.load(std::memory_order_relaxed);
    if (path == 1 || (path == -1 && small_gemm_wins(ta, tb, m, n, k))) {
        small_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    pin_blas_to_one_thread();
    blas_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Below this a product runs on the calling thread (about 10 us of work: less than a hand-off).
constexpr double PARALLEL_GEMM_FLOPS = double(1 << 21);
// Blocks are multiples of this many rows or columns, so each fills OpenBLAS's micro-kernels.
constexpr int64_t GEMM_BLOCK_ALIGN = 16;

}  // namespace

bool blas_narrower_than_small_gemm() {
    static const bool narrower = [] {
        const int bits = blas_vector_bits();
        return bits != 0 && bits < simd::gemm_kernels().vector_bits;
    }();
    return narrower;
}

// C (m x n, row-major) = alpha op(A) op(B) + beta C, split over the pool along the longer of m
// and n: each thread multiplies its block of rows of op(A), or columns of op(B), with all of
// the other operand.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    const double flops = 2.0 * double(m) * double(n) * double(k);
    const bool by_rows = m >= n;
    const int64_t extent = by_rows ? m : n;
    int64_t blocks = std::min<int64_t>(num_threads(), extent / GEMM_BLOCK_ALIGN);
    if (flops < PARALLEL_GEMM_FLOPS || blocks < 2) {
        gemm_block<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int64_t tiles = (extent + GEMM_BLOCK_ALIGN - 1) / GEMM_BLOCK_ALIGN;
    const int64_t per = (tiles + blocks - 1) / blocks * GEMM_BLOCK_ALIGN;   // blocks cover extent
    parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t blk = b0; blk < b1; ++blk) {
            const int64_t lo = blk * per, len = std::min(extent, lo + per) - lo;
            if (len <= 0) continue;
            if (by_rows)   // rows lo.. of op(A): row i of op(A) starts at a + i*lda, or a + i when transposed
                gemm_block<T>(ta, tb, len, n, k, alpha, a + (ta ? lo : lo * lda), lda, b, ldb, beta,
                             c + lo * ldc, ldc);
            else           // columns lo.. of op(B)
                gemm_block<T>(ta, tb, m, len, k, alpha, a, lda, b + (tb ? lo * ldb : lo), ldb, beta,
                             c + lo, ldc);
        }
    });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                         const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                          const double*, int64_t, double, double*, int64_t);

// scipy-openblas32 takes 32-bit sizes and leading dimensions: a larger one would be truncated.
void require_blas_size(std::initializer_list<int64_t> sizes, const char* what) {
    for (int64_t s : sizes)
        if (s > INT32_MAX)
            throw value_error(std::string(what) + ": a dimension of " + std::to_string(s) +
                              " exceeds the 32-bit BLAS limit of " + std::to_string(INT32_MAX));
}

namespace {

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
    require_blas_size({m, k, n}, "matmul");
    // Operands BLAS can read in place are used by reference (a copy of an Array copies its
    // shape and strides: four allocations per call); the rest through a contiguous copy.
    Array a_copy, b_copy;
    const Array* pa_arr = &a_in;
    const Array* pb_arr = &b_in;
    bool ta, tb;
    int64_t lda, ldb;
    // (a leading dimension past BLAS's 32 bits, from a strided view, also means a copy)
    if (!blas_layout(m, k, a_in.strides[nd - 2], a_in.strides[nd - 1], ta, lda) ||
        lda > INT32_MAX) {
        a_copy = contiguous(a_in);
        pa_arr = &a_copy;
        blas_layout(m, k, a_copy.strides[nd - 2], a_copy.strides[nd - 1], ta, lda);
    }
    if (!blas_layout(k, n, b_in.strides[nd - 2], b_in.strides[nd - 1], tb, ldb) ||
        ldb > INT32_MAX) {
        b_copy = contiguous(b_in);
        pb_arr = &b_copy;
        blas_layout(k, n, b_copy.strides[nd - 2], b_copy.strides[nd - 1], tb, ldb);
    }
    const Array& a = *pa_arr;
    const Array& b = *pb_arr;
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

// --------------------------------------------------------------------------- bindings

namespace {

// Products below this many flops (a 64 x 64 x 64 one is 2^19) keep the GIL: releasing it
// around a few microseconds of work only adds two thread-state switches.
constexpr double GIL_RELEASE_FLOPS = double(1 << 20);

// 2 m n k times the batch, from the shapes alone (0 for shapes matmul will reject).
double matmul_flops(const Array& a, const Array& b) {
    const int nd = a.ndim();
    if (nd < 2 || b.ndim() != nd) return 0;
    double flops = 2.0 * double(b.shape[nd - 1]);
    for (int d = 0; d < nd; ++d) flops *= double(a.shape[d]);
    return flops;
}

}  // namespace

void init_linalg(py::module_& m) {
    m.def("matmul", [](const Array& a, const Array& b) {
        // Releasing and retaking the GIL costs more than a small product saves by it.
        if (matmul_flops(a, b) < GIL_RELEASE_FLOPS) return matmul(a, b);
        py::gil_scoped_release release;
        return matmul(a, b);
    }, py::arg("a"), py::arg("b"), "(..., m, k) @ (..., k, n) with equal batch dims and one dtype.");
    m.def("_set_gemm_path", [](int path) {
        if (path < -1 || path > 1)
            throw value_error("_set_gemm_path: path must be -1 (by shape), 0 (OpenBLAS) or 1 "
                              "(small kernels), got " + std::to_string(path));
        return gemm_path.exchange(path);
    }, py::arg("path"), "Force float GEMMs onto OpenBLAS (0) or the small kernels (1), or choose "
       "by shape (-1, the default); returns the previous setting. For tests and timing.");
    m.def("_blas_narrower_than_small_gemm", &blas_narrower_than_small_gemm,
          "Whether OpenBLAS's GEMM kernels use narrower vectors than the small-GEMM kernels "
          "(then the shape rule sends nearly every product to the small kernels).");
}

}  // namespace mgcpu
