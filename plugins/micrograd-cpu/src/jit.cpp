// The call side of the runtime-compiled kernels (micrograd_cpu/jit.py): a C function the system
// compiler built for one expression, run over thread ranges of the plugin's pool. The function
// itself knows the expression; this file only lays out pointers, strides and outputs, and says
// when a call is one the generated code must not take (then Python runs the interpreter).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "binding.hpp"
#include "parallel.hpp"

namespace mgcpu {
namespace {

// Generated signatures (jit.py writes them): elements [begin, end) of the output, operands'
// base pointers (inputs, then outputs), the scalars as doubles; the strided one also takes the
// (coalesced) shape and each operand's byte strides, operand-major.
using FlatFn = void (*)(int64_t, int64_t, char* const*, const double*);
using StridedFn = void (*)(int64_t, int64_t, char* const*, const double*, int64_t, const int64_t*,
                           const int64_t*);

constexpr int64_t GRAIN = 1 << 14;   // elements per thread range at least

}  // namespace

void init_jit(py::module_& m) {
    m.def("jit_run", [](uintptr_t flat, uintptr_t strided, const std::vector<Array>& inputs,
                        std::vector<int> input_dtypes, std::vector<Array> out,
                        const std::vector<int>& output_dtypes, const Shape& shape,
                        const std::vector<double>& scalars) -> py::object {
        if (!flat || !strided) throw value_error("jit_run: null kernel address");
        if (inputs.size() != input_dtypes.size())
            throw value_error("jit_run: " + std::to_string(inputs.size()) + " inputs, " +
                              std::to_string(input_dtypes.size()) + " declared");
        int64_t n = 1;
        for (int64_t s : shape) n *= s;
        for (size_t i = 0; i < inputs.size(); ++i) {
            const Array& x = inputs[i];
            if (int(x.dtype) != input_dtypes[i] || x.shape.size() > shape.size())
                return py::none();
            for (size_t d = 0; d < x.shape.size(); ++d) {   // broadcasts to shape (right-aligned)
                const int64_t t = shape[shape.size() - x.shape.size() + d];
                if (x.shape[d] != t && x.shape[d] != 1) return py::none();
            }
        }
        if (out.empty()) {
            for (int code : output_dtypes) out.push_back(empty(shape, dtype_code(code)));
        } else {
            if (out.size() != output_dtypes.size()) return py::none();
            for (size_t k = 0; k < out.size(); ++k) {
                const Array& o = out[k];
                // an output written by the threads must be one element per position, in a
                // storage of its own among the outputs, and either apart from every input or
                // exactly the view it is (each position is read before it is written)
                if (int(o.dtype) != output_dtypes[k] || o.shape != shape || !o.is_contiguous())
                    return py::none();
                for (size_t j = 0; j < k; ++j)
                    if (out[j].storage == o.storage) return py::none();
                for (const Array& x : inputs)
                    if (overlaps_differently(o, x)) return py::none();
            }
        }
        py::list result;
        for (const Array& o : out) result.append(py::cast(o));
        if (n == 0) return std::move(result);

        const size_t operands = inputs.size() + out.size();
        std::vector<char*> ptrs;
        for (const Array& x : inputs) ptrs.push_back(x.ptr());
        for (const Array& o : out) ptrs.push_back(o.ptr());
        // flat: every operand of more than one element is contiguous and of the full shape
        bool is_flat = true;
        for (const Array& x : inputs)
            if (x.numel() != 1 && !(x.shape == shape && x.is_contiguous())) is_flat = false;
        const double* sc = scalars.data();
        if (is_flat) {
            auto fn = reinterpret_cast<FlatFn>(flat);
            without_gil_if_large(n, [&] {
                parallel_for(n, GRAIN, [&](int64_t b, int64_t e) { fn(b, e, ptrs.data(), sc); });
                return 0;
            });
            return std::move(result);
        }
        // strided: byte strides in the output's dims (0 where broadcast), dims coalesced where
        // every operand steps through them as through one
        const int64_t nd = int64_t(shape.size());
        std::vector<int64_t> st(operands * size_t(nd), 0);
        auto fill = [&](size_t k, const Array& x) {
            const int64_t off = nd - int64_t(x.shape.size());
            for (int64_t d = 0; d < int64_t(x.shape.size()); ++d)
                st[k * nd + off + d] = x.shape[d] == 1 ? 0 : x.strides[d] * int64_t(x.itemsize());
        };
        for (size_t k = 0; k < inputs.size(); ++k) fill(k, inputs[k]);
        for (size_t k = 0; k < out.size(); ++k) fill(inputs.size() + k, out[k]);
        std::vector<int64_t> dims;
        std::vector<std::vector<int64_t>> strides(operands);
        for (int64_t d = 0; d < nd; ++d) {
            if (shape[d] == 1) continue;
            bool merge = !dims.empty();
            for (size_t k = 0; merge && k < operands; ++k)
                merge = strides[k].back() == st[k * nd + d] * shape[d];
            if (merge) {
                dims.back() *= shape[d];
                for (size_t k = 0; k < operands; ++k) strides[k].back() = st[k * nd + d];
            } else {
                dims.push_back(shape[d]);
                for (size_t k = 0; k < operands; ++k) strides[k].push_back(st[k * nd + d]);
            }
        }
        if (dims.size() > 64) return py::none();   // the generated index has 64 dims
        if (dims.empty()) {   // one element
            dims.push_back(1);
            for (auto& s : strides) s.push_back(0);
        }
        std::vector<int64_t> flat_strides;
        for (auto& s : strides) flat_strides.insert(flat_strides.end(), s.begin(), s.end());
        auto fn = reinterpret_cast<StridedFn>(strided);
        const int64_t cd = int64_t(dims.size());
        without_gil_if_large(n, [&] {
            parallel_for(n, GRAIN, [&](int64_t b, int64_t e) {
                fn(b, e, ptrs.data(), sc, cd, dims.data(), flat_strides.data());
            });
            return 0;
        });
        return std::move(result);
    }, py::arg("flat"), py::arg("strided"), py::arg("inputs"), py::arg("input_dtypes"),
       py::arg("out"), py::arg("output_dtypes"), py::arg("shape"), py::arg("scalars"),
       "Run a runtime-compiled kernel (micrograd_cpu.jit): the outputs (written into `out` when "
       "it is not empty), or None for a call the generated code must not take (an input of "
       "another dtype or shape, an output overlapping an input it is not, a strided output).");
}

}  // namespace mgcpu
