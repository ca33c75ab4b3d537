// Elementwise primitives: unary, binary, where.
//
// Each op of ops.hpp is a scalar function here; one 1-D loop per (op, dtype) it is defined on is
// instantiated into a table, and the strided Walk feeds it runs of elements. A run whose
// operands are all dense is a plain pointer loop the compiler vectorises; float32/float64 ops
// that ops.hpp marks VECTOR go to the SIMD kernels.
#include <algorithm>
#include <cmath>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "ops.hpp"
#include "simd/simd.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

using Ptrs3 = std::array<char*, 3>;
using Steps3 = std::array<int64_t, 3>;
using Ptrs2 = std::array<char*, 2>;
using Steps2 = std::array<int64_t, 2>;
using BinaryLoop = void (*)(const Ptrs3&, const Steps3&, int64_t);
using UnaryLoop = void (*)(const Ptrs2&, const Steps2&, int64_t);

// Integer arithmetic wraps: done in 64-bit unsigned arithmetic, which has no undefined overflow.
template <class C> C wrap_add(C a, C b) { return C(uint64_t(a) + uint64_t(b)); }
template <class C> C wrap_sub(C a, C b) { return C(uint64_t(a) - uint64_t(b)); }
template <class C> C wrap_mul(C a, C b) { return C(uint64_t(a) * uint64_t(b)); }

template <class C> C int_floordiv(C a, C b) {
    if constexpr (std::is_signed_v<C>) {
        if (b == C(-1)) return wrap_sub(C(0), a);   // INT_MIN / -1 wraps instead of trapping
        C q = a / b;
        if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
        return q;
    } else {
        return a / b;
    }
}

