// Compile-time dtype helpers: the C++ type behind each DType, the type it computes in, and
// loads/stores that convert 16-bit floats to and from float32.
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "array.hpp"

namespace mgcpu {

template <class T> struct compute { using type = T; };
template <> struct compute<half_t> { using type = float; };
template <> struct compute<bf16_t> { using type = float; };
template <class T> using compute_t = typename compute<T>::type;

// The unsigned integer of SIZE bytes: element copies and bitwise selects that move any dtype's
// bits without reading them as numbers.
template <int SIZE>
using uint_of_size = std::conditional_t<SIZE == 1, uint8_t, std::conditional_t<SIZE == 2, uint16_t,
                     std::conditional_t<SIZE == 4, uint32_t, uint64_t>>>;

// Bools are read as bytes, any nonzero byte being true: a bool array's memory is shared with
// numpy and DLPack consumers, which can write bytes other than 0 and 1 into it, and reading
// such a byte as a C++ bool is undefined (nonzero() counted 385 of 4 elements).
template <class T>
inline compute_t<T> load(const char* p) {
    if constexpr (std::is_same_v<T, bool>) {
        return *reinterpret_cast<const uint8_t*>(p) != 0;
    } else if constexpr (std::is_same_v<T, half_t>) {
        uint16_t b; std::memcpy(&b, p, 2); return half_to_float(b);
    } else if constexpr (std::is_same_v<T, bf16_t>) {
        uint16_t b; std::memcpy(&b, p, 2); return bf16_to_float(b);
    } else {
        return *reinterpret_cast<const T*>(p);
    }
}

template <class T>
inline void store(char* p, compute_t<T> v) {
    if constexpr (std::is_same_v<T, half_t>) {
        uint16_t b = float_to_half(v); std::memcpy(p, &b, 2);
    } else if constexpr (std::is_same_v<T, bf16_t>) {
        uint16_t b = float_to_bf16(v); std::memcpy(p, &b, 2);
    } else {
        *reinterpret_cast<T*>(p) = v;
    }
}

// Calls f(T{}) with T the storage type of `dtype`.
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
    switch (dtype) {
        case Bool: return f(bool{});
        case U8: return f(uint8_t{});
        case I8: return f(int8_t{});
        case I16: return f(int16_t{});
        case U16: return f(uint16_t{});
        case I32: return f(int32_t{});
        case U32: return f(uint32_t{});
        case I64: return f(int64_t{});
        case U64: return f(uint64_t{});
        case F16: return f(half_t{});
        case BF16: return f(bf16_t{});
        case F32: return f(float{});
        case F64: return f(double{});
        default: throw value_error("unknown dtype code " + std::to_string(int(dtype)));
    }
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<bool>() { return Bool; }
template <> constexpr DType dtype_of<uint8_t>() { return U8; }
template <> constexpr DType dtype_of<int8_t>() { return I8; }
template <> constexpr DType dtype_of<int16_t>() { return I16; }
template <> constexpr DType dtype_of<uint16_t>() { return U16; }
template <> constexpr DType dtype_of<int32_t>() { return I32; }
template <> constexpr DType dtype_of<uint32_t>() { return U32; }
template <> constexpr DType dtype_of<int64_t>() { return I64; }
template <> constexpr DType dtype_of<uint64_t>() { return U64; }
template <> constexpr DType dtype_of<half_t>() { return F16; }
template <> constexpr DType dtype_of<bf16_t>() { return BF16; }
template <> constexpr DType dtype_of<float>() { return F32; }
template <> constexpr DType dtype_of<double>() { return F64; }

template <class T> constexpr bool is_float_v = std::is_floating_point_v<compute_t<T>>;

// Value conversion with the contract's rules: anything nonzero is true, floats truncate toward
// zero, out-of-range float-to-int conversions give the type's minimum instead of undefined
// behaviour.
template <class D, class S>
inline D convert(S v) {
    if constexpr (std::is_same_v<D, bool>) {
        return v != S(0);
    } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
        if (!(v > -9.2233720368547748e18 && v < 1.8446744073709552e19))
            return std::is_signed_v<D> ? std::numeric_limits<D>::min() : D(0);
        if (v >= 9.2233720368547748e18) return D(uint64_t(v));
        return D(int64_t(v));
    } else {
        return D(v);
    }
}

}  // namespace mgcpu
