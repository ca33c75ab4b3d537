// Fused optimizer steps, in place on the parameter and its state: PyTorch's SGD and Adam
// (AdamW with decoupled weight decay). float32 runs the SIMD kernels; the other floating dtypes
// a scalar loop in their compute type (16-bit floats in float32).
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"

namespace mgcpu {

namespace {

// Runs f on dense copies of `arrays` and writes back the ones that were not dense already.
template <class F>
void with_dense(std::vector<const Array*> arrays, F f) {
    std::vector<Array> dense;
    for (const Array* a : arrays) dense.push_back(a ? contiguous(*a) : Array{});
    f(dense);
    for (size_t i = 0; i < arrays.size(); ++i)
        if (arrays[i] && dense[i].storage != arrays[i]->storage) copy_into(*arrays[i], dense[i]);
}

}  // namespace

void sgd_step(const Array& param, const Array& grad, const Array* buf, const SgdArgs& a) {
    require_float(param.dtype, "sgd_step_");
    require_like(param, grad, "sgd_step_", "grad");
    if (buf) require_like(param, *buf, "sgd_step_", "momentum_buffer");
    if (a.momentum != 0 && !buf)
        throw value_error("sgd_step_: momentum " + std::to_string(a.momentum) +
                          " needs a momentum_buffer");
    with_dense({&param, &grad, buf}, [&](std::vector<Array>& d) {
        const int64_t n = param.numel();
        if (param.dtype == F32) {
            float* p = reinterpret_cast<float*>(d[0].ptr());
            const float* g = reinterpret_cast<const float*>(d[1].ptr());
            float* m = buf && a.momentum != 0 ? reinterpret_cast<float*>(d[2].ptr()) : nullptr;
            const simd::SgdConstants c{float(a.lr), float(a.weight_decay), float(a.momentum),
                                       float(a.dampening), a.maximize ? -1.0f : 1.0f,
                                       a.nesterov, a.first_step};
            parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
                simd::kernels().sgd_f32(p + b, g + b, m ? m + b : nullptr, c, e - b);
            });
            return;
        }
        visit_dtype(param.dtype, [&](auto t) {
            using T = decltype(t);
            if constexpr (is_float_v<T>) {
                using C = compute_t<T>;
                char* p = d[0].ptr();
                const char* g = d[1].ptr();
                char* m = buf ? d[2].ptr() : nullptr;
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t at = i * int64_t(sizeof(T));
                    C pv = load<T>(p + at), gv = load<T>(g + at);
                    if (a.maximize) gv = -gv;
                    if (a.weight_decay != 0) gv += C(a.weight_decay) * pv;
                    if (a.momentum != 0) {
                        C mv = a.first_step ? gv
                                            : C(a.momentum) * load<T>(m + at) + C(1 - a.dampening) * gv;
                        store<T>(m + at, mv);
                        mv = load<T>(m + at);   // the stored (rounded) buffer drives the step
                        gv = a.nesterov ? gv + C(a.momentum) * mv : mv;
                    }
                    store<T>(p + at, pv - C(a.lr) * gv);
                }
            }
        });
    });
}