template <class C> C int_mod(C a, C b) {
    if constexpr (std::is_signed_v<C>) {
        if (b == C(-1)) return 0;
        C r = a % b;
        if (r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
    } else {
        return a % b;
    }
}

// numpy's npy_divmod: floor division and remainder that agree with each other.
template <class C> C float_floordiv(C a, C b) {
    C mod = std::fmod(a, b);
    if (b == 0) return a / b;
    C div = (a - mod) / b;
    if (mod != 0) {
        if ((b < 0) != (mod < 0)) div -= 1;
    }
    if (div != 0) {
        C fl = std::floor(div);
        if (div - fl > C(0.5)) fl += 1;
        return fl;
    }
    return std::copysign(C(0), a / b);
}

template <class C> C float_mod(C a, C b) {
    if (b == 0) return std::fmod(a, b);
    C mod = std::fmod(a, b);
    if (mod != 0) {
        if ((b < 0) != (mod < 0)) mod += b;
    } else {
        mod = std::copysign(C(0), b);
    }
    return mod;
}

template <class C> C int_pow(C base, C exp) {
    if constexpr (std::is_signed_v<C>) {
        if (exp < 0) {
            if (base == 1) return 1;
            if (base == -1) return (exp % 2) ? C(-1) : C(1);
            return 0;
        }
    }
    C result = 1;
    uint64_t e = uint64_t(exp);
    while (e) {
        if (e & 1) result = wrap_mul(result, base);
        base = wrap_mul(base, base);
        e >>= 1;
    }
    return result;
}

// Whether an op of `domain` is defined on storage type T.
template <class T>
constexpr bool defined_for(OpDomain domain) {
    switch (domain) {
        case FLOAT_DTYPES: return is_float_v<T>;
        case NON_BOOL_DTYPES: return !std::is_same_v<T, bool>;
        case NON_FLOAT_DTYPES: return !is_float_v<T>;
        default: return true;
    }
}

template <int OP, class C>
inline auto binary_scalar(C a, C b) {
    constexpr bool fl = std::is_floating_point_v<C>;
    constexpr bool bl = std::is_same_v<C, bool>;
    if constexpr (OP == ADD) { if constexpr (fl) return C(a + b); else if constexpr (bl) return C(a || b); else return wrap_add(a, b); }
    else if constexpr (OP == SUB) { if constexpr (fl) return C(a - b); else if constexpr (bl) return C(a != b); else return wrap_sub(a, b); }
    else if constexpr (OP == MUL) { if constexpr (fl) return C(a * b); else if constexpr (bl) return C(a && b); else return wrap_mul(a, b); }
    else if constexpr (OP == DIV) return C(a / b);
    else if constexpr (OP == FLOORDIV) { if constexpr (fl) return float_floordiv(a, b); else return int_floordiv(a, b); }
    else if constexpr (OP == MOD) { if constexpr (fl) return float_mod(a, b); else return int_mod(a, b); }
    else if constexpr (OP == POW) { if constexpr (fl) return C(std::pow(a, b)); else if constexpr (bl) return C(a || !b); else return int_pow(a, b); }
    else if constexpr (OP == MAXIMUM) { if constexpr (fl) return (a > b || a != a) ? a : b; else return a > b ? a : b; }  // ties give b, as numpy
    else if constexpr (OP == MINIMUM) { if constexpr (fl) return (a < b || a != a) ? a : b; else return a < b ? a : b; }
    else if constexpr (OP == ATAN2) return C(std::atan2(a, b));
    else if constexpr (OP == EQ) return a == b;
    else if constexpr (OP == NE) return a != b;
    else if constexpr (OP == LT) return a < b;
    else if constexpr (OP == LE) return a <= b;
    else if constexpr (OP == GT) return a > b;
    else if constexpr (OP == GE) return a >= b;
    else if constexpr (OP == LOGICAL_AND) return (a != C(0)) && (b != C(0));
    else if constexpr (OP == LOGICAL_OR) return (a != C(0)) || (b != C(0));
    else if constexpr (OP == LOGICAL_XOR) return (a != C(0)) != (b != C(0));
    else if constexpr (OP == BITWISE_AND) { if constexpr (bl) return C(a && b); else return C(a & b); }
    else if constexpr (OP == BITWISE_OR) { if constexpr (bl) return C(a || b); else return C(a | b); }
    else { if constexpr (bl) return C(a != b); else return C(a ^ b); }
}

template <int OP, class T>
void binary_loop(const Ptrs3& p, const Steps3& s, int64_t n) {
    using C = compute_t<T>;
    using R = std::conditional_t<binary_returns_bool(OP), bool, T>;
    char* o = p[0];
    const char *a = p[1], *b = p[2];
    if constexpr (OP >= EQ && OP <= GE && (std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                           std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>)) {
        // a dense run, either side possibly one value (x > 0, a causal mask's broadcast
        // columns <= rows): the vectorised comparison kernels
        if (s[0] == 1 && (s[1] == sizeof(T) || s[1] == 0) && (s[2] == sizeof(T) || s[2] == 0) &&
            simd::kernels().compare(OP, dtype_of<T>(), a, s[1] == 0, b, s[2] == 0,
                                    reinterpret_cast<bool*>(o), n))
            return;
    }
    if constexpr (!std::is_same_v<T, half_t> && !std::is_same_v<T, bf16_t>) {
        if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
            // load, not x[i]: the same code for numbers, and any byte read safely as a bool
            R* out = reinterpret_cast<R*>(o);
            for (int64_t i = 0; i < n; ++i)
                out[i] = binary_scalar<OP, C>(load<T>(a + i * int64_t(sizeof(T))),
                                              load<T>(b + i * int64_t(sizeof(T))));
            return;
        }
        if (s[0] == sizeof(R) && s[1] == sizeof(T) && s[2] == 0) {
            R* out = reinterpret_cast<R*>(o);
            const C y = load<T>(b);
            for (int64_t i = 0; i < n; ++i)
                out[i] = binary_scalar<OP, C>(load<T>(a + i * int64_t(sizeof(T))), y);
            return;
        }
    }
    for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1], b += s[2]) {
        auto r = binary_scalar<OP, C>(load<T>(a), load<T>(b));
        if constexpr (binary_returns_bool(OP)) *reinterpret_cast<bool*>(o) = r;
        else store<T>(o, r);
    }
}

