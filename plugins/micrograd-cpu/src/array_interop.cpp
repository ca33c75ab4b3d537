// The Array type as Python sees it (buffer protocol, __array_interface__, DLPack, a fast shape
// getter) and the transfers between numpy and Arrays.
#include <pybind11/numpy.h>

#include <cstring>

#include "binding.hpp"
#include "kernels.hpp"

namespace mgcpu {

using namespace pybind11::literals;

namespace {

const char* const NUMPY_CODES[NDTYPES] = {"?", "u1", "i1", "i2", "u2", "i4", "u4", "i8", "u8",
                                          "f2", "u2", "f4", "f8"};
const char* const BUFFER_FORMATS[NDTYPES] = {"?", "B", "b", "h", "H", "i", "I", "q", "Q",
                                             "e", "H", "f", "d"};

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

void init_array(py::module_& m) {
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

    // asarray (not ascontiguousarray, which turns 0-d into 1-d)
    static py::object& asarray = *new py::object(py::module_::import("numpy").attr("asarray"));
    static py::object& host_types = *new py::object(py::make_tuple(
        py::module_::import("numpy").attr("ndarray"), py::module_::import("numpy").attr("generic")));
    m.def("from_host", [](py::object array, int code) {
        DType d = dtype_code(code);
        py::handle obj = array;
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
    }, py::arg("array"), py::arg("dtype_code"),
       "Copy a numpy array (any layout) into a new Array of the dtype with this code.");
    m.def("to_host", [](py::object x_object) {
        const Array& x = x_object.cast<const Array&>();
        if (x.dtype != BF16) return to_numpy(x, x_object);
        py::object f32 = py::cast(astype(x, F32));
        return to_numpy(f32.cast<const Array&>(), f32);
    }, py::arg("x"), "The values as numpy, sharing memory (bfloat16 comes back as a float32 copy).");
}

}  // namespace mgcpu
