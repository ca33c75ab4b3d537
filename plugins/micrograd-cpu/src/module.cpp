// The binding module micrograd_cpu._core: the Array type (buffer protocol, __array_interface__,
// DLPack) and every kernel as a plain function. Op names are looked up in dicts of interned
// strings so a call costs one hash probe; large work releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cctype>
#include <cstdlib>

#include "kernels.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using namespace mgcpu;

namespace {

// Elements above which a kernel drops the GIL (below it, the release costs more than it buys).
constexpr int64_t RELEASE_GIL = 1 << 15;

const char* const NUMPY_CODES[NDTYPES] = {"?", "u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8",
                                          "f2", "u2", "f4", "f8"};
const char* const BUFFER_FORMATS[NDTYPES] = {"?", "B", "b", "h", "H", "i", "I", "q", "Q",
                                             "e", "H", "f", "d"};

DType dtype_code(int code) {
    if (code < 0 || code >= NDTYPES)
        throw value_error("unknown dtype code " + std::to_string(code));
    return DType(code);
}

// A shape from any iterable of ints; an int beyond int64 is Python's OverflowError, a non-int
// a TypeError (checked_numel then checks the dims and their product).
Shape to_shape(const py::handle& seq) {
    Shape s;
    for (auto item : seq) {
        const long long v = PyLong_AsLongLong(item.ptr());
        if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
        s.push_back(v);
    }
    return s;
}

// The caching allocator's bound from MICROGRAD_CPU_CACHE_LIMIT: bytes, or with a K, M or G
// suffix (powers of 1024); 0 turns caching off.
void apply_cache_limit_from_env() {
    const char* env = std::getenv("MICROGRAD_CPU_CACHE_LIMIT");
    if (!env || !*env) return;
    const std::string text(env);
    size_t used = 0;
    unsigned long long value = 0;
    try {
        value = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    std::string unit = text.substr(used);
    for (auto& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
    if (used == 0 || text[0] == '-' || shift < 0 || (value >> (63 - shift)) != 0)
        throw value_error("MICROGRAD_CPU_CACHE_LIMIT=" + text + " is not a size: give bytes, "
                          "optionally with a K, M or G suffix (e.g. 512M); 0 disables the cache");
    set_cache_limit(size_t(value) << shift);
}

py::tuple to_tuple(const Shape& s) {
    py::tuple t(s.size());
    for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
    return t;
}

// name -> op code, probed with the caller's (interned) str object
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

OpTable make_table(const char* what, const std::vector<std::string>& names, int (*code)(const std::string&)) {
    OpTable t{py::dict(), what};
    for (auto& n : names) t.codes[py::str(n)] = code(n);
    return t;
}

template <class F>
auto run(int64_t n, F f) {
    if (n >= RELEASE_GIL) {
        py::gil_scoped_release release;
        return f();
    }
    return f();
}

std::vector<std::array<int64_t, 3>> to_key(const Array& x, const py::tuple& key) {
    std::vector<std::array<int64_t, 3>> out;
    size_t d = 0;
    for (auto item : key) {
        if (!py::isinstance<py::slice>(item))
            throw type_error("slice key entries must be slice objects, got " +
                             py::repr(item).cast<std::string>());
        auto get = [&](const char* attr, int64_t dflt) {
            py::object v = item.attr(attr);
            return v.is_none() ? dflt : v.cast<int64_t>();
        };
        int64_t size = d < x.shape.size() ? x.shape[d] : 0;
        out.push_back({get("start", 0), get("stop", size), get("step", 1)});
        ++d;
    }
    return out;
}

std::array<int64_t, 2> pair(const py::handle& h) {
    if (py::isinstance<py::int_>(h)) {
        int64_t v = h.cast<int64_t>();
        return {v, v};
    }
    auto v = h.cast<std::vector<int64_t>>();
    if (v.size() != 2) throw value_error("expected an (h, w) pair, got " + py::repr(h).cast<std::string>());
    return {v[0], v[1]};
}

py::array to_numpy(const Array& x, py::handle owner) {
    return py::array(py::dtype(NUMPY_CODES[x.dtype]), x.shape, x.byte_strides(), x.ptr(), owner);
}

// The Array inside a Python object of our type, without pybind11's generic caster.
const Array& unwrap(PyObject* self) {
    return *reinterpret_cast<py::detail::instance*>(self)->get_value_and_holder().value_ptr<Array>();
}

// Array.shape as a plain CPython getter: the core reads it on every op, and pybind11's
// generic property dispatch cost 240 ns a read against numpy's 70.
PyObject* array_shape(PyObject* self, void*) {
    try {
        const Array& x = unwrap(self);   // CPython calls a getset only on our instances
        PyObject* t = PyTuple_New(Py_ssize_t(x.shape.size()));
        if (!t) return nullptr;
        for (size_t i = 0; i < x.shape.size(); ++i) {
            PyObject* v = PyLong_FromLongLong(x.shape[i]);
            if (!v) { Py_DECREF(t); return nullptr; }
            PyTuple_SET_ITEM(t, Py_ssize_t(i), v);
        }
        return t;
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_TypeError, e.what());
        return nullptr;
    }
}

PyGetSetDef SHAPE_GETSET = {"shape", &array_shape, nullptr, "The shape, a tuple of ints.", nullptr};

void add_shape_getter(py::class_<Array>& cls) {
    auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
    py::object descr = py::reinterpret_steal<py::object>(PyDescr_NewGetSet(type, &SHAPE_GETSET));
    if (!descr) throw py::error_already_set();
    if (PyDict_SetItemString(type->tp_dict, "shape", descr.ptr()) < 0) throw py::error_already_set();
    PyType_Modified(type);
}

// ------------------------------------------------------------------------------- DLPack

struct DLDevice { int32_t device_type, device_id; };
struct DLDataType { uint8_t code, bits; uint16_t lanes; };
struct DLTensor {
    void* data; DLDevice device; int32_t ndim; DLDataType dtype;
    int64_t *shape, *strides; uint64_t byte_offset;
};
struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor*);
};