struct BinaryTable {
    BinaryLoop loops[NBINARY][NDTYPES] = {};
    template <int OP, class T> void add_one() {
        if constexpr (defined_for<T>(BINARY_TRAITS[OP].domain)) loops[OP][dtype_of<T>()] = &binary_loop<OP, T>;
    }
    template <int OP> void add_op() {
        for (int d = 0; d < NDTYPES; ++d)
            visit_dtype(DType(d), [&](auto t) { add_one<OP, decltype(t)>(); });
    }
    template <int... OPS> void add_all(std::integer_sequence<int, OPS...>) { (add_op<OPS>(), ...); }
    BinaryTable() { add_all(std::make_integer_sequence<int, NBINARY>{}); }
};

const BinaryTable& binary_table() {
    static const BinaryTable table;
    return table;
}

// ----------------------------------------------------------------------------------- unary

template <int OP, class C>
inline auto unary_scalar(C a) {
    constexpr bool fl = std::is_floating_point_v<C>;
    constexpr bool bl = std::is_same_v<C, bool>;
    if constexpr (OP == NEG) { if constexpr (fl) return C(-a); else return wrap_sub(C(0), a); }
    else if constexpr (OP == ABS) {
        if constexpr (fl) return C(std::fabs(a));
        else if constexpr (std::is_signed_v<C>) return a < 0 ? wrap_sub(C(0), a) : a;
        else return a;
    }
    else if constexpr (OP == SIGN) {
        if constexpr (fl) return a > 0 ? C(1) : a < 0 ? C(-1) : a == 0 ? C(0) : a;
        else if constexpr (bl) return a;
        else return C((C(0) < a) - (a < C(0)));
    }
    else if constexpr (OP == EXP) return C(std::exp(a));
    else if constexpr (OP == LOG) return C(std::log(a));
    else if constexpr (OP == LOG1P) return C(std::log1p(a));
    else if constexpr (OP == EXPM1) return C(std::expm1(a));
    else if constexpr (OP == SQRT) return C(std::sqrt(a));
    else if constexpr (OP == SIN) return C(std::sin(a));
    else if constexpr (OP == COS) return C(std::cos(a));
    else if constexpr (OP == TANH) return C(std::tanh(a));
    else if constexpr (OP == ERF) return C(std::erf(a));
    else if constexpr (OP == FLOOR) { if constexpr (fl) return C(std::floor(a)); else return a; }
    else if constexpr (OP == CEIL) { if constexpr (fl) return C(std::ceil(a)); else return a; }
    else if constexpr (OP == ROUND) { if constexpr (fl) return C(std::nearbyint(a)); else return a; }
    else if constexpr (OP == TRUNC) { if constexpr (fl) return C(std::trunc(a)); else return a; }
    else if constexpr (OP == LOGICAL_NOT) return a == C(0);
    else if constexpr (OP == BITWISE_NOT) { if constexpr (bl) return !a; else return C(~a); }
    else { if constexpr (fl) return a != a; else return false; }
}

template <int OP, class T>
void unary_loop(const Ptrs2& p, const Steps2& s, int64_t n) {
    using C = compute_t<T>;
    using R = std::conditional_t<unary_returns_bool(OP), bool, T>;
    char* o = p[0];
    const char* a = p[1];
    if constexpr (!std::is_same_v<T, half_t> && !std::is_same_v<T, bf16_t>) {
        if (s[0] == sizeof(R) && s[1] == sizeof(T)) {
            R* out = reinterpret_cast<R*>(o);
            for (int64_t i = 0; i < n; ++i)
                out[i] = unary_scalar<OP, C>(load<T>(a + i * int64_t(sizeof(T))));
            return;
        }
    }
    for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1]) {
        auto r = unary_scalar<OP, C>(load<T>(a));
        if constexpr (unary_returns_bool(OP)) *reinterpret_cast<bool*>(o) = r;
        else store<T>(o, r);
    }
}

