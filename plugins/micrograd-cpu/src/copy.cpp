// Casts, copies and fills: astype, copy_ (with a tiled transpose), contiguous, full, arange.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

using Ptrs2 = std::array<char*, 2>;
using Steps2 = std::array<int64_t, 2>;
using UnaryLoop = void (*)(const Ptrs2&, const Steps2&, int64_t);

template <class S, class D>
void cast_loop(const Ptrs2& p, const Steps2& s, int64_t n) {
    char* o = p[0];
    const char* a = p[1];
    for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1])
        store<D>(o, convert<compute_t<D>>(load<S>(a)));
}

template <int SIZE>
void copy_loop(const Ptrs2& p, const Steps2& s, int64_t n) {
    char* o = p[0];
    const char* a = p[1];
    if (s[0] == SIZE && s[1] == SIZE) {
        std::memcpy(o, a, size_t(n) * SIZE);
        return;
    }
    if (s[0] == SIZE && s[1] == -SIZE) {
        // a flipped row (flip's view made contiguous): with the steps known the compiler
        // vectorises the reversal with lane permutes, where the copy with runtime steps below
        // went element by element (4.7x torch's flip)
        for (int64_t i = 0; i < n; ++i) std::memcpy(o + i * SIZE, a - i * SIZE, SIZE);
        return;
    }
    for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1]) std::memcpy(o, a, SIZE);
}

// dst[r, c] = src[r, c] for an (R, C) block whose destination rows and source columns are
// dense: a transpose. It goes block by block, each block one cache line square (16 x 16
// floats): read a line from each of the block's source columns into a local tile whose sizes
// the compiler knows, which it turns into vector loads, lane shuffles and stores, and write the
// tile's rows out; the edges element by element. Larger tiles walked element by element lost
// to L1 set conflicts when the column step is a power of two (a 512 x 512 float transpose with
// 32 x 32 tiles: 260 us, 1.6x PyTorch; these blocks: 70 us).
template <int SIZE>
void transpose_tiles(char* dst, int64_t dst_row, const char* src, int64_t src_col, int64_t cols,
                     int64_t r0, int64_t r1) {
    using E = uint_of_size<SIZE>;
    constexpr int B = 64 / SIZE;
    auto one = [&](int64_t r, int64_t c) {
        std::memcpy(dst + r * dst_row + c * SIZE, src + c * src_col + r * SIZE, SIZE);
    };
    int64_t r = r0;
    for (; r + B <= r1; r += B) {
        int64_t c = 0;
        for (; c + B <= cols; c += B) {
            E tile[B][B];   // tile[i]: source column c + i, rows r .. r + B
            for (int i = 0; i < B; ++i)
                std::memcpy(tile[i], src + (c + i) * src_col + r * SIZE, B * SIZE);
            for (int j = 0; j < B; ++j) {
                E row[B];
                for (int i = 0; i < B; ++i) row[i] = tile[i][j];
                std::memcpy(dst + (r + j) * dst_row + c * SIZE, row, B * SIZE);
            }
        }
        for (; c < cols; ++c)
            for (int64_t j = r; j < r + B; ++j) one(j, c);
    }
    for (; r < r1; ++r)
        for (int64_t c = 0; c < cols; ++c) one(r, c);
}

