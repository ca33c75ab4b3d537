// The SIMD kernels, written once against xsimd's batch type and instantiated per architecture
// by the simd_<arch>.cpp files. Tails shorter than a vector run the same expression on scalars.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

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
        else {
            static_assert(OP == MINIMUM, "a binary op marked VECTOR in ops.hpp has no vector formula");
            return xsimd::select((a < b) | xsimd::isnan(a), a, b);
        }
    }

    template <int OP>
    static T apply_scalar(T a, T b) {
        if constexpr (OP == ADD) return a + b;
        else if constexpr (OP == SUB) return a - b;
        else if constexpr (OP == MUL) return a * b;
        else if constexpr (OP == DIV) return a / b;
        else if constexpr (OP == MAXIMUM) return (a > b || a != a) ? a : b;
        else {
            static_assert(OP == MINIMUM, "a binary op marked VECTOR in ops.hpp has no scalar tail");
            return (a < b || a != a) ? a : b;
        }
    }

    // A store that bypasses the cache: a huge output is not read again soon, and skipping the
    // read-for-ownership of its lines saves a third of the memory traffic of an out-of-place add.
    static void store_stream(T* p, const B& v) {
#if defined(__x86_64__) || defined(_M_X64)
        constexpr bool f32 = std::is_same_v<T, float>;
        if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) {
            if constexpr (f32) _mm512_stream_ps(p, v); else _mm512_stream_pd(p, v);
        } else if constexpr (std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>) {
            if constexpr (f32) _mm256_stream_ps(p, v); else _mm256_stream_pd(p, v);
        } else if constexpr (std::is_same_v<Arch, xsimd::sse2>) {
            if constexpr (f32) _mm_stream_ps(p, v); else _mm_stream_pd(p, v);
        } else {
            v.store_aligned(p);
        }
#else
        v.store_aligned(p);