struct UnaryTable {
    UnaryLoop loops[NUNARY][NDTYPES] = {};
    template <int OP, class T> void add_one() {
        if constexpr (defined_for<T>(UNARY_TRAITS[OP].domain)) loops[OP][dtype_of<T>()] = &unary_loop<OP, T>;
    }
    template <int OP> void add_op() {
        for (int d = 0; d < NDTYPES; ++d)
            visit_dtype(DType(d), [&](auto t) { add_one<OP, decltype(t)>(); });
    }
    template <int... OPS> void add_all(std::integer_sequence<int, OPS...>) { (add_op<OPS>(), ...); }
    UnaryTable() { add_all(std::make_integer_sequence<int, NUNARY>{}); }
};

const UnaryTable& unary_table() {
    static const UnaryTable table;
    return table;
}



// A dense run of where: selects through masks, which vectorise (a branch on the condition
// mispredicts on real data). Which branch is one repeated value (a broadcast scalar: relu's
// backward where(x > 0, grad, 0), masked_fill, tril) is known at compile time: with a runtime
// step of 0 or 1 the loop stayed scalar (4x slower).
template <class U, bool DENSE_A, bool DENSE_B>
void where_dense(U* out, const uint8_t* cond, const U* x, const U* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const U mask = U(0) - U(cond[i] != 0);
        out[i] = U((x[DENSE_A ? i : 0] & mask) | (y[DENSE_B ? i : 0] & ~mask));
    }
}

template <int SIZE>
void where_loop(const std::array<char*, 4>& p, const std::array<int64_t, 4>& s, int64_t n) {
    char* o = p[0];
    const char *c = p[1], *a = p[2], *b = p[3];
    using U = uint_of_size<SIZE>;
    if (s[0] == SIZE && s[1] == 1 && (s[2] == SIZE || s[2] == 0) && (s[3] == SIZE || s[3] == 0)) {
        U* out = reinterpret_cast<U*>(o);
        const uint8_t* cond = reinterpret_cast<const uint8_t*>(c);
        const U *x = reinterpret_cast<const U*>(a), *y = reinterpret_cast<const U*>(b);
        if (s[2] && s[3]) where_dense<U, true, true>(out, cond, x, y, n);
        else if (s[2]) where_dense<U, true, false>(out, cond, x, y, n);
        else if (s[3]) where_dense<U, false, true>(out, cond, x, y, n);
        else where_dense<U, false, false>(out, cond, x, y, n);
        return;
    }
    for (int64_t i = 0; i < n; ++i, o += s[0], c += s[1], a += s[2], b += s[3])
        std::memcpy(o, load<bool>(c) ? a : b, SIZE);
}

// Operand strides (bytes) of x seen as the broadcast shape `shape` (right-aligned).
Shape broadcast_byte_strides(const Array& x, const Shape& shape) {
    Shape out(shape.size(), 0);
    size_t lead = shape.size() - x.shape.size();
    for (size_t d = 0; d < x.shape.size(); ++d)
        out[lead + d] = x.shape[d] == 1 ? 0 : x.strides[d] * x.itemsize();
    return out;
}

template <size_t N>
int code_of(const std::string& name, const char* const (&names)[N], const char* what) {
    for (size_t code = 0; code < N; ++code)
        if (name == names[code]) return int(code);
    std::string known;
    for (size_t code = 0; code < N; ++code) known += std::string(code ? ", " : "") + names[code];
    throw value_error("unknown " + std::string(what) + " op '" + name + "'; known: " + known);
}

}  // namespace

int unary_op_code(const std::string& name) { return code_of(name, UNARY_NAMES, "unary"); }
int binary_op_code(const std::string& name) { return code_of(name, BINARY_NAMES, "binary"); }

// The 1-D loop of `op` for a and b's dtype, or a TypeError naming what is wrong.
static BinaryLoop binary_loop_for(int op, const Array& a, const Array& b) {
    if (a.dtype != b.dtype)
        throw type_error(std::string("binary ") + BINARY_NAMES[op] + " needs one dtype, got " +
                         DTYPE_NAMES[a.dtype] + " and " + DTYPE_NAMES[b.dtype] +
                         "; cast first");
    BinaryLoop loop = binary_table().loops[op][a.dtype];
    if (!loop)
        throw type_error(std::string(BINARY_NAMES[op]) + " is not defined for " +
                         DTYPE_NAMES[a.dtype]);
    return loop;
}