void adam_step(const Array& param, const Array& grad, const Array& m_in, const Array& v_in,
               const Array* vmax_in, const AdamArgs& a) {
    require_float(param.dtype, "adam_step_");
    require_like(param, grad, "adam_step_", "grad");
    require_like(param, m_in, "adam_step_", "exp_avg");
    require_like(param, v_in, "adam_step_", "exp_avg_sq");
    if (a.amsgrad && !vmax_in) throw value_error("adam_step_: amsgrad needs max_exp_avg_sq");
    if (vmax_in) require_like(param, *vmax_in, "adam_step_", "max_exp_avg_sq");
    if (a.step < 1) throw value_error("adam_step_: step counts from 1, got " + std::to_string(a.step));
    const double bc1 = 1 - std::pow(a.beta1, double(a.step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(a.beta2, double(a.step)));
    const double step_size = a.lr / bc1;
    with_dense({&param, &grad, &m_in, &v_in, vmax_in}, [&](std::vector<Array>& d) {
        const int64_t n = param.numel();
        const bool decay_in_grad = a.weight_decay != 0 && !a.decoupled_weight_decay;
        if (param.dtype == F32 && !a.amsgrad && !a.maximize && !decay_in_grad) {
            float* p = reinterpret_cast<float*>(d[0].ptr());
            const float* g = reinterpret_cast<const float*>(d[1].ptr());
            float* m = reinterpret_cast<float*>(d[2].ptr());
            float* v = reinterpret_cast<float*>(d[3].ptr());
            const float shrink = float(1 - a.lr * a.weight_decay);
            parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
                if (a.weight_decay != 0)
                    for (int64_t i = b; i < e; ++i) p[i] *= shrink;
                simd::kernels().adam_f32(p + b, g + b, m + b, v + b, float(a.beta1), float(a.beta2),
                                         float(step_size), float(bc2_sqrt), float(a.eps), e - b);
            });
            return;
        }
        visit_dtype(param.dtype, [&](auto t) {
            using T = decltype(t);
            if constexpr (is_float_v<T>) {
                using C = compute_t<T>;
                char *p = d[0].ptr(), *m = d[2].ptr(), *v = d[3].ptr();
                char* vmax = vmax_in ? d[4].ptr() : nullptr;
                const char* g = d[1].ptr();
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t at = i * int64_t(sizeof(T));
                    C pv = load<T>(p + at), gv = load<T>(g + at);
                    if (a.maximize) gv = -gv;
                    if (a.weight_decay != 0) {
                        if (a.decoupled_weight_decay) pv *= C(1 - a.lr * a.weight_decay);
                        else gv += C(a.weight_decay) * pv;
                    }
                    C mv = C(a.beta1) * load<T>(m + at) + C(1 - a.beta1) * gv;
                    C vv = C(a.beta2) * load<T>(v + at) + C(1 - a.beta2) * gv * gv;
                    store<T>(m + at, mv);
                    store<T>(v + at, vv);
                    C second = vv;
                    if (a.amsgrad) {
                        second = std::max<C>(load<T>(vmax + at), vv);
                        store<T>(vmax + at, second);
                    }
                    const C denom = C(std::sqrt(second) / C(bc2_sqrt) + C(a.eps));
                    store<T>(p + at, pv - C(step_size) * mv / denom);
                }
            }
        });
    });
}

// --------------------------------------------------------------------------- bindings

void init_optim(py::module_& m) {
    m.def("sgd_step_", [](const Array& param, const Array& grad, std::optional<Array> momentum_buffer,
                          double lr, double momentum, double dampening, bool nesterov,
                          double weight_decay, bool maximize, bool first_step) {
        SgdArgs a{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
        without_gil_if_large(param.numel(), [&] {
            sgd_step(param, grad, momentum_buffer ? &*momentum_buffer : nullptr, a);
        });
    }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"), py::kw_only(),
       py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("nesterov"),
       py::arg("weight_decay"), py::arg("maximize"), py::arg("first_step"),
       "PyTorch's SGD update of param (and momentum_buffer) in place.");
    m.def("adam_step_", [](const Array& param, const Array& grad, const Array& exp_avg,
                           const Array& exp_avg_sq, std::optional<Array> max_exp_avg_sq,
                           int64_t step, double lr, double beta1, double beta2, double eps,
                           double weight_decay, bool decoupled_weight_decay, bool amsgrad,
                           bool maximize) {
        AdamArgs a{step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad,
                   maximize};
        without_gil_if_large(param.numel(), [&] {
            adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq ? &*max_exp_avg_sq : nullptr, a);
        });
    }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
       py::arg("max_exp_avg_sq"), py::kw_only(), py::arg("step"), py::arg("lr"), py::arg("beta1"),
       py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
       py::arg("decoupled_weight_decay"), py::arg("amsgrad"), py::arg("maximize"),
       "PyTorch's Adam (AdamW when decoupled_weight_decay) update in place; step counts from 1.");
}

}  // namespace mgcpu