struct DLHolder {
    Array array;
    Shape shape, strides;
    DLManagedTensor managed;
};

DLDataType dl_dtype(DType d) {
    const uint8_t bits = uint8_t(DTYPE_SIZES[d] * 8);
    switch (d) {
        case Bool: return {6, 8, 1};
        case U8: case U16: case U32: case U64: return {1, bits, 1};
        case I8: case I16: case I32: case I64: return {0, bits, 1};
        case BF16: return {4, 16, 1};
        default: return {2, bits, 1};
    }
}

py::capsule to_dlpack(const Array& x) {
    auto* h = new DLHolder{x, x.shape, x.strides, {}};
    h->managed.dl_tensor = {x.ptr(), {1, 0}, int32_t(x.ndim()), dl_dtype(x.dtype),
                            h->shape.data(), h->strides.data(), 0};
    h->managed.manager_ctx = h;
    h->managed.deleter = [](DLManagedTensor* t) { delete static_cast<DLHolder*>(t->manager_ctx); };
    PyObject* cap = PyCapsule_New(&h->managed, "dltensor", [](PyObject* c) {
        // a consumer renames the capsule to "used_dltensor" and owns the tensor from then on
        if (PyCapsule_IsValid(c, "dltensor")) {
            auto* t = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
            t->deleter(t);
        }
    });
    if (!cap) {
        delete h;
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::capsule>(cap);
}

}  // namespace

namespace mgcpu { void init_fusion(py::module_& m); }   // fusion.cpp

