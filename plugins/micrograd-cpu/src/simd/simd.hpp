// SIMD kernels for the hottest float loops, compiled once per instruction set (simd_sse2.cpp,
// simd_avx2.cpp, simd_avx512.cpp, each with its own flags) and picked at run time in
// dispatch.cpp: one wheel runs on any x86-64 and uses the widest vectors the CPU has.
#pragma once

#include <cstdint>

#include "../array.hpp"
#include "../strided.hpp"

namespace mgcpu::simd {

// Binary op codes shared with elementwise.cpp (same numbering as its BinaryOp enum).
enum : int { ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAXIMUM = 7, MINIMUM = 8 };
// Unary op codes with vector kernels (same numbering as elementwise.cpp's UnaryOp enum). Sin and
// cos stay scalar: xsimd's argument reduction is not exact for large arguments.
enum : int { NEG = 0, ABS = 1, EXP = 3, LOG = 4, LOG1P = 5, EXPM1 = 6, SQRT = 7, TANH = 10,
             ERF = 11 };

struct SgdConstants {
    float lr, weight_decay, momentum, dampening, sign;
    bool nesterov, first_step;
};

struct Kernels {
    const char* arch;
    // out[i] = a[i] op b[i], reading a[0] (b[0]) for every i when a_scalar (b_scalar); stream:
    // write around the cache (for outputs far larger than it)
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
    // out[i] = op(x[i]) for the unary ops above
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

// Runs a float32/float64 add/sub/mul/div/maximum/minimum over a strided walk (out, a, b) whose
// innermost runs are dense in out and dense or broadcast in a and b (a bias over channels, a
// scalar); returns false when the op, dtype or layout does not qualify.
bool try_binary(int op, DType dtype, const Walk<3>& walk);

// A float32/float64 unary op of the list above on a dense array; false when it does not apply.
bool try_unary(int op, Array& out, const Array& x);

}  // namespace mgcpu::simd