// A copy whose innermost two (coalesced) dims are transposed between source and destination
// goes through transpose_tiles; false when the layout is anything else.
bool copy_transposed(const Walk<2>& walk, int itemsize) {
    const int nd = int(walk.shape.size());
    if (nd < 2) return false;
    const auto &ds = walk.strides[0], &ss = walk.strides[1];
    const int64_t rows = walk.shape[nd - 2], cols = walk.shape[nd - 1];
    if (ds[nd - 1] != itemsize || ds[nd - 2] != cols * itemsize || ss[nd - 2] != itemsize ||
        ss[nd - 1] == itemsize || rows < 8 || cols < 8)
        return false;
    int64_t outer = 1;
    for (int d = 0; d < nd - 2; ++d) outer *= walk.shape[d];
    // work items: (outer index, band of 64 rows: whole blocks at every element size)
    constexpr int64_t BAND = 64;
    const int64_t bands = (rows + BAND - 1) / BAND;
    parallel_for(outer * bands, std::max<int64_t>(1, 16384 / (BAND * cols)), [&](int64_t b, int64_t e) {
        for (int64_t item = b; item < e; ++item) {
            int64_t o = item / bands, band = item % bands;
            char* dst = walk.base[0];
            const char* src = walk.base[1];
            for (int d = nd - 3; d >= 0; --d) {
                const int64_t at = o % walk.shape[d];
                o /= walk.shape[d];
                dst += at * ds[d];
                src += at * ss[d];
            }
            const int64_t r0 = band * BAND, r1 = std::min(rows, r0 + BAND);
            switch (itemsize) {
                case 1: transpose_tiles<1>(dst, ds[nd - 2], src, ss[nd - 1], cols, r0, r1); break;
                case 2: transpose_tiles<2>(dst, ds[nd - 2], src, ss[nd - 1], cols, r0, r1); break;
                case 4: transpose_tiles<4>(dst, ds[nd - 2], src, ss[nd - 1], cols, r0, r1); break;
                default: transpose_tiles<8>(dst, ds[nd - 2], src, ss[nd - 1], cols, r0, r1); break;
            }
        }
    });
    return true;
}

UnaryLoop copy_loop_for(int itemsize) {
    switch (itemsize) {
        case 1: return &copy_loop<1>;
        case 2: return &copy_loop<2>;
        case 4: return &copy_loop<4>;
        default: return &copy_loop<8>;
    }
}

}  // namespace

Array astype(const Array& x, DType dtype) {
    Array out = empty(x.shape, dtype);
    if (x.dtype == dtype) {
        copy_into(out, x);
        return out;
    }
    UnaryLoop loop = visit_dtype(x.dtype, [&](auto s) {
        return visit_dtype(dtype, [&](auto d) -> UnaryLoop {
            return &cast_loop<decltype(s), decltype(d)>;
        });
    });
    Walk<2> walk(x.shape, {out.byte_strides(), x.byte_strides()}, {out.ptr(), x.ptr()});
    walk.run(loop, ELEMENTWISE_GRAIN);
    return out;
}

void copy_into(const Array& dst, const Array& src) {
    if (dst.dtype != src.dtype)
        throw type_error(std::string("copy_: dtypes differ: ") + DTYPE_NAMES[dst.dtype] +
                         " destination, " + DTYPE_NAMES[src.dtype] + " source");
    Array s = src.shape == dst.shape ? src : broadcast_to(src, dst.shape);
    // An overlapping source (x[1:] = x[:-1]) must be read before it is overwritten.
    if (s.storage == dst.storage && !(s.offset == dst.offset && s.strides == dst.strides))
        s = contiguous(astype(s, s.dtype));
    Walk<2> walk(dst.shape, {dst.byte_strides(), s.byte_strides()}, {dst.ptr(), s.ptr()});
    if (copy_transposed(walk, dst.itemsize())) return;
    walk.run(copy_loop_for(dst.itemsize()), ELEMENTWISE_GRAIN * 4);
}

Array contiguous(const Array& x) {
    if (x.is_contiguous()) return x;
    Array out = empty(x.shape, x.dtype);
    copy_into(out, x);
    return out;
}

namespace {

template <class T>
Array fill(const Shape& shape, compute_t<T> value, DType dtype) {
    Array out = empty(shape, dtype);
    char* p = out.ptr();
    int64_t n = out.numel();
    if constexpr (std::is_same_v<T, half_t> || std::is_same_v<T, bf16_t>) {
        char word[2];
        store<T>(word, value);
        uint16_t bits;
        std::memcpy(&bits, word, 2);
        std::fill_n(reinterpret_cast<uint16_t*>(p), n, bits);
    } else {
        std::fill_n(reinterpret_cast<T*>(p), n, T(value));
    }
    return out;
}
}  // namespace

