// SIMD kernels for the hottest float loops, compiled once per instruction set (simd_sse2.cpp,
// simd_avx2.cpp, simd_avx512.cpp, each with its own flags) and picked at run time in
// dispatch.cpp: one wheel runs on any x86-64 and uses the widest vectors the CPU has.
#pragma once

#include <cstdint>

#include "../array.hpp"
#include "../ops.hpp"
#include "../strided.hpp"

namespace mgcpu::simd {

struct SgdConstants {
    float lr, weight_decay, momentum, dampening, sign;
    bool nesterov, first_step;
};

struct Kernels {
    const char* arch;
    // The unchecked kernels behind the entry points below (an op code without a vector kernel
    // does nothing here). out[i] = a[i] op b[i], reading a[0] (b[0]) for every i when a_scalar
    // (b_scalar); stream: write around the cache (for outputs far larger than it)
    void (*binary_f32)(int op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                       float* out, int64_t n, bool stream);
    void (*binary_f64)(int op, const double* a, bool a_scalar, const double* b, bool b_scalar,
                       double* out, int64_t n, bool stream);
    // the same over `rows` runs, row r of out/a/b starting row_step[0/1/2] * r elements later
    void (*binary_rows_f32)(int op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                            float* out, int64_t n, int64_t rows, const int64_t* row_step);
    void (*binary_rows_f64)(int op, const double* a, bool a_scalar, const double* b,
                            bool b_scalar, double* out, int64_t n, int64_t rows,
                            const int64_t* row_step);
    // out[i] = op(x[i])
    void (*unary_f32)(int op, const float* x, float* out, int64_t n);
    void (*unary_f64)(int op, const double* x, double* out, int64_t n);
    void (*relu_f32)(const float* x, float* out, int64_t n);
    // PyTorch's SGD step: d = sign * g + wd * p; with a momentum buffer m (null: none)
    // m = first ? d : momentum * m + (1 - dampening) * d, d = nesterov ? d + momentum * m : m;
    // then p -= lr * d. sign is -1 to maximize.
    void (*sgd_f32)(float* p, const float* g, float* m, const SgdConstants& c, int64_t n);
    // Adam moments and update (bias corrections folded into step_size and bc2_sqrt)
    void (*adam_f32)(float* p, const float* g, float* m, float* v, float beta1, float beta2,
                     float step_size, float bc2_sqrt, float eps, int64_t n);
    // Column sums of a (rows, cols) matrix whose rows start row_stride elements apart, added
    // into acc (float64, cols entries) in row order
    void (*column_sum_f32)(const float* x, int64_t rows, int64_t cols, int64_t row_stride,
                           double* acc);
    void (*column_sum_f64)(const double* x, int64_t rows, int64_t cols, int64_t row_stride,
                           double* acc);
};

template <class Arch> Kernels make_kernels();

// The kernels for this CPU (chosen once).
const Kernels& kernels();

// ------------------------------------------------------------------ entry points
// Op code `op` (ops.hpp; one marked VECTOR, see unary_has_vector_kernel and
// binary_has_vector_kernel) applied to contiguous float32/float64 buffers on the calling
// thread, with this CPU's widest vectors; value_error for an op without a vector kernel.
// Callers tile and thread the work themselves (try_binary and try_unary below do).

// out[i] = op(x[i]), i < n; out may be x.
void unary_contiguous(int op, const float* x, float* out, int64_t n);
void unary_contiguous(int op, const double* x, double* out, int64_t n);
// out[i] = a[i] op b[i], i < n, reading a[0] (b[0]) for every i when a_scalar (b_scalar); out
// may be a or b. stream: write around the cache (fresh outputs far larger than it).
void binary_contiguous(int op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                       float* out, int64_t n, bool stream = false);
void binary_contiguous(int op, const double* a, bool a_scalar, const double* b, bool b_scalar,
                       double* out, int64_t n, bool stream = false);

// The elementwise primitives' fast paths (threaded):
// a float32/float64 binary VECTOR op over a strided walk (out, a, b) whose innermost runs are
// dense in out and dense or broadcast in a and b (a bias over channels, a scalar); false when
// the op, dtype or layout does not qualify.
bool try_binary(int op, DType dtype, const Walk<3>& walk);
// A float32/float64 unary VECTOR op on a dense array; false when it does not apply.
bool try_unary(int op, Array& out, const Array& x);

// ------------------------------------------------------------------ small GEMM (gemm branch)
// C (m x n, element (i, j) at c[i*rsc + j*csc]) = alpha op(A) op(B) + beta C on the calling
// thread, op(A)(i, p) = a[i*rsa + p*csa], op(B)(p, j) = b[p*rsb + j*csb]; each operand needs a
// unit stride on one axis. beta == 0 never reads C. Kernels in small_gemm_impl.hpp; the rule
// for when they beat OpenBLAS and the threading live in small_gemm.cpp.
struct GemmKernels {
    void (*gemm_f32)(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa,
                     const float* b, int64_t rsb, int64_t csb, float* c, int64_t rsc,
                     int64_t csc, float alpha, float beta);
    void (*gemm_f64)(int64_t m, int64_t n, int64_t k, const double* a, int64_t rsa,
                     int64_t csa, const double* b, int64_t rsb, int64_t csb, double* c,
                     int64_t rsc, int64_t csc, double alpha, double beta);
};
template <class Arch> GemmKernels make_gemm_kernels();
// The small-GEMM kernels for this CPU (chosen once, by the same rule as kernels()).
const GemmKernels& gemm_kernels();

}  // namespace mgcpu::simd
