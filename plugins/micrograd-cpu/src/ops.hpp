// The op vocabulary of the extension, each op declared once: its code (the enumerator), the
// name Python passes (micrograd.backend.UNARY_OPS, BINARY_OPS, REDUCE_OPS), the dtypes it is
// defined on, whether its result is bool, and whether the SIMD kernels have a vector loop for
// it. The enums, the name arrays the bindings look names up in (and export as _core.UNARY_OPS
// and so on), the per-dtype loop tables and the SIMD dispatch are all generated from these
// lists, so a code cannot mean one op here and another in simd/.
//
// Adding a unary or binary op (after micrograd.backend.UNARY_OPS / BINARY_OPS): a line here,
// its scalar formula in elementwise.cpp (unary_scalar or binary_scalar) and, if it is marked
// VECTOR, its vector formula in simd/simd_impl.hpp (a static_assert there fails the build when
// one is missing). An activation: a line in MGCPU_ACTIVATIONS, its formula in nn.cpp's
// activate() and the optional op's method in micrograd_cpu/backend.py.
// tests/test_op_vocabulary.py checks the names against the core's.
#pragma once

#include <type_traits>

namespace mgcpu {

// Which storage dtypes an op is defined on (the core never sends it the others).
enum OpDomain : int { ANY_DTYPE, FLOAT_DTYPES, NON_BOOL_DTYPES, NON_FLOAT_DTYPES };
// SAME_DTYPE: the result has the operands' dtype; BOOL_RESULT: it is bool.
enum OpResult : int { SAME_DTYPE, BOOL_RESULT };
// VECTOR: simd/ has a vector loop for float32/float64; SCALAR: only the per-dtype loops.
enum OpKernel : int { SCALAR, VECTOR };

struct OpTraits {
    OpDomain domain;
    OpResult result;
    OpKernel kernel;
};

// X(CODE, name, domain, result, kernel). Order is the numbering (and the order of UNARY_OPS).
// sin and cos stay SCALAR: xsimd's argument reduction is not exact for large arguments.
#define MGCPU_UNARY_OPS(X)                                            \
    X(NEG, "neg", NON_BOOL_DTYPES, SAME_DTYPE, VECTOR)                \
    X(ABS, "abs", ANY_DTYPE, SAME_DTYPE, VECTOR)                      \
    X(SIGN, "sign", ANY_DTYPE, SAME_DTYPE, SCALAR)                    \
    X(EXP, "exp", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                   \
    X(LOG, "log", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                   \
    X(LOG1P, "log1p", FLOAT_DTYPES, SAME_DTYPE, VECTOR)               \
    X(EXPM1, "expm1", FLOAT_DTYPES, SAME_DTYPE, VECTOR)               \
    X(SQRT, "sqrt", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                 \
    X(SIN, "sin", FLOAT_DTYPES, SAME_DTYPE, SCALAR)                   \
    X(COS, "cos", FLOAT_DTYPES, SAME_DTYPE, SCALAR)                   \
    X(TANH, "tanh", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                 \
    X(ERF, "erf", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                   \
    X(FLOOR, "floor", ANY_DTYPE, SAME_DTYPE, SCALAR)                  \
    X(CEIL, "ceil", ANY_DTYPE, SAME_DTYPE, SCALAR)                    \
    X(ROUND, "round", ANY_DTYPE, SAME_DTYPE, SCALAR)                  \
    X(TRUNC, "trunc", ANY_DTYPE, SAME_DTYPE, SCALAR)                  \
    X(LOGICAL_NOT, "logical_not", ANY_DTYPE, BOOL_RESULT, SCALAR)     \
    X(BITWISE_NOT, "bitwise_not", NON_FLOAT_DTYPES, SAME_DTYPE, SCALAR) \
    X(ISNAN, "isnan", ANY_DTYPE, BOOL_RESULT, SCALAR)

#define MGCPU_BINARY_OPS(X)                                           \
    X(ADD, "add", ANY_DTYPE, SAME_DTYPE, VECTOR)                      \
    X(SUB, "sub", ANY_DTYPE, SAME_DTYPE, VECTOR)                      \
    X(MUL, "mul", ANY_DTYPE, SAME_DTYPE, VECTOR)                      \
    X(DIV, "div", FLOAT_DTYPES, SAME_DTYPE, VECTOR)                   \
    X(FLOORDIV, "floordiv", NON_BOOL_DTYPES, SAME_DTYPE, SCALAR)      \
    X(MOD, "mod", NON_BOOL_DTYPES, SAME_DTYPE, SCALAR)                \
    X(POW, "pow", ANY_DTYPE, SAME_DTYPE, SCALAR)                      \
    X(MAXIMUM, "maximum", ANY_DTYPE, SAME_DTYPE, VECTOR)              \
    X(MINIMUM, "minimum", ANY_DTYPE, SAME_DTYPE, VECTOR)              \
    X(ATAN2, "atan2", FLOAT_DTYPES, SAME_DTYPE, SCALAR)               \
    X(EQ, "eq", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(NE, "ne", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(LT, "lt", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(LE, "le", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(GT, "gt", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(GE, "ge", ANY_DTYPE, BOOL_RESULT, SCALAR)                       \
    X(LOGICAL_AND, "logical_and", ANY_DTYPE, BOOL_RESULT, SCALAR)     \
    X(LOGICAL_OR, "logical_or", ANY_DTYPE, BOOL_RESULT, SCALAR)       \
    X(LOGICAL_XOR, "logical_xor", ANY_DTYPE, BOOL_RESULT, SCALAR)     \
    X(BITWISE_AND, "bitwise_and", NON_FLOAT_DTYPES, SAME_DTYPE, SCALAR) \
    X(BITWISE_OR, "bitwise_or", NON_FLOAT_DTYPES, SAME_DTYPE, SCALAR) \
    X(BITWISE_XOR, "bitwise_xor", NON_FLOAT_DTYPES, SAME_DTYPE, SCALAR)

// X(CODE, name): reductions over axes (reduce.cpp) and the fused activations (nn.cpp), whose
// traits live with their kernels.
#define MGCPU_REDUCE_OPS(X) X(SUM, "sum") X(PROD, "prod") X(MAX, "max") X(MIN, "min")

#define MGCPU_ACTIVATIONS(X)                                                                   \
    X(RELU, "relu") X(SIGMOID, "sigmoid") X(GELU, "gelu") X(GELU_TANH, "gelu_tanh")          \
    X(SILU, "silu") X(SOFTPLUS, "softplus")

#define MGCPU_OP_CODE(CODE, ...) CODE,
#define MGCPU_OP_NAME(CODE, name, ...) name,
#define MGCPU_OP_TRAITS(CODE, name, domain, result, kernel) OpTraits{domain, result, kernel},

enum UnaryOp : int { MGCPU_UNARY_OPS(MGCPU_OP_CODE) NUNARY };
enum BinaryOp : int { MGCPU_BINARY_OPS(MGCPU_OP_CODE) NBINARY };
enum ReduceOp : int { MGCPU_REDUCE_OPS(MGCPU_OP_CODE) NREDUCE };
enum Activation : int { MGCPU_ACTIVATIONS(MGCPU_OP_CODE) NACTIVATION };

inline constexpr const char* UNARY_NAMES[NUNARY] = {MGCPU_UNARY_OPS(MGCPU_OP_NAME)};
inline constexpr const char* BINARY_NAMES[NBINARY] = {MGCPU_BINARY_OPS(MGCPU_OP_NAME)};
inline constexpr const char* REDUCE_NAMES[NREDUCE] = {MGCPU_REDUCE_OPS(MGCPU_OP_NAME)};
inline constexpr const char* ACTIVATION_NAMES[NACTIVATION] = {MGCPU_ACTIVATIONS(MGCPU_OP_NAME)};

inline constexpr OpTraits UNARY_TRAITS[NUNARY] = {MGCPU_UNARY_OPS(MGCPU_OP_TRAITS)};
inline constexpr OpTraits BINARY_TRAITS[NBINARY] = {MGCPU_BINARY_OPS(MGCPU_OP_TRAITS)};

#undef MGCPU_OP_CODE
#undef MGCPU_OP_NAME
#undef MGCPU_OP_TRAITS

constexpr bool unary_returns_bool(int op) { return UNARY_TRAITS[op].result == BOOL_RESULT; }
constexpr bool binary_returns_bool(int op) { return BINARY_TRAITS[op].result == BOOL_RESULT; }
// Whether simd/ runs the op on float32/float64 (simd::unary_contiguous, binary_contiguous).
constexpr bool unary_has_vector_kernel(int op) {
    return op >= 0 && op < NUNARY && UNARY_TRAITS[op].kernel == VECTOR;
}
constexpr bool binary_has_vector_kernel(int op) {
    return op >= 0 && op < NBINARY && BINARY_TRAITS[op].kernel == VECTOR;
}

// f(std::integral_constant<int, CODE>{}) for the run-time code `op`: the one switch that turns
// a code into a compile-time one (f is instantiated for every op; a code out of range calls
// nothing). Callers skip ops they have no loop for with `if constexpr`.
#define MGCPU_VISIT_CASE(CODE, ...) \
    case CODE: f(std::integral_constant<int, CODE>{}); return;
template <class F>
void visit_unary_op(int op, F&& f) {
    switch (op) { MGCPU_UNARY_OPS(MGCPU_VISIT_CASE) default: return; }
}
template <class F>
void visit_binary_op(int op, F&& f) {
    switch (op) { MGCPU_BINARY_OPS(MGCPU_VISIT_CASE) default: return; }
}
#undef MGCPU_VISIT_CASE

}  // namespace mgcpu