PYBIND11_MODULE(_core, m) {
    m.doc() = "micrograd-cpu kernels: a strided array type and the backend primitives";

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const type_error& e) {
            PyErr_SetString(PyExc_TypeError, e.what());
        } catch (const value_error& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const index_error& e) {
            PyErr_SetString(PyExc_IndexError, e.what());
        } catch (const memory_error& e) {
            PyErr_SetString(PyExc_MemoryError, e.what());
        } catch (const py::cast_error& e) {   // an argument of the wrong type: not a RuntimeError
            PyErr_SetString(PyExc_TypeError, e.what());
        }
    });
    apply_cache_limit_from_env();

    py::class_<Array> array_class(m, "Array", py::buffer_protocol(),
                      "A strided view of 64-byte-aligned storage; zero-copy to numpy and DLPack.");
    array_class
        .def_property_readonly("strides", [](const Array& x) { return to_tuple(x.byte_strides()); })
        .def_property_readonly("dtype", [](const Array& x) { return DTYPE_NAMES[x.dtype]; })
        .def_property_readonly("ndim", &Array::ndim)
        .def_property_readonly("size", &Array::numel)
        .def_property_readonly("is_contiguous", &Array::is_contiguous)
        .def_property_readonly("data_ptr", [](const Array& x) { return reinterpret_cast<uintptr_t>(x.ptr()); })
        .def_property_readonly("__array_interface__", [](const Array& x) {
            py::dict d;
            d["shape"] = to_tuple(x.shape);
            d["typestr"] = std::string(x.dtype == Bool ? "|b1" : "<") +
                           (x.dtype == Bool ? "" : NUMPY_CODES[x.dtype]);
            d["data"] = py::make_tuple(reinterpret_cast<uintptr_t>(x.ptr()), false);
            d["strides"] = to_tuple(x.byte_strides());
            d["version"] = 3;
            return d;
        })
        .def_buffer([](const Array& x) {
            return py::buffer_info(x.ptr(), x.itemsize(), BUFFER_FORMATS[x.dtype], x.ndim(),
                                   x.shape, x.byte_strides());
        })
        .def("__dlpack__", [](const Array& x, py::args, py::kwargs kw) {
            if (kw.contains("stream") && !kw["stream"].is_none())
                throw value_error("the cpu backend has no streams; pass stream=None");
            return to_dlpack(x);
        })
        .def("__dlpack_device__", [](const Array&) { return py::make_tuple(1, 0); })
        .def("__len__", [](const Array& x) {
            if (x.ndim() == 0) throw type_error("len() of a 0-d array");
            return x.shape[0];
        })
        .def("__repr__", [](const Array& x) {
            return "micrograd_cpu.Array(shape=" + shape_str(x.shape) + ", dtype=" +
                   DTYPE_NAMES[x.dtype] + ")";
        });
    add_shape_getter(array_class);

    // Leaked on purpose: Python objects must not be destroyed after the interpreter.
    static OpTable& unary_ops = *new OpTable(make_table("unary", {"neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf", "floor", "ceil", "round", "trunc", "logical_not", "bitwise_not", "isnan"}, &unary_op_code));
    static OpTable& binary_ops = *new OpTable(make_table("binary", {"add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum", "minimum", "atan2", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"}, &binary_op_code));
    static OpTable& reduce_ops = *new OpTable(make_table("reduce", {"sum", "prod", "max", "min"}, &reduce_op_code));

    // ------------------------------------------------------------------ memory
    // asarray (not ascontiguousarray, which turns 0-d into 1-d)
    static py::object& asarray = *new py::object(py::module_::import("numpy").attr("asarray"));
    static py::object& host_types = *new py::object(py::make_tuple(
        py::module_::import("numpy").attr("ndarray"), py::module_::import("numpy").attr("generic")));
    m.def("from_host", [](py::object obj, int code) {
        DType d = dtype_code(code);
        if (!PyObject_IsInstance(obj.ptr(), host_types.ptr()))   // (None became a 0-d nan)
            throw type_error("from_host needs a numpy array, got " +
                             std::string(Py_TYPE(obj.ptr())->tp_name));
        const char* host = d == BF16 ? "f4" : NUMPY_CODES[d];
        py::array a = asarray(obj, py::dtype(host), "order"_a = "C");
        Shape shape(a.shape(), a.shape() + a.ndim());
        Array out = empty(shape, d);
        if (d == BF16) {
            const float* src = static_cast<const float*>(a.data());
            uint16_t* dst = reinterpret_cast<uint16_t*>(out.ptr());
            for (int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = float_to_bf16(src[i]);
        } else if (d == Bool) {
            // numpy keeps whatever bytes a bool array holds (a uint8 view, a crafted file):
            // store every nonzero byte as 1, so the array holds only the two bool values
            const uint8_t* src = static_cast<const uint8_t*>(a.data());
            uint8_t* dst = reinterpret_cast<uint8_t*>(out.ptr());
            for (int64_t i = 0, n = out.numel(); i < n; ++i) dst[i] = src[i] != 0;
        } else {
            std::memcpy(out.ptr(), a.data(), size_t(out.numel()) * out.itemsize());
        }
        return out;
    }, "Copy a numpy array (any layout) into a new Array of dtype code `code`.");
    m.def("to_host", [](py::object self) {
        const Array& x = self.cast<const Array&>();
        if (x.dtype != BF16) return to_numpy(x, self);
        py::object f32 = py::cast(astype(x, F32));
        return to_numpy(f32.cast<const Array&>(), f32);
    }, "The values as numpy, sharing memory (bfloat16 comes back as a float32 copy).");
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
    });
    m.def("astype", [](const Array& x, int code) {
        return run(x.numel(), [&] { return astype(x, dtype_code(code)); });
    });
    m.def("copy_", [](const Array& dst, const Array& src) {
        run(dst.numel(), [&] { copy_into(dst, src); });
    });
    m.def("contiguous", [](py::object self) -> py::object {
        const Array& x = self.cast<const Array&>();
        if (x.is_contiguous()) return self;
        return py::cast(run(x.numel(), [&] { return contiguous(x); }));
    });

    // ------------------------------------------------------------- elementwise
    m.def("unary", [](py::handle op, const Array& x) {
        int code = unary_ops(op);
        return run(x.numel(), [&] { return unary(code, x); });
    });
    m.def("binary", [](py::handle op, const Array& a, const Array& b) {
        int code = binary_ops(op);
        return run(std::max(a.numel(), b.numel()), [&] { return binary(code, a, b); });
    });
    m.def("binary_", [](py::handle op, const Array& out, const Array& a, const Array& b) {
        int code = binary_ops(op);
        run(out.numel(), [&] { binary_into(code, out, a, b); });
    });
    m.def("where", [](const Array& c, const Array& a, const Array& b) {
        return run(std::max(c.numel(), a.numel()), [&] { return where(c, a, b); });
    });

    // -------------------------------------------------------------- reductions
    m.def("reduce", [](py::handle op, const Array& x, std::vector<int> axes, bool keepdim) {
        int code = reduce_ops(op);
        return run(x.numel(), [&] { return reduce(code, x, axes, keepdim); });
    });
    m.def("argreduce", [](const std::string& op, const Array& x, int axis, bool keepdim) {
        if (op != "argmax" && op != "argmin")
            throw value_error("argreduce op must be 'argmax' or 'argmin', got '" + op + "'");
        return run(x.numel(), [&] { return argreduce(op == "argmax", x, axis, keepdim); });
    });
    m.def("cumsum", [](const Array& x, int axis) {
        return run(x.numel(), [&] { return cumsum(x, axis); });
    });

    // ---------------------------------------------------------- linear algebra
    m.def("matmul", [](const Array& a, const Array& b) {
        py::gil_scoped_release release;
        return matmul(a, b);
    });

    // ---------------------------------------------------------------- movement
    m.def("reshape", [](const Array& x, py::object shape) { return reshape(x, to_shape(shape)); });
    m.def("permute", [](const Array& x, std::vector<int> axes) { return permute(x, axes); });
    m.def("expand", [](const Array& x, py::object shape) { return broadcast_to(x, to_shape(shape)); });
    m.def("slice", [](const Array& x, py::tuple key) { return slice(x, to_key(x, key)); });
    m.def("flip", [](const Array& x, std::vector<int> axes) { return flip(x, axes); });
    m.def("cat", [](std::vector<Array> xs, int axis) { return cat(xs, axis); });

    // ---------------------------------------------------------------- indexing
    m.def("take", [](const Array& x, const Array& indices, int axis) { return take(x, indices, axis); });
    m.def("gather", [](const Array& x, int axis, const Array& index) { return gather(x, axis, index); });
    m.def("scatter", [](const Array& x, int axis, const Array& index, const Array& src, bool acc) {
        return scatter(x, axis, index, src, acc);
    });
    m.def("setitem_", [](const Array& x, py::tuple key, const Array& value) {
        copy_into(slice(x, to_key(x, key)), value);
    });
    m.def("nonzero", &nonzero);

    // ------------------------------------------------------- optional fast ops
    static OpTable& activations = *new OpTable(make_table("activation", {"relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus"}, &activation_code));
    m.def("activation", [](py::handle op, const Array& x, double beta, double threshold) {
        int code = activations(op);
        return run(x.numel(), [&] { return activation(code, x, beta, threshold); });
    }, py::arg("op"), py::arg("x"), py::arg("beta") = 1.0, py::arg("threshold") = 20.0);
    m.def("softmax", [](const Array& x, int axis, bool log) {
        return run(x.numel(), [&] { return softmax(x, axis, log); });
    });
    m.def("cross_entropy", [](const Array& logits, const Array& target, int64_t ignore_index) {
        return run(logits.numel(), [&] { return cross_entropy(logits, target, ignore_index); });
    });
    m.def("batch_norm", [](const Array& x, std::optional<Array> w, std::optional<Array> b,
                           std::optional<Array> rm, std::optional<Array> rv, bool training,
                           double momentum, double eps) {
        auto r = run(x.numel(), [&] {
            return batch_norm(x, w ? &*w : nullptr, b ? &*b : nullptr, rm ? &*rm : nullptr,
                              rv ? &*rv : nullptr, training, momentum, eps);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    });
    m.def("batch_norm_backward", [](const Array& gy, const Array& x, std::optional<Array> w,
                                    const Array& mean, const Array& invstd, bool training) {
        auto r = run(x.numel(), [&] {
            return batch_norm_backward(gy, x, w ? &*w : nullptr, mean, invstd, training);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    });
    m.def("conv2d", [](const Array& x, const Array& w, py::handle s, py::handle p, py::handle d, int64_t groups) {
        auto st = pair(s), pa = pair(p), di = pair(d);
        py::gil_scoped_release release;
        return conv2d(x, w, st, pa, di, groups);
    });
    m.def("conv2d_backward", [](const Array& gy, const Array& x, const Array& w, py::handle s, py::handle p, py::handle d, int64_t groups) {
        auto st = pair(s), pa = pair(p), di = pair(d);
        py::gil_scoped_release release;
        return conv2d_backward(gy, x, w, st, pa, di, groups);
    });
    m.def("conv_transpose2d", [](const Array& x, const Array& w, py::handle s, py::handle p, py::handle op, py::handle d, int64_t groups) {
        auto st = pair(s), pa = pair(p), ou = pair(op), di = pair(d);
        py::gil_scoped_release release;
        return conv_transpose2d(x, w, st, pa, ou, di, groups);
    }, py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"),
       py::arg("dilation"), py::arg("groups"),
       "Transposed convolution: the input gradient of conv2d with this geometry (no bias).");
    m.def("conv_transpose2d_backward", [](const Array& gy, const Array& x, const Array& w, py::handle s, py::handle p, py::handle op, py::handle d, int64_t groups) {
        auto st = pair(s), pa = pair(p), ou = pair(op), di = pair(d);
        py::gil_scoped_release release;
        return conv_transpose2d_backward(gy, x, w, st, pa, ou, di, groups);
    }, py::arg("grad_y"), py::arg("x"), py::arg("w"), py::arg("stride"), py::arg("padding"),
       py::arg("output_padding"), py::arg("dilation"), py::arg("groups"),
       "(grad_x, grad_w) of conv_transpose2d: a conv2d of grad_y and a conv2d weight gradient.");
    m.def("max_pool2d", [](const Array& x, py::handle k, py::handle s, py::handle p, py::handle d) {
        auto kk = pair(k), st = pair(s), pa = pair(p), di = pair(d);
        py::gil_scoped_release release;
        return max_pool2d(x, kk, st, pa, di);
    });
    m.def("max_pool2d_backward", [](const Array& gy, const Array& idx, py::object shape) {
        Shape s = to_shape(shape);
        py::gil_scoped_release release;
        return max_pool2d_backward(gy, idx, s);
    });
    m.def("avg_pool2d", [](const Array& x, py::handle k, py::handle s, py::handle p, bool include_pad) {
        auto kk = pair(k), st = pair(s), pa = pair(p);
        py::gil_scoped_release release;
        return avg_pool2d(x, kk, st, pa, include_pad);
    });
    m.def("avg_pool2d_backward", [](const Array& gy, py::object shape, py::handle k, py::handle s, py::handle p, bool include_pad) {
        Shape in = to_shape(shape);
        auto kk = pair(k), st = pair(s), pa = pair(p);
        py::gil_scoped_release release;
        return avg_pool2d_backward(gy, in, kk, st, pa, include_pad);
    });
    m.def("sgd_step_", [](const Array& param, const Array& grad, std::optional<Array> buf,
                          double lr, double momentum, double dampening, bool nesterov,
                          double weight_decay, bool maximize, bool first_step) {
        SgdArgs a{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
        run(param.numel(), [&] { sgd_step(param, grad, buf ? &*buf : nullptr, a); });
    }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::kw_only(),
       py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("nesterov"),
       py::arg("weight_decay"), py::arg("maximize"), py::arg("first_step"));
    m.def("adam_step_", [](const Array& param, const Array& grad, const Array& m1, const Array& m2,
                           std::optional<Array> vmax, int64_t step, double lr, double beta1,
                           double beta2, double eps, double weight_decay, bool decoupled,
                           bool amsgrad, bool maximize) {
        AdamArgs a{step, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize};
        run(param.numel(), [&] { adam_step(param, grad, m1, m2, vmax ? &*vmax : nullptr, a); });
    }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
       py::arg("max_exp_avg_sq"), py::kw_only(), py::arg("step"), py::arg("lr"), py::arg("beta1"),
       py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
       py::arg("decoupled_weight_decay"), py::arg("amsgrad"), py::arg("maximize"));
    m.def("arange", [](double start, double stop, double step, int code) {
        return arange(start, stop, step, dtype_code(code));
    });

    // ------------------------------------------------------------------ runtime
    m.def("num_threads", &num_threads, "Threads used for large work.");
    m.def("set_num_threads", &set_num_threads, "Threads for large work (1: single-threaded).");
    m.def("simd_arch", [] { return simd::kernels().arch; }, "Instruction set picked at run time.");
    m.def("cached_bytes", &cached_bytes, "Bytes held by the caching allocator for reuse.");
    m.def("empty_cache", &empty_cache, "Return cached blocks to the system.");
    m.def("set_cache_limit", &set_cache_limit, "Most bytes the caching allocator keeps.");
    m.def("memory_stats", [] {
        const MemoryStats st = memory_stats();
        py::dict d;
        d["allocated_bytes"] = st.allocated_bytes;            // held by live arrays
        d["peak_allocated_bytes"] = st.peak_allocated_bytes;  // the most ever held at once
        d["cached_bytes"] = st.cached_bytes;                  // freed, kept for reuse
        d["cache_limit"] = st.cache_limit;
        d["alloc_retries"] = st.alloc_retries;                // failures retried after emptying
        return d;
    }, "The caching allocator's counters, in bytes.");

    init_fusion(m);
}