// out = a op b elementwise; out has the broadcast shape and does not overlap a or b except
// element for element (the same layout), which elementwise loops handle.
// Below this many elements try_binary's walk runs on the calling thread (it splits from
// 2 x 2^16); a dense float32/float64 op that small goes straight to the vector kernel.
constexpr int64_t BINARY_DIRECT_BELOW = int64_t(2) << 16;

// out = a op b through the vector kernel without a Walk when out is dense and each operand is
// out's shape dense or a single element (x * 0.5): the walk's shape and stride vectors cost
// about as much as the arithmetic of a 16K-element add. False when that does not apply.
static bool binary_direct(int op, Array& out, const Array& a, const Array& b) {
    const int64_t n = out.numel();
    if (!binary_has_vector_kernel(op) || (a.dtype != F32 && a.dtype != F64) ||
        n >= BINARY_DIRECT_BELOW || !out.is_contiguous())
        return false;
    const bool a_one = a.numel() == 1, b_one = b.numel() == 1;
    if (!a_one && !(a.shape == out.shape && a.is_contiguous())) return false;
    if (!b_one && !(b.shape == out.shape && b.is_contiguous())) return false;
    if (a.dtype == F32)
        simd::binary_contiguous(op, reinterpret_cast<const float*>(a.ptr()), a_one,
                                reinterpret_cast<const float*>(b.ptr()), b_one,
                                reinterpret_cast<float*>(out.ptr()), n);
    else
        simd::binary_contiguous(op, reinterpret_cast<const double*>(a.ptr()), a_one,
                                reinterpret_cast<const double*>(b.ptr()), b_one,
                                reinterpret_cast<double*>(out.ptr()), n);
    return true;
}

static void binary_fill(int op, BinaryLoop loop, Array& out, const Array& a, const Array& b) {
    const Shape& shape = out.shape;
    const int64_t n = out.numel();
    if (binary_direct(op, out, a, b)) return;
    if (n <= 4096 && a.shape == shape && b.shape == shape && a.is_contiguous() &&
        b.is_contiguous() && out.is_contiguous()) {
        // Small and dense: one loop call, no walk to set up (its vectors cost more than the
        // arithmetic here, and per-op overhead is what small tensors pay).
        const int64_t isz = a.itemsize();
        loop({out.ptr(), a.ptr(), b.ptr()}, {out.itemsize(), isz, isz}, n);
        return;
    }
    Walk<3> walk(shape, {out.byte_strides(), broadcast_byte_strides(a, shape),
                         broadcast_byte_strides(b, shape)},
                 {out.ptr(), a.ptr(), b.ptr()});
    if (simd::try_binary(op, a.dtype, walk)) return;
    walk.run(loop, ELEMENTWISE_GRAIN);
}

Array binary(int op, const Array& a, const Array& b) {
    BinaryLoop loop = binary_loop_for(op, a, b);
    Shape shape = a.shape == b.shape ? a.shape : broadcast_shapes(a.shape, b.shape);
    Array out = empty(shape, binary_returns_bool(op) ? Bool : a.dtype);
    binary_fill(op, loop, out, a, b);
    return out;
}

void binary_into(int op, Array out, const Array& a, const Array& b) {
    BinaryLoop loop = binary_loop_for(op, a, b);
    if (binary_returns_bool(op) || out.dtype != a.dtype)
        throw type_error(std::string("binary_ ") + BINARY_NAMES[op] + " writes " +
                         DTYPE_NAMES[a.dtype] + " results, not into a " +
                         DTYPE_NAMES[out.dtype] + " array");
    Shape shape = a.shape == b.shape ? a.shape : broadcast_shapes(a.shape, b.shape);
    if (shape != out.shape)
        throw value_error("binary_: operands broadcast to " + shape_str(shape) +
                          " but the output has shape " + shape_str(out.shape));
    for (int d = 0; d < out.ndim(); ++d)
        if (out.strides[d] == 0 && out.shape[d] > 1)
            throw value_error("binary_: the output is a broadcast view (several elements share "
                              "one memory location); clone() it before writing");
    if (overlaps_differently(out, a) || overlaps_differently(out, b)) {
        copy_into(out, binary(op, a, b));   // reads would see earlier writes: go through a copy
        return;
    }
    binary_fill(op, loop, out, a, b);
}

