// The SIMD kernels, written once against xsimd's batch type and instantiated per architecture
// by the simd_<arch>.cpp files. Tails shorter than a vector run the same expression on scalars.
#pragma once

#include <xsimd/xsimd.hpp>

#include "simd.hpp"

namespace mgcpu::simd {

template <class Arch, class T>
struct Impl {
    using B = xsimd::batch<T, Arch>;
    static constexpr int64_t W = int64_t(B::size);

    template <int OP, class V>
    static V apply(V a, V b) {
        if constexpr (OP == ADD) return a + b;
        else if constexpr (OP == SUB) return a - b;
        else if constexpr (OP == MUL) return a * b;
        else if constexpr (OP == DIV) return a / b;
        else if constexpr (OP == MAXIMUM) return xsimd::select((a > b) | xsimd::isnan(a), a, b);  // ties give b, as numpy
        else return xsimd::select((a < b) | xsimd::isnan(a), a, b);
    }

    template <int OP>
    static T apply_scalar(T a, T b) {
        if constexpr (OP == ADD) return a + b;
        else if constexpr (OP == SUB) return a - b;
        else if constexpr (OP == MUL) return a * b;
        else if constexpr (OP == DIV) return a / b;
        else if constexpr (OP == MAXIMUM) return (a > b || a != a) ? a : b;
        else return (a < b || a != a) ? a : b;
    }

    template <int OP>
    static void run(const T* a, const T* b, bool b_scalar, T* out, int64_t n) {
        int64_t i = 0;
        if (b_scalar) {
            const B vb(b[0]);
            for (; i + W <= n; i += W) apply<OP>(B::load_unaligned(a + i), vb).store_unaligned(out + i);
            for (; i < n; ++i) out[i] = apply_scalar<OP>(a[i], b[0]);
        } else {
            for (; i + W <= n; i += W)
                apply<OP>(B::load_unaligned(a + i), B::load_unaligned(b + i)).store_unaligned(out + i);
            for (; i < n; ++i) out[i] = apply_scalar<OP>(a[i], b[i]);
        }
    }

    static void binary(int op, const T* a, const T* b, bool b_scalar, T* out, int64_t n) {
        switch (op) {
            case ADD: return run<ADD>(a, b, b_scalar, out, n);
            case SUB: return run<SUB>(a, b, b_scalar, out, n);
            case MUL: return run<MUL>(a, b, b_scalar, out, n);
            case DIV: return run<DIV>(a, b, b_scalar, out, n);
            case MAXIMUM: return run<MAXIMUM>(a, b, b_scalar, out, n);
            default: return run<MINIMUM>(a, b, b_scalar, out, n);
        }
    }

    static void relu(const T* x, T* out, int64_t n) {
        int64_t i = 0;
        const B zero(T(0));
        for (; i + W <= n; i += W) {
            B v = B::load_unaligned(x + i);
            // nan stays nan, as in torch.relu
            xsimd::select((v > zero) | xsimd::isnan(v), v, zero).store_unaligned(out + i);
        }
        for (; i < n; ++i) out[i] = (x[i] > 0 || x[i] != x[i]) ? x[i] : T(0);
    }

    static void sgd(T* p, const T* g, T lr, T wd, int64_t n) {
        int64_t i = 0;
        const B vlr(lr), vwd(wd);
        for (; i + W <= n; i += W) {
            B vp = B::load_unaligned(p + i);
            B vg = xsimd::fma(vwd, vp, B::load_unaligned(g + i));
            xsimd::fnma(vlr, vg, vp).store_unaligned(p + i);
        }
        for (; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    }

    static void adam(T* p, const T* g, T* m, T* v, T beta1, T beta2, T step_size, T bc2_sqrt,
                     T eps, int64_t n) {
        int64_t i = 0;
        const B b1(beta1), b2(beta2), c1(T(1) - beta1), c2(T(1) - beta2), ss(step_size),
            bc(bc2_sqrt), ve(eps);
        for (; i + W <= n; i += W) {
            B vg = B::load_unaligned(g + i);
            B vm = xsimd::fma(b1, B::load_unaligned(m + i), c1 * vg);
            B vv = xsimd::fma(b2, B::load_unaligned(v + i), c2 * vg * vg);
            vm.store_unaligned(m + i);
            vv.store_unaligned(v + i);
            B denom = xsimd::sqrt(vv) / bc + ve;
            (B::load_unaligned(p + i) - ss * vm / denom).store_unaligned(p + i);
        }
        for (; i < n; ++i) {
            m[i] = beta1 * m[i] + (T(1) - beta1) * g[i];
            v[i] = beta2 * v[i] + (T(1) - beta2) * g[i] * g[i];
            p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
        }
    }
};

template <class Arch>
Kernels make_kernels() {
    return Kernels{Arch::name(), &Impl<Arch, float>::binary, &Impl<Arch, double>::binary,
                   &Impl<Arch, float>::relu, &Impl<Arch, float>::sgd, &Impl<Arch, float>::adam};
}

}  // namespace mgcpu::simd