#endif
    }

    // The loop body for one operand layout; AS/BS: a/b is one broadcast element. Unrolled four
    // vectors deep so several loads are in flight (the loop is bound by memory, not arithmetic).
    template <int OP, bool AS, bool BS>
    static int64_t run_layout(const T* a, const T* b, T* out, int64_t i, int64_t n, bool stream) {
        const B va = AS ? B(a[0]) : B(T(0)), vb = BS ? B(b[0]) : B(T(0));
        auto at = [&](int64_t k) {
            return apply<OP>(AS ? va : B::load_unaligned(a + k), BS ? vb : B::load_unaligned(b + k));
        };
        if (stream) {
            for (; i + W <= n; i += W) store_stream(out + i, at(i));
            return i;
        }
        for (; i + 4 * W <= n; i += 4 * W) {
            const B r0 = at(i), r1 = at(i + W), r2 = at(i + 2 * W), r3 = at(i + 3 * W);
            r0.store_unaligned(out + i);
            r1.store_unaligned(out + i + W);
            r2.store_unaligned(out + i + 2 * W);
            r3.store_unaligned(out + i + 3 * W);
        }
        for (; i + W <= n; i += W) at(i).store_unaligned(out + i);
        return i;
    }

    template <int OP>
    static void run(const T* a, bool a_scalar, const T* b, bool b_scalar, T* out, int64_t n,
                    bool stream) {
        int64_t i = 0;
        auto scalar_at = [&](int64_t k) {
            out[k] = apply_scalar<OP>(a[a_scalar ? 0 : k], b[b_scalar ? 0 : k]);
        };
        if (stream)   // streamed stores need aligned addresses: peel up to the first
            for (; i < n && reinterpret_cast<uintptr_t>(out + i) % sizeof(B) != 0; ++i) scalar_at(i);
        if (a_scalar && b_scalar) i = run_layout<OP, true, true>(a, b, out, i, n, stream);
        else if (a_scalar) i = run_layout<OP, true, false>(a, b, out, i, n, stream);
        else if (b_scalar) i = run_layout<OP, false, true>(a, b, out, i, n, stream);
        else i = run_layout<OP, false, false>(a, b, out, i, n, stream);
#if defined(__x86_64__) || defined(_M_X64)
        if (stream) _mm_sfence();   // order the streamed stores before anything that follows
#endif
        for (; i < n; ++i) scalar_at(i);
    }

    // `rows` runs of n elements, row r starting at a + r * row_step[1] (b: row_step[2], out:
    // row_step[0], in elements): a bias over channels is one call per sample, not per plane.
    template <int OP>
    static void run_rows(const T* a, bool a_scalar, const T* b, bool b_scalar, T* out, int64_t n,
                         int64_t rows, const int64_t* row_step) {
        for (int64_t r = 0; r < rows; ++r)
            run<OP>(a + r * row_step[1], a_scalar, b + r * row_step[2], b_scalar,
                    out + r * row_step[0], n, false);
    }

    // The loops exist for the ops ops.hpp marks VECTOR; visit_binary_op turns the run-time
    // code into a compile-time one (the entry points check the mark before calling).
    static void binary_rows(int op, const T* a, bool a_scalar, const T* b, bool b_scalar, T* out,
                            int64_t n, int64_t rows, const int64_t* row_step) {
        visit_binary_op(op, [&](auto code) {
            if constexpr (binary_has_vector_kernel(decltype(code)::value))
                run_rows<decltype(code)::value>(a, a_scalar, b, b_scalar, out, n, rows, row_step);
        });
    }

    static void binary(int op, const T* a, bool a_scalar, const T* b, bool b_scalar, T* out,
                       int64_t n, bool stream) {
        visit_binary_op(op, [&](auto code) {
            if constexpr (binary_has_vector_kernel(decltype(code)::value))
                run<decltype(code)::value>(a, a_scalar, b, b_scalar, out, n, stream);
        });
    }

    template <int OP, class V>
    static V apply_unary(const V& x) {
        if constexpr (OP == NEG) return x ^ V(T(-0.0));   // flips the sign bit: -(+0) is -0
        else if constexpr (OP == ABS) return xsimd::abs(x);
        else if constexpr (OP == EXP) return xsimd::exp(x);
        else if constexpr (OP == LOG) return xsimd::log(x);
        else if constexpr (OP == LOG1P) return xsimd::log1p(x);
        else if constexpr (OP == EXPM1) return xsimd::expm1(x);
        else if constexpr (OP == SQRT) return xsimd::sqrt(x);
        else if constexpr (OP == TANH) return xsimd::tanh(x);
        else {
            static_assert(OP == ERF, "a unary op marked VECTOR in ops.hpp has no vector formula");
            return xsimd::erf(x);
        }
    }

    // The lanes of r where edge(x) holds, recomputed with the scalar function f.
    template <class Edge, class F>
    static B redo_lanes(const B& r, const T* x, Edge edge, F f) {
        alignas(64) T lanes[W];
        r.store_aligned(lanes);
        for (int64_t k = 0; k < W; ++k)
            if (edge(x[k])) lanes[k] = f(x[k]);
        return B::load_aligned(lanes);
    }

    // Where xsimd 8 differs from the C library, the few lanes concerned are redone with it: log
    // is wrong for subnormal doubles (every one gave the same value); exp and expm1 overflow
    // early (float32 exp(88.5) gave inf) and flush results below the normal range to 0; log1p
    // and expm1 turn -0 into +0.
    template <int OP>
    static B unary_checked(const B& v, const T* x) {
        B r = apply_unary<OP>(v);
        if constexpr (OP == LOG1P || OP == EXPM1)   // they lose the sign of -0
            r = xsimd::select(v == B(T(0)), v, r);
        if constexpr (OP == LOG) {
            auto edge = [](T a) { return a > T(0) && a < std::numeric_limits<T>::min(); };
            if (xsimd::any((v > B(T(0))) & (v < B(std::numeric_limits<T>::min()))))
                r = redo_lanes(r, x, edge, [](T a) { return std::log(a); });
        }
        if constexpr (OP == EXP || OP == EXPM1) {
            constexpr T limit = sizeof(T) == 4 ? T(87) : T(707);
            auto edge = [](T a) { return std::abs(a) > limit; };
            if (xsimd::any(xsimd::abs(v) > B(limit)))
                r = redo_lanes(r, x, edge, [](T a) { return OP == EXP ? std::exp(a) : std::expm1(a); });
        }
        return r;
    }

    template <int OP>
    static void run_unary(const T* x, T* out, int64_t n) {
        int64_t i = 0;
        for (; i + W <= n; i += W)
            unary_checked<OP>(B::load_unaligned(x + i), x + i).store_unaligned(out + i);
        if (i < n) {   // the tail through a padded vector: the same formula as the body
            alignas(64) T buf[W] = {};
            std::copy(x + i, x + n, buf);
            unary_checked<OP>(B::load_aligned(buf), buf).store_aligned(buf);
            std::copy(buf, buf + (n - i), out + i);
        }
    }

    static void unary(int op, const T* x, T* out, int64_t n) {
        visit_unary_op(op, [&](auto code) {
            if constexpr (unary_has_vector_kernel(decltype(code)::value)) run_unary<decltype(code)::value>(x, out, n);
        });
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

    template <class V>
    static V sgd_direction(V p, V g, V* m, const SgdConstants& c) {
        V d = V(T(c.sign)) * g + V(T(c.weight_decay)) * p;
        if (m) {
            *m = c.first_step ? d : V(T(c.momentum)) * *m + V(T(1) - T(c.dampening)) * d;
            d = c.nesterov ? d + V(T(c.momentum)) * *m : *m;
        }
        return d;
    }

    static void sgd(T* p, const T* g, T* m, const SgdConstants& c, int64_t n) {
        int64_t i = 0;
        const B lr(T(c.lr));
        for (; i + W <= n; i += W) {
            B vp = B::load_unaligned(p + i), vm;
            if (m) vm = B::load_unaligned(m + i);
            B d = sgd_direction(vp, B::load_unaligned(g + i), m ? &vm : nullptr, c);
            if (m) vm.store_unaligned(m + i);
            (vp - lr * d).store_unaligned(p + i);
        }
        for (; i < n; ++i) {
            T d = sgd_direction(p[i], g[i], m ? m + i : nullptr, c);
            p[i] -= T(c.lr) * d;
        }
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

    // ---------------------------------------------------------------- fusion (src/fusion.cpp)
    // A chain of the fused kernels: acc = start, then each step acc = op(acc) (a unary VECTOR
    // op, acc * acc, (acc * acc) * acc) or op(acc, x) / op(x, acc) (a binary VECTOR op, x a
    // tile or one value), in vector registers, so one pass over a tile does the work of
    // `count` instructions: an expensive op (a division, a tanh) and the cheap ones around it
    // overlap in the core instead of taking a pass each. Every step rounds as its own
    // instruction would (steps are separate dispatches: nothing contracts into an fma), so
    // fused and unfused results agree bit for bit.
    struct Operand {
        int code;       // ChainStep::code
        const T* x;     // the operand (a splat of W copies when uniform)
        int64_t mask;   // -1, or 0 for a uniform operand: x[(i + k) & mask]
    };

    template <int OP>
    static B chain_unary(const B& v) {
        if constexpr (OP == LOG || OP == EXP || OP == EXPM1) {   // they redo edge lanes from memory
            alignas(64) T lanes[W];
            v.store_aligned(lanes);
            return unary_checked<OP>(v, lanes);
        } else {
            return unary_checked<OP>(v, nullptr);
        }
    }

    // K vectors from element i: acc[k] holds elements i + k W.
    template <int K>
    static void chain_at(const Operand& start, const Operand* steps, int count, int64_t i, B* acc) {
        for (int k = 0; k < K; ++k) acc[k] = B::load_unaligned(start.x + ((i + k * W) & start.mask));
        for (int s = 0; s < count; ++s) {
            const Operand& st = steps[s];
            const int code = st.code;
            auto operand = [&](int k) { return B::load_unaligned(st.x + ((i + k * W) & st.mask)); };
            if (code == ChainStep::SQUARE) {
                for (int k = 0; k < K; ++k) acc[k] = acc[k] * acc[k];
            } else if (code == ChainStep::CUBE) {
                for (int k = 0; k < K; ++k) {
                    B square = acc[k] * acc[k];
                    keep_rounded(square);
                    acc[k] = square * acc[k];
                }
            } else if (code >= ChainStep::UNARY) {
                visit_unary_op(code - ChainStep::UNARY, [&](auto c) {
                    constexpr int OP = decltype(c)::value;
                    if constexpr (unary_has_vector_kernel(OP))
                        for (int k = 0; k < K; ++k) acc[k] = chain_unary<OP>(acc[k]);
                });
            } else {
                visit_binary_op(code >> 1, [&](auto c) {
                    constexpr int OP = decltype(c)::value;
                    if constexpr (binary_has_vector_kernel(OP)) {
                        if (code & 1)
                            for (int k = 0; k < K; ++k) acc[k] = apply<OP>(operand(k), acc[k]);
                        else
                            for (int k = 0; k < K; ++k) acc[k] = apply<OP>(acc[k], operand(k));
                    }
                });
            }
        }
    }

    template <class V>
    static void keep_rounded(V& v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(_M_X64))
        if constexpr (sizeof(V) == 64) asm("" : "+v"(v.data));
        else asm("" : "+x"(v.data));
#else
        (void)v;
#endif
    }

    // flatten: chain_at and the step dispatch inlined, so the K accumulators are registers,
    // not stack slots reloaded at every step.
#if defined(__GNUC__)
    __attribute__((flatten))
#endif
    static void chain(const T* start, bool start_uniform, const ChainStep* steps, int count,
                      T* out, int64_t n, bool stream) {
        alignas(64) T splat[CHAIN_STEPS + 1][W];
        Operand ops[CHAIN_STEPS];
        auto operand = [&](const T* x, bool uniform, int slot) {
            if (!uniform) return Operand{0, x, -1};
            std::fill(splat[slot], splat[slot] + W, x[0]);
            return Operand{0, splat[slot], 0};
        };
        const Operand first = operand(start, start_uniform, CHAIN_STEPS);
        for (int s = 0; s < count; ++s) {
            ops[s] = operand(static_cast<const T*>(steps[s].x), steps[s].uniform, s);
            ops[s].code = steps[s].code;
        }
        // Elements [i, j), fewer than a vector, through padded copies: the same formula.
        auto few = [&](int64_t i, int64_t j) {
            alignas(64) T pad[CHAIN_STEPS + 1][W] = {};
            Operand local[CHAIN_STEPS];
            auto copy = [&](const Operand& o, int slot) {
                if (o.mask == 0 || o.x == nullptr) return o;   // one value, or no operand
                std::copy(o.x + i, o.x + j, pad[slot]);
                return Operand{o.code, pad[slot], -1};
            };
            const Operand head = copy(first, CHAIN_STEPS);
            for (int s = 0; s < count; ++s) local[s] = copy(ops[s], s);
            B acc[1];
            chain_at<1>(head, local, count, 0, acc);
            alignas(64) T r[W];
            acc[0].store_aligned(r);
            std::copy(r, r + (j - i), out + i);
        };
        int64_t i = 0;
        if (stream) {   // streamed stores need aligned addresses: the first elements apart
            int64_t peel = 0;
            while (peel < n && reinterpret_cast<uintptr_t>(out + peel) % sizeof(B) != 0) ++peel;
            if (peel) few(0, peel);
            for (i = peel; i + W <= n; i += W) {
                B acc[1];
                chain_at<1>(first, ops, count, i, acc);
                store_stream(out + i, acc[0]);
            }
#if defined(__x86_64__) || defined(_M_X64)
            _mm_sfence();
#endif
        } else {
            // Four vectors per dispatch of a step; every load of a block precedes its stores,
            // so out may be the start or an operand.
            for (; i + 4 * W <= n; i += 4 * W) {
                B acc[4];
                chain_at<4>(first, ops, count, i, acc);
                for (int k = 0; k < 4; ++k) acc[k].store_unaligned(out + i + k * W);
            }
            for (; i + W <= n; i += W) {
                B acc[1];
                chain_at<1>(first, ops, count, i, acc);
                acc[0].store_unaligned(out + i);
            }
        }
        if (i < n) few(i, n);
    }
    // ---------------------------------------------------------------- end of fusion

    // acc[k] += x[r * row_stride + k] over rows r, in float64. Eight rows at a time: every
    // accumulator is loaded and stored once per eight rows, the eight rows are eight sequential
    // streams the prefetcher follows, and they are added as a tree (three dependent additions,
    // not eight, so the loop is not bound by the adder's latency). Plain loops, vectorised across
    // columns by the compiler under this file's instruction-set flags.
    static void column_sum(const T* __restrict x, int64_t rows, int64_t cols, int64_t row_stride,
                           double* __restrict acc) {
        constexpr int RB = 8;
        int64_t r = 0;
        for (; r + RB <= rows; r += RB) {
            const T* __restrict b = x + r * row_stride;
            const int64_t s = row_stride;
            for (int64_t k = 0; k < cols; ++k) {
                const T* c = b + k;
                const double low = (double(c[0]) + double(c[s])) + (double(c[2 * s]) + double(c[3 * s]));
                const double high = (double(c[4 * s]) + double(c[5 * s])) + (double(c[6 * s]) + double(c[7 * s]));
                acc[k] += low + high;
            }
        }
        for (; r < rows; ++r) {
            const T* __restrict b = x + r * row_stride;
            for (int64_t k = 0; k < cols; ++k) acc[k] += double(b[k]);
        }
    }
};

template <class Arch>
Kernels make_kernels() {
    return Kernels{Arch::name(), &Impl<Arch, float>::binary, &Impl<Arch, double>::binary,
                   &Impl<Arch, float>::binary_rows, &Impl<Arch, double>::binary_rows,
                   &Impl<Arch, float>::unary, &Impl<Arch, double>::unary,
                   &Impl<Arch, float>::relu, &Impl<Arch, float>::sgd, &Impl<Arch, float>::adam,
                   &Impl<Arch, float>::column_sum, &Impl<Arch, double>::column_sum,
                   &Impl<Arch, float>::chain, &Impl<Arch, double>::chain};
}

}  // namespace mgcpu::simd
