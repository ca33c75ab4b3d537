// SIMD kernels for the hottest float loops, compiled once per instruction set (simd_sse2.cpp,
// simd_avx2.cpp, simd_avx512.cpp, each with its own flags) and picked at run time in
// dispatch.cpp: one wheel runs on any x86-64 and uses the widest vectors the CPU has.
#pragma once

#include <cstdint>

#include "../array.hpp"

namespace mgcpu::simd {

// Binary op codes shared with elementwise.cpp (same numbering as its BinaryOp enum).
enum : int { ADD = 0, SUB = 1, MUL = 2, DIV = 3, MAXIMUM = 7, MINIMUM = 8 };

struct Kernels {
    const char* arch;
    // out[i] = a[i] op b[i], or a[i] op b[0] when b_scalar
    void (*binary_f32)(int op, const float* a, const float* b, bool b_scalar, float* out, int64_t n);
    void (*binary_f64)(int op, const double* a, const double* b, bool b_scalar, double* out, int64_t n);
    void (*relu_f32)(const float* x, float* out, int64_t n);
    // p -= lr * (g + wd * p), the plain SGD step
    void (*sgd_f32)(float* p, const float* g, float lr, float wd, int64_t n);
    // Adam moments and update (bias corrections folded into step_size and bc2_sqrt)
    void (*adam_f32)(float* p, const float* g, float* m, float* v, float beta1, float beta2,
                     float step_size, float bc2_sqrt, float eps, int64_t n);
};

template <class Arch> Kernels make_kernels();

// The kernels for this CPU (chosen once).
const Kernels& kernels();

// Runs a float32/float64 add/sub/mul/div/maximum/minimum on dense operands (b may be a single
// broadcast element); returns false when the operands do not qualify.
bool try_binary(int op, Array& out, const Array& a, const Array& b);

}  // namespace mgcpu::simd
