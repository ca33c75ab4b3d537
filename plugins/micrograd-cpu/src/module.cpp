// The binding module micrograd_cpu._core: each family file binds its own kernels in an
// init_<family> function (binding.hpp lists them); this file translates the kernels' errors
// and calls them. Op names are looked up in dicts of interned strings built from ops.hpp, so a
// call costs one hash probe; large work releases the GIL.
#include "binding.hpp"

using namespace mgcpu;

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

    init_memory(m);   // first: MICROGRAD_CPU_CACHE_LIMIT applies before any array exists
    init_array(m);
    init_copy(m);
    init_elementwise(m);
    init_reduce(m);
    init_linalg(m);
    init_movement(m);
    init_nn(m);
    init_conv(m);
    init_pool(m);
    init_optim(m);
    init_fusion(m);
    init_runtime(m);
    init_jit(m);
    init_attention(m);
    init_recurrence(m);
}