Array unary(int op, const Array& x) {
    UnaryLoop loop = unary_table().loops[op][x.dtype];
    if (!loop)
        throw type_error(std::string(UNARY_NAMES[op]) + " is not defined for " +
                         DTYPE_NAMES[x.dtype]);
    Array out = empty(x.shape, unary_returns_bool(op) ? Bool : x.dtype);
    if (simd::try_unary(op, out, x)) return out;
    Walk<2> walk(x.shape, {out.byte_strides(), x.byte_strides()}, {out.ptr(), x.ptr()});
    walk.run(loop, ELEMENTWISE_GRAIN / 4);
    return out;
}

Array where(const Array& cond, const Array& a, const Array& b) {
    if (cond.dtype != Bool) throw type_error(std::string("where: condition must be bool, got ") +
                                             DTYPE_NAMES[cond.dtype]);
    if (a.dtype != b.dtype)
        throw type_error(std::string("where: branches need one dtype, got ") +
                         DTYPE_NAMES[a.dtype] + " and " + DTYPE_NAMES[b.dtype]);
    Shape shape = broadcast_shapes(broadcast_shapes(cond.shape, a.shape), b.shape);
    Array out = empty(shape, a.dtype);
    Walk<4> walk(shape, {out.byte_strides(), broadcast_byte_strides(cond, shape),
                         broadcast_byte_strides(a, shape), broadcast_byte_strides(b, shape)},
                 {out.ptr(), cond.ptr(), a.ptr(), b.ptr()});
    switch (a.itemsize()) {
        case 1: walk.run(&where_loop<1>, ELEMENTWISE_GRAIN); break;
        case 2: walk.run(&where_loop<2>, ELEMENTWISE_GRAIN); break;
        case 4: walk.run(&where_loop<4>, ELEMENTWISE_GRAIN); break;
        default: walk.run(&where_loop<8>, ELEMENTWISE_GRAIN); break;
    }
    return out;
}

// --------------------------------------------------------------------------- bindings

void init_elementwise(py::module_& m) {
    const OpTable* unary_ops = op_table(m, "unary", UNARY_NAMES, "UNARY_OPS");
    const OpTable* binary_ops = op_table(m, "binary", BINARY_NAMES, "BINARY_OPS");
    m.def("unary", [unary_ops](py::handle op, const Array& x) {
        const int code = (*unary_ops)(op);
        return without_gil_if_large(x.numel(), [&] { return unary(code, x); });
    }, py::arg("op"), py::arg("x"), "op(x) elementwise for a name in UNARY_OPS.");
    m.def("binary", [binary_ops](py::handle op, const Array& a, const Array& b) {
        const int code = (*binary_ops)(op);
        return without_gil_if_large(std::max(a.numel(), b.numel()),
                                    [&] { return binary(code, a, b); });
    }, py::arg("op"), py::arg("a"), py::arg("b"),
       "a op b elementwise (numpy broadcasting) for a name in BINARY_OPS.");
    m.def("binary_", [binary_ops](py::handle op, const Array& out, const Array& a, const Array& b) {
        const int code = (*binary_ops)(op);
        without_gil_if_large(out.numel(), [&] { binary_into(code, out, a, b); });
    }, py::arg("op"), py::arg("out"), py::arg("a"), py::arg("b"),
       "out = a op b in place (out may alias a or b); ops that keep the dtype only.");
    m.def("where", [](const Array& cond, const Array& a, const Array& b) {
        return without_gil_if_large(std::max(cond.numel(), a.numel()),
                                    [&] { return where(cond, a, b); });
    }, py::arg("cond"), py::arg("a"), py::arg("b"), "a where cond else b (numpy broadcasting).");
}

}  // namespace mgcpu
