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

// ---------------------------------------------------------------- fusion (src/fusion.cpp)
// One step of a fused chain: acc = unary(acc) (code UNARY + op, any VECTOR unary op), acc * acc
// (SQUARE), (acc * acc) * acc (CUBE), or binary(acc, x) (code 2 op) / binary(x, acc)
// (2 op + 1) for a VECTOR binary op, x a tile or one value (uniform); GELU_DERIVATIVE:
// acc = gelu'(acc) (the "activation derivatives" block of simd_impl.hpp).
struct ChainStep {
    enum : int { UNARY = 64, GELU_DERIVATIVE = 125, SQUARE = 126, CUBE = 127 };
    int code;
    const void* x;
    bool uniform;
};
constexpr int CHAIN_STEPS = 16;   // the most steps one chain has
static_assert(2 * NBINARY <= ChainStep::UNARY &&
                  ChainStep::UNARY + NUNARY <= ChainStep::GELU_DERIVATIVE,
              "chain step codes overlap");

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

    // ---------------------------------------------- nn kernels (nn.cpp, reduce.cpp: `nnk`)
    // out[i] = act(x[i]) for an Activation code of ops.hpp (beta, threshold: softplus's)
    void (*activation_f32)(int act, const float* x, float* out, int64_t n, float beta,
                           float threshold);
    void (*activation_f64)(int act, const double* x, double* out, int64_t n, double beta,
                           double threshold);
    // softmax (log: log_softmax) of `rows` dense rows of len elements, each len apart
    void (*softmax_rows_f32)(const float* x, float* y, int64_t rows, int64_t len, bool log);
    void (*softmax_rows_f64)(const double* x, double* y, int64_t rows, int64_t len, bool log);
    // out[r] = -log_softmax(row r)[target[r]] (0 where target[r] == ignore) for `rows` dense
    // rows of len elements, targets in range: log_softmax's value without writing it out
    void (*cross_entropy_rows_f32)(const float* x, const int64_t* target, int64_t ignore,
                                   int64_t rows, int64_t len, float* out);
    void (*cross_entropy_rows_f64)(const double* x, const int64_t* target, int64_t ignore,
                                   int64_t rows, int64_t len, double* out);
    // softmax along the rows of a (len, inner) block (row stride inner), for its columns
    // [0, cols): every column is a lane, a vector of columns at a time
    void (*softmax_cols_f32)(const float* x, float* y, int64_t len, int64_t inner, int64_t cols,
                             bool log);
    void (*softmax_cols_f64)(const double* x, double* y, int64_t len, int64_t inner,
                             int64_t cols, bool log);
    // softmax's grad_x from its output y: gx = y * (gy - sum(gy * y)) along `rows` dense rows
    // of len elements, and (cols) along the rows of a (len, inner) block for columns [0, cols)
    void (*softmax_backward_rows_f32)(const float* gy, const float* y, float* gx, int64_t rows,
                                      int64_t len);
    void (*softmax_backward_rows_f64)(const double* gy, const double* y, double* gx,
                                      int64_t rows, int64_t len);
    void (*softmax_backward_cols_f32)(const float* gy, const float* y, float* gx, int64_t len,
                                      int64_t inner, int64_t cols);
    void (*softmax_backward_cols_f64)(const double* gy, const double* y, double* gx,
                                      int64_t len, int64_t inner, int64_t cols);
    // out[r] = sum of the len dense elements of row r (rows row_stride apart), in float64
    void (*row_sum_f32)(const float* x, int64_t rows, int64_t len, int64_t row_stride,
                        double* out);
    void (*row_sum_f64)(const double* x, int64_t rows, int64_t len, int64_t row_stride,
                        double* out);
    // layer norm of `rows` dense rows of len elements: y = (x - mean) * rstd * w + b (w, b
    // may be null), mean and rstd per row stored when not null
    void (*layer_norm_rows_f32)(const float* x, const float* w, const float* b, float* y,
                                float* mean, float* rstd, int64_t rows, int64_t len, double eps);
    void (*layer_norm_rows_f64)(const double* x, const double* w, const double* b, double* y,
                                double* mean, double* rstd, int64_t rows, int64_t len,
                                double eps);
    // grad_x of layer norm for `rows` dense rows, given each row's mean and rstd: with
    // xhat = (x - mean) * rstd and g = gy * w (w may be null),
    // gx = rstd * (g - mean(g) - xhat * mean(g * xhat))
    void (*layer_norm_backward_rows_f32)(const float* gy, const float* x, const float* w,
                                         const float* mean, const float* rstd, float* gx,
                                         int64_t rows, int64_t len);
    void (*layer_norm_backward_rows_f64)(const double* gy, const double* x, const double* w,
                                         const double* mean, const double* rstd, double* gx,
                                         int64_t rows, int64_t len);
    // fusion (src/fusion.cpp): out[i] = the chain of `count` steps applied to start[i] (see
    // ChainStep); start_uniform: start[0] for every i; stream as for binary
    void (*chain_f32)(const float* start, bool start_uniform, const ChainStep* steps,
                      int count, float* out, int64_t n, bool stream);
    void (*chain_f64)(const double* start, bool start_uniform, const ChainStep* steps,
                      int count, double* out, int64_t n, bool stream);

    // --------------------------------- reductions (reduce.cpp: `red`, the reduce branch)
    // Max (is_max) or min, nan if any element is one, of each of `rows` dense rows of len
    // elements (rows row_stride apart) into out[rows]
    void (*row_extreme_f32)(bool is_max, const float* x, int64_t rows, int64_t len,
                            int64_t row_stride, float* out);
    void (*row_extreme_f64)(bool is_max, const double* x, int64_t rows, int64_t len,
                            int64_t row_stride, double* out);
    // acc[k] = max (min) of acc[k] and of column k of a (rows, cols) matrix, nan propagating
    void (*column_extreme_f32)(bool is_max, const float* x, int64_t rows, int64_t cols,
                               int64_t row_stride, float* acc);
    void (*column_extreme_f64)(bool is_max, const double* x, int64_t rows, int64_t cols,
                               int64_t row_stride, double* acc);
    // argmax (is_max) or argmin: the first position of the extreme (of the first nan, if any)
    // of each dense row, and down each column of a (rows, cols) matrix (float32: rows < 2^24)
    void (*row_arg_extreme_f32)(bool is_max, const float* x, int64_t rows, int64_t len,
                                int64_t row_stride, int64_t* out);
    void (*row_arg_extreme_f64)(bool is_max, const double* x, int64_t rows, int64_t len,
                                int64_t row_stride, int64_t* out);
    void (*column_arg_extreme_f32)(bool is_max, const float* x, int64_t rows, int64_t cols,
                                   int64_t row_stride, int64_t* out);
    void (*column_arg_extreme_f64)(bool is_max, const double* x, int64_t rows, int64_t cols,
                                   int64_t row_stride, int64_t* out);

    // ------------------------------------------- comparisons (elementwise.cpp's binary loop)
    // out[i] = a[i] op b[i] as 0/1 bytes for a comparison code (EQ, NE, LT, LE, GT, GE) on
    // float32, float64, int32 or int64 (`dtype`), a_scalar/b_scalar as for binary. Plain loops
    // the compiler vectorises with this file's instruction set (the baseline build has no
    // 64-bit integer compare and stores the bytes one by one); false for any other op or dtype.
    bool (*compare)(int op, DType dtype, const void* a, bool a_scalar, const void* b,
                    bool b_scalar, bool* out, int64_t n);
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
    int vector_bits;   // the width of the kernels' vectors (512 for AVX-512)
};
template <class Arch> GemmKernels make_gemm_kernels();
// The small-GEMM kernels for this CPU (chosen once, by the same rule as kernels()).
const GemmKernels& gemm_kernels();

}  // namespace mgcpu::simd
