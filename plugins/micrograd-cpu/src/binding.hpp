// What the binding files share: the init_<family> functions module.cpp calls, and the argument
// conversions and GIL policy every binding uses. Each family file binds its own kernels.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "array.hpp"

namespace mgcpu {

namespace py = pybind11;

// One per family, each defined at the end of the file of that name.
void init_array(py::module_& m);         // array_interop.cpp: the Array type, host transfers
void init_memory(py::module_& m);        // array.cpp: the caching allocator
void init_copy(py::module_& m);          // copy.cpp: casts, copies, fills, arange
void init_elementwise(py::module_& m);   // elementwise.cpp: unary, binary, where
void init_reduce(py::module_& m);        // reduce.cpp
void init_linalg(py::module_& m);        // linalg.cpp: matmul
void init_movement(py::module_& m);      // movement.cpp: views, cat, indexing
void init_nn(py::module_& m);            // nn.cpp: activations, softmax, losses, batch norm
void init_conv(py::module_& m);          // conv.cpp
void init_pool(py::module_& m);          // pool.cpp
void init_optim(py::module_& m);         // optim.cpp: fused optimizer steps
void init_fusion(py::module_& m);        // fusion.cpp: compile_elementwise's tiled kernels
void init_runtime(py::module_& m);       // parallel.cpp: threads, instruction set
void init_jit(py::module_& m);           // jit.cpp: runs the runtime-compiled kernels
void init_attention(py::module_& m);     // attention.cpp: fused scaled-dot-product attention
void init_recurrence(py::module_& m);    // recurrence.cpp: whole LSTM sequences

// Elements above which a kernel drops the GIL (below it, the release costs more than it buys).
constexpr int64_t RELEASE_GIL = 1 << 15;

// f() with the GIL released when the work is large enough to pay for it.
template <class F>
auto without_gil_if_large(int64_t n, F f) {
    if (n >= RELEASE_GIL) {
        py::gil_scoped_release release;
        return f();
    }
    return f();
}

inline DType dtype_code(int code) {
    if (code < 0 || code >= NDTYPES)
        throw value_error("unknown dtype code " + std::to_string(code));
    return DType(code);
}

// A shape from any iterable of ints; an int beyond int64 is Python's OverflowError, a non-int
// a TypeError (checked_numel then checks the dims and their product).
inline Shape to_shape(const py::handle& seq) {
    Shape s;
    for (auto item : seq) {
        const long long v = PyLong_AsLongLong(item.ptr());
        if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
        s.push_back(v);
    }
    return s;
}

inline py::tuple to_tuple(const Shape& s) {
    py::tuple t(s.size());
    for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
    return t;
}

// An int or an (h, w) pair of ints.
inline std::array<int64_t, 2> to_pair(const py::handle& h) {
    if (py::isinstance<py::int_>(h)) {
        int64_t v = h.cast<int64_t>();
        return {v, v};
    }
    auto v = h.cast<std::vector<int64_t>>();
    if (v.size() != 2) throw value_error("expected an (h, w) pair, got " + py::repr(h).cast<std::string>());
    return {v[0], v[1]};
}

// An op family's names -> codes, probed with the caller's (interned) str object: a call costs
// one hash probe. Built from a name array of ops.hpp, so code i is the op at position i.
struct OpTable {
    py::dict codes;
    const char* what;
    int operator()(const py::handle& name) const {
        PyObject* code = PyDict_GetItemWithError(codes.ptr(), name.ptr());
        if (!code) {
            if (PyErr_Occurred()) throw py::error_already_set();
            throw value_error(std::string("unknown ") + what + " op " +
                              py::repr(name).cast<std::string>() + "; known: " +
                              py::str(py::list(codes.attr("keys")())).cast<std::string>());
        }
        return int(PyLong_AsLong(code));
    }
};

// The table for names[0..count) (leaked on purpose: Python objects must not be destroyed after
// the interpreter), exporting the names in code order as m.<exported> (a tuple).
template <size_t N>
const OpTable* op_table(py::module_& m, const char* what, const char* const (&names)[N],
                        const char* exported) {
    auto* table = new OpTable{py::dict(), what};
    py::tuple in_order(N);
    for (size_t code = 0; code < N; ++code) {
        table->codes[py::str(names[code])] = py::int_(code);
        in_order[code] = py::str(names[code]);
    }
    m.attr(exported) = in_order;
    return table;
}

}  // namespace mgcpu