Array full_int(const Shape& shape, int64_t value, bool is_unsigned, DType dtype) {
    return visit_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        using C = compute_t<T>;
        C v = is_unsigned ? convert<C>(uint64_t(value)) : convert<C>(value);
        return fill<T>(shape, v, dtype);
    });
}

Array full_float(const Shape& shape, double value, DType dtype) {
    return visit_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        return fill<T>(shape, convert<compute_t<T>>(value), dtype);
    });
}

Array arange(double start, double stop, double step, DType dtype) {
    if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) +
                          " must be finite with a nonzero step");
    // The count in double first: converting one beyond int64 to an integer is undefined.
    const double count = std::max(0.0, std::ceil((stop - start) / step));
    if (!(count < 9.2233720368547758e18))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) + " gives " +
                          std::to_string(count) + " elements, more than int64 can count");
    const int64_t n = int64_t(count);
    if (!is_float(dtype) && n > 0 &&
        !(std::fabs(start) < 9.2e18 && std::fabs(step) < 9.2e18 && std::fabs(stop) < 9.2e18))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) +
                          " are outside int64 for an integer arange");
    Array out = empty({n}, dtype);
    visit_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        char* o = out.ptr();
        if constexpr (is_float_v<T>) {
            for (int64_t i = 0; i < n; ++i, o += sizeof(T))
                store<T>(o, compute_t<T>(start + double(i) * step));
        } else {   // start and step are within int64 (checked above); the sum wraps, no UB
            const uint64_t first = uint64_t(int64_t(start)), by = uint64_t(int64_t(step));
            for (int64_t i = 0; i < n; ++i, o += sizeof(T))
                store<T>(o, convert<T>(int64_t(first + uint64_t(i) * by)));
        }
    });
    return out;
}

// --------------------------------------------------------------------------- bindings

void init_copy(py::module_& m) {
    m.def("astype", [](const Array& x, int code) {
        return without_gil_if_large(x.numel(), [&] { return astype(x, dtype_code(code)); });
    }, py::arg("x"), py::arg("dtype_code"), "A copy of x converted to the dtype with this code.");
    m.def("clone", [](const Array& x) {
        return without_gil_if_large(x.numel(), [&] { return astype(x, x.dtype); });
    }, py::arg("x"), "A new contiguous array of x's values (x any view), sharing no memory with x.");
    m.def("copy_", [](const Array& dst, const Array& src) {
        without_gil_if_large(dst.numel(), [&] { copy_into(dst, src); });
    }, py::arg("dst"), py::arg("src"), "dst[...] = src (same dtype, src broadcast to dst).");
    m.def("contiguous", [](py::object self) -> py::object {
        const Array& x = self.cast<const Array&>();
        if (x.is_contiguous()) return self;
        return py::cast(without_gil_if_large(x.numel(), [&] { return contiguous(x); }));
    }, py::arg("x"), "x itself when C-contiguous, else a C-contiguous copy.");
    m.def("full", [](py::object shape, py::object value, int code) {
        DType d = dtype_code(code);
        Shape s = to_shape(shape);
        if (py::isinstance<py::bool_>(value)) return full_int(s, value.cast<bool>(), false, d);
        if (py::isinstance<py::int_>(value)) {
            int overflow = 0;
            const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
            if (!overflow) return full_int(s, v, false, d);
            const unsigned long long u = overflow > 0 ? PyLong_AsUnsignedLongLong(value.ptr()) : 0;
            if (overflow > 0 && !PyErr_Occurred()) return full_int(s, int64_t(u), true, d);
            PyErr_Clear();
            throw value_error("full: the fill value " + py::repr(value).cast<std::string>() +
                              " does not fit in 64 bits");
        }
        return full_float(s, value.cast<double>(), d);
    }, py::arg("shape"), py::arg("value"), py::arg("dtype_code"),
       "A new array of `shape` filled with value (a bool, an int up to 64 bits, or a float).");
    m.def("arange", [](double start, double stop, double step, int code) {
        return arange(start, stop, step, dtype_code(code));
    }, py::arg("start"), py::arg("stop"), py::arg("step"), py::arg("dtype_code"),
       "start, start + step, ... up to (not including) stop.");
}

}  // namespace mgcpu
