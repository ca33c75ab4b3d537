// The SIMD kernels, written once against xsimd's batch type and instantiated per architecture
// by the simd_<arch>.cpp files. Tails shorter than a vector run the same expression on scalars.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

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
        else if constexpr (OP == MAXIMUM) return nan_extreme<true>(a, b);  // ties give b, as numpy
        else {
            static_assert(OP == MINIMUM, "a binary op marked VECTOR in ops.hpp has no vector formula");
            return nan_extreme<false>(a, b);
        }
    }

    // max/min that propagate a nan from either side (numpy's and PyTorch's maximum, max, amax),
    // ties giving b. x86's max/min instructions return their second operand when either is a
    // nan, so only a's nan needs a select: three instructions where two compares, a mask or and
    // a select took four. (isnan, not a != a: xsimd's vector != is the ordered compare.)
    template <bool MAX>
    static B nan_extreme(const B& a, const B& b) {
        return xsimd::select(xsimd::isnan(a), a, MAX ? xsimd::max(a, b) : xsimd::min(a, b));
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

    // How many of out's first n elements lie before a vector-aligned address (streamed stores
    // need one; those elements are written the ordinary way).
    static int64_t to_vector_alignment(const T* out, int64_t n) {
        int64_t peel = 0;
        while (peel < n && reinterpret_cast<uintptr_t>(out + peel) % sizeof(B) != 0) ++peel;
        return peel;
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
            for (const int64_t peel = to_vector_alignment(out, n); i < peel; ++i) scalar_at(i);
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
    // tile or one value). Two ways through a tile (chain picks): four vectors at a time in
    // vector registers (chain_regs) when every step is one instruction, and by blocks
    // (chain_blocks) when a step is a transcendental, whose edge-lane fix-ups call the C
    // library and clobber every vector register (a register loop around them kept its
    // accumulators in stack slots, stored and reloaded at each step): BLOCK elements at a
    // time, each transcendental one tight loop over the block's accumulators in a 2 KB buffer
    // that never leaves L1, each run of register steps between them one register pass over
    // the block (chain_segment: GELU's 8 steps are 3 passes over the block, not 8). Either way one pass over the tile's memory does the work of
    // `count` instructions, and every step rounds as its own instruction would (nothing
    // contracts into an fma), so fused and unfused results agree bit for bit.
    // The unary ops that are one vector instruction each (a chain of them and the binary ops
    // stays in registers, see chain).
    static constexpr bool in_registers(int op) { return op == NEG || op == ABS || op == SQRT; }

    struct Operand {
        int code;       // ChainStep::code
        const T* x;     // the operand (a splat of W copies when uniform)
        int64_t mask;   // -1, or 0 for a uniform operand: x[(i + k) & mask]
    };

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
            } else if (code >= ChainStep::UNARY) {   // a register op: no call, no table
                visit_unary_op(code - ChainStep::UNARY, [&](auto c) {
                    constexpr int OP = decltype(c)::value;
                    if constexpr (in_registers(OP))
                        for (int k = 0; k < K; ++k) acc[k] = apply_unary<OP>(acc[k]);
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

    // Vectors per dispatch of a register step: 8 with AVX-512's 32 vector registers (the
    // dispatch and a division's latency spread over twice the work), 4 with 16 registers.
    static constexpr int GROUP = sizeof(B) >= 64 ? 8 : 4;
    static constexpr int64_t BLOCK = 2048 / int64_t(sizeof(T));   // a multiple of W

    // dst[i] = op(src[i]) for i < n (a multiple of W); dst may be src.
    template <int OP>
    static void chain_unary(const T* src, T* dst, int64_t n) {
#pragma GCC unroll 2
        for (int64_t i = 0; i < n; i += W)   // (exp, log, expm1 redo edge lanes from src)
            unary_checked<OP>(B::load_unaligned(src + i), src + i).store_unaligned(dst + i);
    }

    // dst[i] = op(src[i], x[i]) (op(x[i], src[i]) when SWAP; x[0] for every i when UNIFORM).
    template <int OP, bool SWAP, bool UNIFORM>
    static void chain_binary(const T* src, const T* x, T* dst, int64_t n) {
        const B xs(x[0]);
#pragma GCC unroll 4
        for (int64_t i = 0; i < n; i += W) {
            const B a = B::load_unaligned(src + i);
            const B b = UNIFORM ? xs : B::load_unaligned(x + i);
            (SWAP ? apply<OP>(b, a) : apply<OP>(a, b)).store_unaligned(dst + i);
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

    // One step over n elements (a multiple of W) from src into dst (dst may be src).
    static void chain_step(const ChainStep& st, const T* src, T* dst, int64_t n) {
        const int code = st.code;
        if (code == ChainStep::SQUARE) {
            for (int64_t i = 0; i < n; i += W) {
                const B a = B::load_unaligned(src + i);
                (a * a).store_unaligned(dst + i);
            }
        } else if (code == ChainStep::CUBE) {
            for (int64_t i = 0; i < n; i += W) {
                const B a = B::load_unaligned(src + i);
                B square = a * a;
                keep_rounded(square);
                (square * a).store_unaligned(dst + i);
            }
        } else if (code == ChainStep::GELU_DERIVATIVE) {   // (actd block below)
            for (int64_t i = 0; i < n; i += W)
                gelu_derivative(B::load_unaligned(src + i)).store_unaligned(dst + i);
        } else if (code >= ChainStep::UNARY) {
            visit_unary_op(code - ChainStep::UNARY, [&](auto c) {
                constexpr int OP = decltype(c)::value;
                if constexpr (unary_has_vector_kernel(OP)) chain_unary<OP>(src, dst, n);
            });
        } else {
            const T* x = static_cast<const T*>(st.x);
            visit_binary_op(code >> 1, [&](auto c) {
                constexpr int OP = decltype(c)::value;
                if constexpr (binary_has_vector_kernel(OP)) {
                    const bool swap = code & 1;
                    if (swap && st.uniform) chain_binary<OP, true, true>(src, x, dst, n);
                    else if (swap) chain_binary<OP, true, false>(src, x, dst, n);
                    else if (st.uniform) chain_binary<OP, false, true>(src, x, dst, n);
                    else chain_binary<OP, false, false>(src, x, dst, n);
                }
            });
        }
    }

    // Whether a step is one vector instruction or a few (no call, no table: chain_at runs it).
    static constexpr bool register_step(int code) {
        return code < ChainStep::UNARY || code >= ChainStep::SQUARE ||
               in_registers(code - ChainStep::UNARY);
    }

    // A run of register steps over [0, n) (n a multiple of W) from `first` into dst, four
    // vectors at a time: one pass over the L1 block for the run instead of one per step (GELU's
    // 5 steps before its tanh and 2 after). Every load of a group precedes its stores, so dst
    // may be first's block or an operand's.
#if defined(__GNUC__)
    __attribute__((flatten))
#endif
    static void chain_segment(const Operand& first, const Operand* ops, int count, T* dst,
                              int64_t n) {
        int64_t i = 0;
        for (; i + GROUP * W <= n; i += GROUP * W) {
            B acc[GROUP];
            chain_at<GROUP>(first, ops, count, i, acc);
            for (int k = 0; k < GROUP; ++k) acc[k].store_unaligned(dst + i + k * W);
        }
        for (; i < n; i += W) {
            B acc[1];
            chain_at<1>(first, ops, count, i, acc);
            acc[0].store_unaligned(dst + i);
        }
    }

    // Elements [0, n) of the chain (n a multiple of W, at most BLOCK) into dst, through acc;
    // `steps` hold tile operands already offset to the block, `ops` the same as chain_at
    // operands (uniform ones as splats), `first` the start's. A run of register steps is one
    // chain_segment, any other step (a transcendental) one chain_step loop. The last step
    // writes dst directly: it reads each element of the block before it stores that element's.
    static void chain_block(const T* start, bool start_uniform, const Operand& first,
                            const ChainStep* steps, const Operand* ops, int count, T* acc,
                            T* dst, int64_t n) {
        const T* src = start;
        bool at_start = true;
        for (int s = 0; s < count;) {
            int e = s;
            while (e < count && register_step(steps[e].code)) ++e;
            if (e > s) {
                const Operand from = at_start ? first : Operand{0, acc, -1};
                chain_segment(from, ops + s, e - s, e == count ? dst : acc, n);
                s = e;
            } else {
                if (at_start && start_uniform) {
                    std::fill(acc, acc + n, start[0]);
                    src = acc;
                }
                chain_step(steps[s], src, s + 1 == count ? dst : acc, n);
                ++s;
            }
            src = acc;
            at_start = false;
        }
    }

    static void chain_blocks(const T* start, bool start_uniform, const ChainStep* steps,
                             int count, T* out, int64_t n, bool stream) {
        alignas(64) T acc[BLOCK];
        alignas(64) T splat[CHAIN_STEPS + 1][W];
        ChainStep at[CHAIN_STEPS];
        Operand ops[CHAIN_STEPS];
        std::copy(steps, steps + count, at);
        auto operand = [&](int code, const T* x, bool uniform, int slot) {
            if (!uniform || x == nullptr) return Operand{code, x, -1};
            std::fill(splat[slot], splat[slot] + W, x[0]);
            return Operand{code, splat[slot], 0};
        };
        for (int s = 0; s < count; ++s)
            ops[s] = operand(steps[s].code, static_cast<const T*>(steps[s].x), steps[s].uniform, s);
        const Operand first = operand(0, start, start_uniform, CHAIN_STEPS);
        // The block [i, i + m) (m a multiple of W) into dst: out may be the start or an operand
        // (the same elements; run() copies any other overlap away).
        auto block = [&](int64_t i, int64_t m, T* dst) {
            Operand moved[CHAIN_STEPS];
            for (int s = 0; s < count; ++s) {
                moved[s] = ops[s];
                if (steps[s].x && !steps[s].uniform) {
                    at[s].x = static_cast<const T*>(steps[s].x) + i;
                    moved[s].x += i;
                }
            }
            const Operand head = start_uniform ? first : Operand{0, start + i, -1};
            chain_block(start_uniform ? start : start + i, start_uniform, head, at, moved, count,
                        acc, dst, m);
        };
        // Elements [i, j), fewer than a vector, through padded copies: the same formula.
        auto few = [&](int64_t i, int64_t j) {
            alignas(64) T pad[CHAIN_STEPS + 1][W] = {};
            ChainStep local[CHAIN_STEPS];
            for (int s = 0; s < count; ++s) {
                local[s] = steps[s];
                if (steps[s].x && !steps[s].uniform) {
                    const T* x = static_cast<const T*>(steps[s].x);
                    std::copy(x + i, x + j, pad[s]);
                    local[s].x = pad[s];
                }
            }
            const T* head = start;
            if (!start_uniform) {
                std::copy(start + i, start + j, pad[CHAIN_STEPS]);
                head = pad[CHAIN_STEPS];
            }
            Operand padded[CHAIN_STEPS];
            for (int s = 0; s < count; ++s)
                padded[s] = local[s].x && !local[s].uniform
                                ? Operand{local[s].code, static_cast<const T*>(local[s].x), -1}
                                : ops[s];
            const Operand from = start_uniform ? first : Operand{0, head, -1};
            chain_block(head, start_uniform, from, local, padded, count, acc, acc, W);
            std::copy(acc, acc + (j - i), out + i);
        };
        int64_t i = 0;
        if (stream) {   // streamed stores need aligned addresses: the first elements apart
            const int64_t peel = to_vector_alignment(out, n);
            if (peel) few(0, peel);
            for (i = peel; i + W <= n;) {
                const int64_t m = std::min(BLOCK, (n - i) / W * W);
                block(i, m, acc);
                for (int64_t k = 0; k < m; k += W) store_stream(out + i + k, B::load_aligned(acc + k));
                i += m;
            }
#if defined(__x86_64__) || defined(_M_X64)
            _mm_sfence();
#endif
        } else {
            for (; i + W <= n;) {
                const int64_t m = std::min(BLOCK, (n - i) / W * W);
                block(i, m, out + i);
                i += m;
            }
        }
        if (i < n) few(i, n);
    }
    // flatten: chain_at and the step dispatch inlined, so the K accumulators are registers
    // (the transcendentals, whose edge-lane fix-ups call the C library and clobber every
    // vector register, are not among its steps: with them the accumulators lived in stack
    // slots, stored and reloaded at every step).
#if defined(__GNUC__)
    __attribute__((flatten))
#endif
    static void chain_regs(const T* start, bool start_uniform, const ChainStep* steps, int count,
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
            const int64_t peel = to_vector_alignment(out, n);
            if (peel) few(0, peel);
            // GROUP vectors per dispatch of a step here too: one vector per dispatch made the
            // streamed (large) case pay the step dispatch four times as often.
            for (i = peel; i + GROUP * W <= n; i += GROUP * W) {
                B acc[GROUP];
                chain_at<GROUP>(first, ops, count, i, acc);
                for (int k = 0; k < GROUP; ++k) store_stream(out + i + k * W, acc[k]);
            }
            for (; i + W <= n; i += W) {
                B acc[1];
                chain_at<1>(first, ops, count, i, acc);
                store_stream(out + i, acc[0]);
            }
#if defined(__x86_64__) || defined(_M_X64)
            _mm_sfence();
#endif
        } else {
            // GROUP vectors per dispatch of a step; every load of a block precedes its stores,
            // so out may be the start or an operand.
            for (; i + GROUP * W <= n; i += GROUP * W) {
                B acc[GROUP];
                chain_at<GROUP>(first, ops, count, i, acc);
                for (int k = 0; k < GROUP; ++k) acc[k].store_unaligned(out + i + k * W);
            }
            for (; i + W <= n; i += W) {
                B acc[1];
                chain_at<1>(first, ops, count, i, acc);
                acc[0].store_unaligned(out + i);
            }
        }
        if (i < n) few(i, n);
    }
    // A chain whose every step is a single vector instruction (in_registers: Adam's) runs in
    // vector registers, four vectors at a time, so a division's latency overlaps the cheap
    // steps around it; one with a transcendental (GELU's tanh) runs by blocks (chain_blocks),
    // which measured 5-20% faster for those than the register loop and its stack slots.
    static void chain(const T* start, bool start_uniform, const ChainStep* steps, int count,
                      T* out, int64_t n, bool stream) {
        bool registers = true;
        for (int s = 0; s < count; ++s)
            registers = registers && (steps[s].code < ChainStep::UNARY ||
                                      steps[s].code >= ChainStep::SQUARE ||
                                      in_registers(steps[s].code - ChainStep::UNARY));
        if (registers) chain_regs(start, start_uniform, steps, count, out, n, stream);
        else chain_blocks(start, start_uniform, steps, count, out, n, stream);
    }
    // ---------------------------------------------------------------- end of fusion

    // acc[k] += x[r * row_stride + k] over rows r, in float64. Eight rows at a time: every
    // accumulator is loaded and stored once per eight rows, the eight rows are eight sequential
    // streams the prefetcher follows, and they are added as a tree (three dependent additions,
    // not eight, so the loop is not bound by the adder's latency). Plain loops, vectorised across
    // columns by the compiler under this file's instruction-set flags.
    static void column_sum(const T* __restrict x, int64_t rows, int64_t cols, int64_t row_stride,
                           double* __restrict acc) {
        if constexpr (std::is_same_v<T, float>) {
            column_sum_f32_blocked(x, rows, cols, row_stride, acc);
            return;
        }
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

    // ------------------------------------------------ reduce.cpp: float32 column sums (cascade)
    // The float32 column sum as a two-level cascade: each block of COLUMN_BLOCK_ROWS rows is
    // summed in float32 (eight rows as a tree, the trees added in row order: full-width float32
    // vectors, twice float64's lanes), and the block partials are added into the float64 acc.
    // Error bound per column, u = 2^-24: |got - exact| <= (3 + COLUMN_BLOCK_ROWS / 8) u sum|x|
    // = 19 u sum|x| (first order; float64's additions across blocks add n / 128 * 2^-53), plus
    // the final rounding to float32: independent of the row count, where numpy's row-by-row
    // float32 axis-0 sum grows as n u and torch's cascade as O(log n) u. Every column is summed
    // in the same order whatever the column slice, so thread counts never change a result.
    static constexpr int64_t COLUMN_BLOCK_ROWS = 128;
    static constexpr int64_t COLUMN_TILE = 1024;   // a 4 KB float32 partial row on the stack

    static void column_sum_f32_blocked(const float* __restrict x, int64_t rows, int64_t cols,
                                       int64_t s, double* __restrict acc) {
        alignas(64) float part[COLUMN_TILE];
        for (int64_t c0 = 0; c0 < cols; c0 += COLUMN_TILE) {
            const int64_t nc = std::min(COLUMN_TILE, cols - c0);
            for (int64_t r0 = 0; r0 < rows; r0 += COLUMN_BLOCK_ROWS) {
                const int64_t r1 = std::min(rows, r0 + COLUMN_BLOCK_ROWS);
                std::fill_n(part, nc, 0.f);
                int64_t r = r0;
                for (; r + 8 <= r1; r += 8) {
                    const float* __restrict b = x + r * s + c0;
                    for (int64_t k = 0; k < nc; ++k) {
                        const float* c = b + k;
                        const float low = (c[0] + c[s]) + (c[2 * s] + c[3 * s]);
                        const float high = (c[4 * s] + c[5 * s]) + (c[6 * s] + c[7 * s]);
                        part[k] += low + high;
                    }
                }
                for (; r < r1; ++r) {
                    const float* __restrict b = x + r * s + c0;
                    for (int64_t k = 0; k < nc; ++k) part[k] += b[k];
                }
                for (int64_t k = 0; k < nc; ++k) acc[c0 + k] += double(part[k]);
            }
        }
    }
    // ------------------------------------------------ end of reduce.cpp: float32 column sums

    // ================================================ nn kernels (nn.cpp, reduce.cpp: `nnk`)
    // Tails shorter than a vector go through a zero-padded vector (the same formula as the
    // body), so a result never depends on where an element sits in its row.

    // erfc(z) for z >= 0 (float32) as t P(t) exp(-z^2), t = 1 / (1 + z / 2): P of degree 8
    // fitted by least squares in relative error to erfc(z) exp(z^2) / t on [0, 12]; 3.8e-7
    // relative error evaluated in float32 (before exp(-z^2)'s own rounding), one exp and no
    // branches. t is the approximate reciprocal refined by one Newton step (a division costs
    // more than the rest together), for z clamped to 10: erfc is below float32's normal range
    // from 9.3, and the clamp keeps the Newton step away from inf * 0.
    static B erfc_nonnegative(const B& z_in) {
        const B z = xsimd::min(z_in, B(10.f));
        const B d = xsimd::fma(B(0.5f), z, B(1.f));
        B t = xsimd::reciprocal(d);
        t = t * xsimd::fnma(d, t, B(2.f));
        return t * erfc_polynomial(t) * xsimd::exp(-(z * z));
    }

    // erfc_nonnegative's P(t), by Horner's rule.
    static B erfc_polynomial(const B& t) {
        B p(-6.163367030e-02f);
        p = xsimd::fma(p, t, B(2.960676266e-01f));
        p = xsimd::fma(p, t, B(-5.088996334e-01f));
        p = xsimd::fma(p, t, B(3.005270458e-01f));
        p = xsimd::fma(p, t, B(-4.050498270e-02f));
        p = xsimd::fma(p, t, B(2.079080388e-01f));
        p = xsimd::fma(p, t, B(2.419408730e-01f));
        p = xsimd::fma(p, t, B(2.825150454e-01f));
        return xsimd::fma(p, t, B(2.820794956e-01f));
    }

    // One vector of an activation (codes of ops.hpp's MGCPU_ACTIVATIONS).
    template <int ACT>
    static B activate(const B& x, T beta, T threshold) {
        const B one(T(1)), zero(T(0));
        if constexpr (ACT == RELU) {
            return xsimd::select((x > zero) | xsimd::isnan(x), x, zero);   // nan stays nan
        } else if constexpr (ACT == SIGMOID) {
            return one / (one + xsimd::exp(-x));
        } else if constexpr (ACT == SILU) {
            return x / (one + xsimd::exp(-x));
        } else if constexpr (ACT == GELU && std::is_same_v<T, float>) {
            // 0.5 x erfc(-x / sqrt 2), erfc from erfc_nonnegative: for x < 0 directly (the small
            // left tail keeps float accuracy, no 1 - erf cancellation), for x > 0 as 2 - erfc
            const B z = xsimd::abs(x) * B(0.70710678118654752440f);
            const B e = erfc_nonnegative(z);
            return B(0.5f) * x * xsimd::select(x > zero, B(2.f) - e, e);
        } else if constexpr (ACT == GELU) {
            // 0.5 x (1 + erf(x / sqrt 2)) written as 0.5 x erfc(-x / sqrt 2): for negative x
            // erfc of a positive argument is computed directly, not as 1 minus a number near 1,
            // so the small left tail keeps float accuracy
            return B(T(0.5)) * x * xsimd::erfc(x * B(T(-0.70710678118654752440)));
        } else if constexpr (ACT == GELU_TANH) {
            // 0.5 (1 + tanh(u)) is sigmoid(2u): one exp and one division instead of a tanh
            const B u2 = B(T(2 * 0.79788456080286535588)) * xsimd::fma(B(T(0.044715)) * x, x * x, x);
            return x / (one + xsimd::exp(-u2));
        } else {
            static_assert(ACT == SOFTPLUS, "an activation of ops.hpp has no vector formula");
            // log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): never overflows, whatever threshold
            const B z = x * B(beta);
            const B soft = (xsimd::max(z, zero) + xsimd::log1p(xsimd::exp(-xsimd::abs(z)))) / B(beta);
            return xsimd::select(z > B(threshold), x, soft);
        }
    }

    template <int ACT>
    static void run_activation(const T* x, T* out, int64_t n, T beta, T threshold) {
        int64_t i = 0;
        for (; i + W <= n; i += W)
            activate<ACT>(B::load_unaligned(x + i), beta, threshold).store_unaligned(out + i);
        if (i < n) {
            alignas(64) T buf[W] = {};
            std::copy(x + i, x + n, buf);
            activate<ACT>(B::load_aligned(buf), beta, threshold).store_aligned(buf);
            std::copy(buf, buf + (n - i), out + i);
        }
    }

    static void activation(int act, const T* x, T* out, int64_t n, T beta, T threshold) {
        switch (act) {
            case RELU: return run_activation<RELU>(x, out, n, beta, threshold);
            case SIGMOID: return run_activation<SIGMOID>(x, out, n, beta, threshold);
            case GELU: return run_activation<GELU>(x, out, n, beta, threshold);
            case GELU_TANH: return run_activation<GELU_TANH>(x, out, n, beta, threshold);
            case SILU: return run_activation<SILU>(x, out, n, beta, threshold);
            default: return run_activation<SOFTPLUS>(x, out, n, beta, threshold);
        }
    }

    // max that propagates nan (a nan anywhere in a softmax lane makes the whole lane nan)
    static B max_nan(const B& a, const B& b) { return xsimd::select((a > b) | xsimd::isnan(a), a, b); }

    // The largest lane (nan if any lane is): halving the lanes, log2(W) dependent steps, not W.
    static T lanes_max(const B& v) {
        if (xsimd::any(xsimd::isnan(v))) return std::numeric_limits<T>::quiet_NaN();
        alignas(64) T lanes[W];
        v.store_aligned(lanes);
        for (int64_t half = W / 2; half >= 1; half /= 2)
            for (int64_t k = 0; k < half; ++k) lanes[k] = std::max(lanes[k], lanes[k + half]);
        return lanes[0];
    }

    // The sum of n dense elements in float64, as every floating sum of reduce.cpp: float32
    // vectors are widened to two float64 halves, four independent float64 accumulators.
    static double dense_sum(const T* x, int64_t n) {
        using D = xsimd::batch<double, Arch>;
        constexpr int64_t DW = int64_t(D::size);
        D a0(0.0), a1(0.0), a2(0.0), a3(0.0);
        int64_t i = 0;
        for (; i + 4 * DW <= n; i += 4 * DW) {   // (a float32 load widens to float64)
            a0 += D::load_unaligned(x + i);
            a1 += D::load_unaligned(x + i + DW);
            a2 += D::load_unaligned(x + i + 2 * DW);
            a3 += D::load_unaligned(x + i + 3 * DW);
        }
        double total = xsimd::hadd((a0 + a1) + (a2 + a3));
        for (; i < n; ++i) total += double(x[i]);
        return total;
    }

    static void row_sum(const T* x, int64_t rows, int64_t len, int64_t row_stride, double* out) {
        if (row_stride == len) return dense_row_sum(x, rows, len, out);   // the reductions' block
        for (int64_t r = 0; r < rows; ++r) out[r] = dense_sum(x + r * row_stride, len);
    }

    // The peak of a lane as the shift of its exponentials: an infinite peak (all -inf, or a
    // +inf) shifts by 0, so that no inf - inf appears where the true result is defined.
    static B finite_shift(const B& peak) {
        return xsimd::select(xsimd::isinf(peak), B(T(0)), peak);
    }

    // One softmax row of len dense elements: max, sum of exp(x - max) (written to y on the way
    // for softmax), then one scaling (softmax) or subtraction (log_softmax) pass.
    // The first two passes of softmax along a dense row: the peak (0 when infinite) and the
    // sum of exp(x - peak), the exps stored into y when STORE (the tail's into tail_exp).
    template <bool STORE>
    static T exp_total(const T* x, T* y, int64_t len, T& peak_out, T* tail_exp) {
        const int64_t body = len - len % W;
        B peak_v(-std::numeric_limits<T>::infinity());
        for (int64_t i = 0; i < body; i += W) peak_v = max_nan(B::load_unaligned(x + i), peak_v);
        T peak = lanes_max(peak_v);
        for (int64_t i = body; i < len; ++i) peak = (x[i] > peak || x[i] != x[i]) ? x[i] : peak;
        if (std::isinf(peak)) peak = T(0);
        const B shift(peak);
        B s0(T(0)), s1(T(0));
        int64_t i = 0;
        for (; i + 2 * W <= body; i += 2 * W) {
            const B e0 = xsimd::exp(B::load_unaligned(x + i) - shift);
            const B e1 = xsimd::exp(B::load_unaligned(x + i + W) - shift);
            if constexpr (STORE) {
                e0.store_unaligned(y + i);
                e1.store_unaligned(y + i + W);
            }
            s0 += e0;
            s1 += e1;
        }
        for (; i < body; i += W) {
            const B e = xsimd::exp(B::load_unaligned(x + i) - shift);
            if constexpr (STORE) e.store_unaligned(y + i);
            s0 += e;
        }
        if (body < len) {   // the tail, padded with -inf (exp gives 0)
            alignas(64) T buf[W];
            std::fill_n(buf, W, -std::numeric_limits<T>::infinity());
            std::copy(x + body, x + len, buf);
            const B e = xsimd::exp(B::load_aligned(buf) - shift);
            e.store_unaligned(tail_exp);
            s0 += e;
        }
        peak_out = peak;
        return xsimd::hadd(s0 + s1);
    }

    static void softmax_row(const T* x, T* y, int64_t len, bool log) {
        const int64_t body = len - len % W;
        T peak, tail_exp[W];
        int64_t i;
        if (log) {   // (x - peak) - log(total): no cancellation against the peak's magnitude
            const T off = std::log(exp_total<false>(x, y, len, peak, tail_exp));
            const B shift(peak);
            for (i = 0; i < body; i += W)
                ((B::load_unaligned(x + i) - shift) - B(off)).store_unaligned(y + i);
            for (; i < len; ++i) y[i] = (x[i] - peak) - off;
        } else {
            const T total = exp_total<true>(x, y, len, peak, tail_exp);
            const B scale(T(1) / total);
            for (i = 0; i < body; i += W) (B::load_unaligned(y + i) * scale).store_unaligned(y + i);
            for (; i < len; ++i) y[i] = tail_exp[i - body] * (T(1) / total);
        }
    }

    // Cross-entropy's per-row losses: -log_softmax(row)[target], computed as log_softmax's
    // element (the same operations, so the same value) without writing the row out.
    static void cross_entropy_rows(const T* x, const int64_t* target, int64_t ignore,
                                   int64_t rows, int64_t len, T* out) {
        T tail_exp[W];
        for (int64_t r = 0; r < rows; ++r) {
            if (target[r] == ignore) {
                out[r] = T(0);
                continue;
            }
            const T* row = x + r * len;
            T peak;
            const T off = std::log(exp_total<false>(row, nullptr, len, peak, tail_exp));
            out[r] = -((row[target[r]] - peak) - off);
        }
    }

    static void softmax_rows(const T* x, T* y, int64_t rows, int64_t len, bool log) {
        for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * len, y + r * len, len, log);
    }

    // softmax over the rows of a (len, inner) block for the columns [k, k + W) as one vector
    // per row: the lanes are independent, so the vector runs across them.
    static void softmax_column_vector(const T* x, T* y, int64_t len, int64_t inner, bool log) {
        B peak(-std::numeric_limits<T>::infinity());
        for (int64_t j = 0; j < len; ++j) peak = max_nan(B::load_unaligned(x + j * inner), peak);
        const B shift = finite_shift(peak);
        B total(T(0));
        for (int64_t j = 0; j < len; ++j) {
            const B e = xsimd::exp(B::load_unaligned(x + j * inner) - shift);
            if (!log) e.store_unaligned(y + j * inner);
            total += e;
        }
        if (log) {
            const B off = xsimd::log(total);
            for (int64_t j = 0; j < len; ++j)
                ((B::load_unaligned(x + j * inner) - shift) - off).store_unaligned(y + j * inner);
        } else {
            const B scale = B(T(1)) / total;
            for (int64_t j = 0; j < len; ++j)
                (B::load_unaligned(y + j * inner) * scale).store_unaligned(y + j * inner);
        }
    }

    static void softmax_cols(const T* x, T* y, int64_t len, int64_t inner, int64_t cols, bool log) {
        int64_t k = 0;
        for (; k + W <= cols; k += W) softmax_column_vector(x + k, y + k, len, inner, log);
        if (k == cols) return;
        // the last columns one lane at a time, gathered into a dense row
        std::vector<T> in(static_cast<size_t>(len)), res(static_cast<size_t>(len));
        for (; k < cols; ++k) {
            for (int64_t j = 0; j < len; ++j) in[j] = x[k + j * inner];
            softmax_row(in.data(), res.data(), len, log);
            for (int64_t j = 0; j < len; ++j) y[k + j * inner] = res[j];
        }
    }

    // softmax's grad_x from its output y: gx = y * (g - sum(g * y)) along each dense row, the
    // dot product with two accumulators, then one pass for gx.
    static void softmax_backward_rows(const T* gy, const T* y, T* gx, int64_t rows, int64_t len) {
        const int64_t body = len - len % W;
        for (int64_t r = 0; r < rows; ++r) {
            const T *g = gy + r * len, *yr = y + r * len;
            T* out = gx + r * len;
            B s0(T(0)), s1(T(0));
            int64_t i = 0;
            for (; i + 2 * W <= body; i += 2 * W) {
                s0 = xsimd::fma(B::load_unaligned(g + i), B::load_unaligned(yr + i), s0);
                s1 = xsimd::fma(B::load_unaligned(g + i + W), B::load_unaligned(yr + i + W), s1);
            }
            for (; i < body; i += W)
                s0 = xsimd::fma(B::load_unaligned(g + i), B::load_unaligned(yr + i), s0);
            T dot = xsimd::hadd(s0 + s1);
            for (; i < len; ++i) dot += g[i] * yr[i];
            const B d(dot);
            for (i = 0; i < body; i += W)
                (B::load_unaligned(yr + i) * (B::load_unaligned(g + i) - d)).store_unaligned(out + i);
            for (; i < len; ++i) out[i] = yr[i] * (g[i] - dot);
        }
    }

    // The same along the rows of a (len, inner) block (row stride inner) for its columns
    // [0, cols): a vector of columns at a time, each lane its own dot product.
    static void softmax_backward_cols(const T* gy, const T* y, T* gx, int64_t len, int64_t inner,
                                      int64_t cols) {
        int64_t k = 0;
        for (; k + W <= cols; k += W) {
            B dot(T(0));
            for (int64_t j = 0; j < len; ++j)
                dot = xsimd::fma(B::load_unaligned(gy + j * inner + k),
                                 B::load_unaligned(y + j * inner + k), dot);
            for (int64_t j = 0; j < len; ++j) {
                const int64_t at = j * inner + k;
                (B::load_unaligned(y + at) * (B::load_unaligned(gy + at) - dot)).store_unaligned(gx + at);
            }
        }
        for (; k < cols; ++k) {
            T dot(0);
            for (int64_t j = 0; j < len; ++j) dot += gy[j * inner + k] * y[j * inner + k];
            for (int64_t j = 0; j < len; ++j)
                gx[j * inner + k] = y[j * inner + k] * (gy[j * inner + k] - dot);
        }
    }

    // Layer norm of dense rows: the mean in one pass, the variance from the centred values in a
    // second (as PyTorch, no E[x^2] - E[x]^2 cancellation), then normalise and apply w, b.
    static void layer_norm_rows(const T* x, const T* w, const T* b, T* y, T* mean_out,
                                T* rstd_out, int64_t rows, int64_t len, double eps) {
        const int64_t body = len - len % W;
        for (int64_t r = 0; r < rows; ++r) {
            const T* xr = x + r * len;
            T* yr = y + r * len;
            const T mean = T(dense_sum(xr, len) / double(len));
            const B m(mean);
            B q0(T(0)), q1(T(0));
            int64_t i = 0;
            for (; i + 2 * W <= body; i += 2 * W) {
                const B d0 = B::load_unaligned(xr + i) - m, d1 = B::load_unaligned(xr + i + W) - m;
                q0 = xsimd::fma(d0, d0, q0);
                q1 = xsimd::fma(d1, d1, q1);
            }
            for (; i < body; i += W) {
                const B d = B::load_unaligned(xr + i) - m;
                q0 = xsimd::fma(d, d, q0);
            }
            double squares = double(xsimd::hadd(q0 + q1));
            for (; i < len; ++i) squares += double(xr[i] - mean) * double(xr[i] - mean);
            const T rstd = T(1.0 / std::sqrt(squares / double(len) + eps));
            if (mean_out) mean_out[r] = mean;
            if (rstd_out) rstd_out[r] = rstd;
            const B s(rstd);
            for (i = 0; i < body; i += W) {
                B v = (B::load_unaligned(xr + i) - m) * s;
                if (w) v *= B::load_unaligned(w + i);
                if (b) v += B::load_unaligned(b + i);
                v.store_unaligned(yr + i);
            }
            for (; i < len; ++i) {
                T v = (xr[i] - mean) * rstd;
                if (w) v *= w[i];
                if (b) v += b[i];
                yr[i] = v;
            }
        }
    }

    static void layer_norm_backward_rows(const T* gy, const T* x, const T* w, const T* mean,
                                         const T* rstd, T* gx, int64_t rows, int64_t len) {
        const int64_t body = len - len % W;
        for (int64_t r = 0; r < rows; ++r) {
            const T *g = gy + r * len, *xr = x + r * len;
            T* out = gx + r * len;
            const B m(mean[r]), s(rstd[r]);
            auto grad_at = [&](int64_t i) {   // g * w as a vector
                const B v = B::load_unaligned(g + i);
                return w ? v * B::load_unaligned(w + i) : v;
            };
            B sg(T(0)), sgx(T(0));
            int64_t i = 0;
            for (; i < body; i += W) {
                const B gv = grad_at(i);
                sg += gv;
                sgx = xsimd::fma(gv, (B::load_unaligned(xr + i) - m) * s, sgx);
            }
            double sum_g = double(xsimd::hadd(sg)), sum_gx = double(xsimd::hadd(sgx));
            for (; i < len; ++i) {
                const T gv = w ? g[i] * w[i] : g[i];
                sum_g += double(gv);
                sum_gx += double(gv) * double((xr[i] - mean[r]) * rstd[r]);
            }
            const T mg = T(sum_g / double(len)), mgx = T(sum_gx / double(len));
            const B vmg(mg), vmgx(mgx);
            for (i = 0; i < body; i += W) {
                const B xhat = (B::load_unaligned(xr + i) - m) * s;
                ((grad_at(i) - vmg - xhat * vmgx) * s).store_unaligned(out + i);
            }
            for (; i < len; ++i) {
                const T gv = w ? g[i] * w[i] : g[i];
                const T xhat = (xr[i] - mean[r]) * rstd[r];
                out[i] = (gv - mg - xhat * mgx) * rstd[r];
            }
        }
    }

    // ======================================= reductions (reduce.cpp: `red`, reduce branch)
    // max/min that propagate nan (nan_extreme), and the position of the first extreme (a nan
    // counts as the extreme). Order-free, so a result never depends on how the work was split;
    // rows and columns are walked in memory order.
    template <bool MAX>
    static B extreme(const B& a, const B& b) { return nan_extreme<MAX>(a, b); }
    template <bool MAX>
    static T extreme_scalar(T a, T b) { return ((MAX ? a > b : a < b) || a != a) ? a : b; }

    template <bool MAX>
    static constexpr T extreme_identity() {
        return MAX ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    }

    // The extreme of a row of len >= W elements folded lane-wise into one vector.
    template <bool MAX>
    static B row_extreme_vector(const T* row, int64_t len) {
        const T start = extreme_identity<MAX>();
        B a0 = B::load_unaligned(row), a1(start), a2(start), a3(start);
        int64_t i = W;
        for (; i + 4 * W <= len; i += 4 * W) {   // four chains: not bound by the select's latency
            a0 = extreme<MAX>(a0, B::load_unaligned(row + i));
            a1 = extreme<MAX>(a1, B::load_unaligned(row + i + W));
            a2 = extreme<MAX>(a2, B::load_unaligned(row + i + 2 * W));
            a3 = extreme<MAX>(a3, B::load_unaligned(row + i + 3 * W));
        }
        for (; i + W <= len; i += W) a1 = extreme<MAX>(a1, B::load_unaligned(row + i));
        // the tail as the row's last vector: max/min are idempotent
        if (i < len) a2 = extreme<MAX>(a2, B::load_unaligned(row + len - W));
        return extreme<MAX>(extreme<MAX>(a0, a1), extreme<MAX>(a2, a3));
    }

    template <bool MAX>
    static T row_extreme_one(const T* row, int64_t len) {
        T best = extreme_identity<MAX>();
        if (len < W) {
            for (int64_t i = 0; i < len; ++i) best = extreme_scalar<MAX>(best, row[i]);
            return best;
        }
        const B all = row_extreme_vector<MAX>(row, len);
        if (xsimd::any(xsimd::isnan(all))) return std::numeric_limits<T>::quiet_NaN();
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<Arch, xsimd::avx512bw>) {
            // the lanes halved in registers (log2(W) shuffles), not through memory
            if constexpr (std::is_same_v<T, float>)
                return MAX ? _mm512_reduce_max_ps(all) : _mm512_reduce_min_ps(all);
            else
                return MAX ? _mm512_reduce_max_pd(all) : _mm512_reduce_min_pd(all);
        }
#endif
        // no nan among the lanes: halve them with plain max/min (log2(W) dependent steps, no
        // branch per lane)
        alignas(64) T lanes[W];
        all.store_aligned(lanes);
        for (int64_t half = W / 2; half >= 1; half /= 2)
            for (int64_t k = 0; k < half; ++k)
                lanes[k] = MAX ? std::max(lanes[k], lanes[k + half]) : std::min(lanes[k], lanes[k + half]);
        return lanes[0];
    }

#if defined(__AVX512F__)
    // ------------------------------------------------ rows four at a time (AVX-512)
    // When rows are short, a row's own horizontal step (log2(W) dependent shuffles, a nan
    // test) is most of its work. Here each row folds lane-wise into one vector (its end a
    // masked load filled with the identity, so no scalar tail and no read past the row), then
    // four rows' vectors fold together: 256- and 128-bit lane swaps pair up rows, two in-lane
    // permutes finish, and 128-bit lane k holds row k's result: about a quarter of the
    // shuffles, and no dependent chain longer than a row's. A row's lanes meet only its own,
    // through the same steps whatever slot and group it lands in (a last group short of four
    // repeats its last row), so a result never depends on how the rows were split.
    // (Gathering W rows across lanes instead was measured slower on AMD Zen 5: 2.2x torch's
    // sum of 4096 rows of 10, where this is under it.)
    static constexpr bool FOUR_ROWS = std::is_same_v<Arch, xsimd::avx512bw>;

    // lanes [0, n) of the vector at p (0 < n <= lanes of V), the rest `fill`
    template <class V>
    static V load_head(const typename V::value_type* p, int64_t n, typename V::value_type fill) {
        if constexpr (std::is_same_v<typename V::value_type, float>)
            return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), __mmask16((1u << n) - 1), p);
        else
            return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), __mmask8((1u << n) - 1), p);
    }

    // v[0..3] folded lane-wise by op into 128-bit lane k = row k (every element of that lane)
    template <class V, class Op>
    static V fold_four(const V* v, Op op) {
        if constexpr (std::is_same_v<typename V::value_type, float>) {
            auto pair = [&](const V& a, const V& b) {   // [a across its 256-bit halves, b likewise]
                return op(V(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0))),
                          V(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2))));
            };
            const V h01 = pair(v[0], v[1]), h23 = pair(v[2], v[3]);
            V q = op(V(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(2, 0, 2, 0))),
                     V(_mm512_shuffle_f32x4(h01, h23, _MM_SHUFFLE(3, 1, 3, 1))));
            q = op(q, V(_mm512_permute_ps(q, _MM_SHUFFLE(1, 0, 3, 2))));
            return op(q, V(_mm512_permute_ps(q, _MM_SHUFFLE(2, 3, 0, 1))));
        } else {
            auto pair = [&](const V& a, const V& b) {
                return op(V(_mm512_shuffle_f64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0))),
                          V(_mm512_shuffle_f64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2))));
            };
            const V h01 = pair(v[0], v[1]), h23 = pair(v[2], v[3]);
            const V q = op(V(_mm512_shuffle_f64x2(h01, h23, _MM_SHUFFLE(2, 0, 2, 0))),
                           V(_mm512_shuffle_f64x2(h01, h23, _MM_SHUFFLE(3, 1, 3, 1))));
            return op(q, V(_mm512_permute_pd(q, 0x55)));
        }
    }

    // element 0 of each 128-bit lane of a fold_four result into out[0, n), n <= 4
    template <class V>
    static void store_four(const V& q, typename V::value_type* out, int64_t n) {
        alignas(64) typename V::value_type lanes[V::size];
        q.store_aligned(lanes);
        constexpr int64_t step = int64_t(V::size) / 4;
        for (int64_t k = 0; k < n; ++k) out[k] = lanes[k * step];
    }

    // out[r] = fold of row r for r in [0, rows): row_vector(row) folds a row into a vector V,
    // op combines two (lane-wise). A last group of fewer than four rows fills its free slots
    // with the last row again (folded, not stored: at most three rows a call).
    template <class V, class Out, class RowVector, class Op>
    static void four_rows(const T* x, int64_t rows, int64_t row_stride, Out* out,
                          RowVector row_vector, Op op) {
        for (int64_t r = 0; r < rows; r += 4) {
            V v[4];
            for (int64_t k = 0; k < 4; ++k)
                v[k] = row_vector(x + std::min(r + k, rows - 1) * row_stride);
            store_four(fold_four(v, op), out + r, std::min<int64_t>(4, rows - r));
        }
    }

    template <bool MAX>
    static void four_rows_extreme(const T* x, int64_t rows, int64_t len, int64_t row_stride,
                                  T* out) {
        auto row_vector = [len](const T* row) {
            return len < W ? load_head<B>(row, len, extreme_identity<MAX>())
                           : row_extreme_vector<MAX>(row, len);
        };
        four_rows<B>(x, rows, row_stride, out, row_vector,
                     [](const B& a, const B& b) { return extreme<MAX>(a, b); });
    }
#endif

    static void row_extreme(bool is_max, const T* x, int64_t rows, int64_t len, int64_t row_stride,
                            T* out) {
#if defined(__AVX512F__)
        if constexpr (FOUR_ROWS) {
            if (len > 0) {
                if (is_max) four_rows_extreme<true>(x, rows, len, row_stride, out);
                else four_rows_extreme<false>(x, rows, len, row_stride, out);
                return;
            }
        }
#endif
        if (across_rows(rows, len, row_stride)) {
            if (is_max) short_rows_extreme<true>(x, rows, len, out);
            else short_rows_extreme<false>(x, rows, len, out);
            return;
        }
        for (int64_t r = 0; r < rows; ++r)
            out[r] = is_max ? row_extreme_one<true>(x + r * row_stride, len)
                            : row_extreme_one<false>(x + r * row_stride, len);
    }

    template <bool MAX>
    static void column_extreme_of(const T* x, int64_t rows, int64_t cols, int64_t s, T* acc) {
        int64_t r = 0;
        for (; r + 4 <= rows; r += 4) {   // four rows as a tree per accumulator load and store
            const T* b = x + r * s;
            int64_t k = 0;
            for (; k + W <= cols; k += W) {
                const B v = extreme<MAX>(
                    extreme<MAX>(B::load_unaligned(b + k), B::load_unaligned(b + s + k)),
                    extreme<MAX>(B::load_unaligned(b + 2 * s + k), B::load_unaligned(b + 3 * s + k)));
                extreme<MAX>(B::load_unaligned(acc + k), v).store_unaligned(acc + k);
            }
            for (; k < cols; ++k)
                acc[k] = extreme_scalar<MAX>(
                    acc[k], extreme_scalar<MAX>(extreme_scalar<MAX>(b[k], b[s + k]),
                                                extreme_scalar<MAX>(b[2 * s + k], b[3 * s + k])));
        }
        for (; r < rows; ++r) {
            const T* b = x + r * s;
            int64_t k = 0;
            for (; k + W <= cols; k += W)
                extreme<MAX>(B::load_unaligned(acc + k), B::load_unaligned(b + k)).store_unaligned(acc + k);
            for (; k < cols; ++k) acc[k] = extreme_scalar<MAX>(acc[k], b[k]);
        }
    }

    static void column_extreme(bool is_max, const T* x, int64_t rows, int64_t cols,
                               int64_t row_stride, T* acc) {
        if (is_max) column_extreme_of<true>(x, rows, cols, row_stride, acc);
        else column_extreme_of<false>(x, rows, cols, row_stride, acc);
    }

    // The extreme first (vectorised), then its first position: two passes over a row that is
    // in cache by the second, instead of a compare-and-branch per element.
    template <bool MAX>
    static int64_t row_arg_extreme_one(const T* row, int64_t len) {
        const T best = row_extreme_one<MAX>(row, len);
        if (best != best) {
            for (int64_t i = 0; i < len; ++i)
                if (row[i] != row[i]) return i;
        }
        const B target(best);
        int64_t i = 0;
        for (; i + W <= len; i += W)
            if (xsimd::any(B::load_unaligned(row + i) == target)) break;
        for (; i < len; ++i)
            if (row[i] == best) return i;
        return 0;   // not reached: best is one of the elements
    }

    static void row_arg_extreme(bool is_max, const T* x, int64_t rows, int64_t len,
                                int64_t row_stride, int64_t* out) {
        if (across_rows(rows, len, row_stride)) {
            if (is_max) short_rows_arg_extreme<true>(x, rows, len, out);
            else short_rows_arg_extreme<false>(x, rows, len, out);
            return;
        }
        for (int64_t r = 0; r < rows; ++r)
            out[r] = is_max ? row_arg_extreme_one<true>(x + r * row_stride, len)
                            : row_arg_extreme_one<false>(x + r * row_stride, len);
    }

    // Down the columns in row order, each column's best value and its row (held as a T: exact
    // for rows < 2^24 in float32, which the caller ensures) in vectors; a row replaces the best
    // only if strictly better, or a nan where the best is not one, so the first extreme wins.
    template <bool MAX>
    static void column_arg_extreme_of(const T* x, int64_t rows, int64_t cols, int64_t s,
                                      int64_t* out) {
        std::vector<T> best(x, x + cols), where(size_t(cols), T(0));
        T* bp = best.data();
        T* wp = where.data();
        for (int64_t r0 = 1; r0 < rows; r0 += 4) {
            const int64_t r1 = std::min(rows, r0 + 4);
            int64_t k = 0;
            for (; k + W <= cols; k += W) {
                B bv = B::load_unaligned(bp + k), wv = B::load_unaligned(wp + k);
                for (int64_t r = r0; r < r1; ++r) {
                    const B v = B::load_unaligned(x + r * s + k);
                    const auto better = (MAX ? v > bv : v < bv) | (xsimd::isnan(v) & (bv == bv));
                    bv = xsimd::select(better, v, bv);
                    wv = xsimd::select(better, B(T(r)), wv);
                }
                bv.store_unaligned(bp + k);
                wv.store_unaligned(wp + k);
            }
            for (; k < cols; ++k)
                for (int64_t r = r0; r < r1; ++r) {
                    const T v = x[r * s + k];
                    if ((MAX ? v > bp[k] : v < bp[k]) || (v != v && bp[k] == bp[k])) {
                        bp[k] = v;
                        wp[k] = T(r);
                    }
                }
        }
        for (int64_t k = 0; k < cols; ++k) out[k] = int64_t(wp[k]);
    }

    static void column_arg_extreme(bool is_max, const T* x, int64_t rows, int64_t cols,
                                   int64_t row_stride, int64_t* out) {
        if (is_max) column_arg_extreme_of<true>(x, rows, cols, row_stride, out);
        else column_arg_extreme_of<false>(x, rows, cols, row_stride, out);
    }

    // ------------------------------------------------ short rows, vectorised across rows
    // A row of a few vectors or less leaves the per-row kernels above mostly overhead (a
    // horizontal step and a scalar tail per row; a 10-element row has no full AVX-512 vector).
    // So W rows of a dense (rows, len) block go down together, one per lane, like columns:
    // element j of W rows len apart is one gather, and each lane sees its row in element order.
    // The last rows % W rows go one by one through the per-row kernels (for a sum: the same
    // element order, see dense_row_sum).
    // Rows of a vector or more go faster one by one: a gather costs about 1.5 cycles an element
    // (AVX-512, max of 4096 x 32: 62 us gathered, torch 32 us). On AVX-512 max/min and short
    // sums take four_rows instead (in-register shuffles, no gathers); argmax and the narrower
    // ISAs take these.
    static constexpr int64_t SHORT_ROW_VECTORS = 1;
    using Index = xsimd::batch<std::conditional_t<sizeof(T) == 4, int32_t, int64_t>, Arch>;
    static_assert(int64_t(Index::size) == W, "one gather index per lane");

    static bool across_rows(int64_t rows, int64_t len, int64_t row_stride,
                            int64_t below = SHORT_ROW_VECTORS * W) {
        return row_stride == len && len < below && rows >= W && len > 1;
    }

    // lane k's offset: the start of row k of a block
    static Index row_starts(int64_t len) {
        alignas(64) typename Index::value_type at[W];
        for (int64_t k = 0; k < W; ++k) at[k] = typename Index::value_type(k * len);
        return Index::load_aligned(at);
    }

    template <bool MAX>
    static void short_rows_extreme(const T* x, int64_t rows, int64_t len, T* out) {
        const Index at = row_starts(len);
        int64_t r = 0;
        for (; r + W <= rows; r += W) {
            const T* block = x + r * len;
            B even = B::gather(block, at), odd = B::gather(block + 1, at);   // two chains
            int64_t j = 2;
            for (; j + 2 <= len; j += 2) {
                even = extreme<MAX>(even, B::gather(block + j, at));
                odd = extreme<MAX>(odd, B::gather(block + j + 1, at));
            }
            if (j < len) even = extreme<MAX>(even, B::gather(block + j, at));
            extreme<MAX>(even, odd).store_unaligned(out + r);
        }
        for (; r < rows; ++r) out[r] = row_extreme_one<MAX>(x + r * len, len);
    }

    // The first extreme of each lane's row (the first nan, if any): a later element replaces
    // the best only if strictly better, or a nan where the best is not one. Positions held as
    // a T (exact: a short row's).
    template <bool MAX>
    static void short_rows_arg_extreme(const T* x, int64_t rows, int64_t len, int64_t* out) {
        const Index at = row_starts(len);
        alignas(64) T lanes[W];
        int64_t r = 0;
        for (; r + W <= rows; r += W) {
            const T* block = x + r * len;
            B best = B::gather(block, at), where(T(0));
            for (int64_t j = 1; j < len; ++j) {
                const B v = B::gather(block + j, at);
                const auto better = (MAX ? v > best : v < best) | (xsimd::isnan(v) & (best == best));
                best = xsimd::select(better, v, best);
                where = xsimd::select(better, B(T(j)), where);
            }
            where.store_aligned(lanes);
            for (int64_t k = 0; k < W; ++k) out[r + k] = int64_t(lanes[k]);
        }
        for (; r < rows; ++r) out[r] = row_arg_extreme_one<MAX>(x + r * len, len);
    }

    // The float32 sum of a row as a cascade, like the column sums': blocks of ROW_BLOCK
    // elements added in float32 vectors (four accumulators of up to eight vectors each, then
    // a tree of two), each block's vector widened into float64 accumulators: a float32 add
    // per W elements where widening everything costs twice that. Error per row, u = 2^-24:
    // within 11 u sum|x| (the column cascade's bound is 19 u) plus float64's additions.
    // A row shorter than 4 float64 vectors is added in element order in float64 (dense_sum's
    // order for it; the across-rows kernels of dense_row_sum take their own order, the same for
    // every row of a call).
    static constexpr int64_t ROW_BLOCK = 32 * W;

    static double row_sum_cascade(const T* x, int64_t len) {
        using D = xsimd::batch<double, Arch>;
        constexpr int64_t DW = int64_t(D::size);
        if constexpr (!std::is_same_v<T, float>) return dense_sum(x, len);
        static_assert(!std::is_same_v<T, float> || W == 2 * DW, "a float32 vector widens to two float64 ones");
        if (len < 4 * DW) return dense_sum(x, len);
        alignas(64) T lanes[W];
        D low(0.0), high(0.0);
        int64_t i = 0;
        for (; i + W <= len; ) {
            const int64_t end = std::min(len, i + ROW_BLOCK);
            B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
            for (; i + 4 * W <= end; i += 4 * W) {
                a0 += B::load_unaligned(x + i);
                a1 += B::load_unaligned(x + i + W);
                a2 += B::load_unaligned(x + i + 2 * W);
                a3 += B::load_unaligned(x + i + 3 * W);
            }
            for (; i + W <= end; i += W) a0 += B::load_unaligned(x + i);
            ((a0 + a1) + (a2 + a3)).store_aligned(lanes);
            low += D::load_aligned(lanes);
            high += D::load_aligned(lanes + DW);
        }
        double total = xsimd::hadd(low + high);
        for (; i < len; ++i) total += double(x[i]);
        return total;
    }

    // Sums of `rows` dense rows of len elements laid end to end, in float64 (float32 rows by
    // row_sum_cascade): rows shorter than four float64 vectors W at a time across lanes, each added in element order
    // (float32 widened first), as row_sum_cascade adds a row shorter than four float64
    // vectors: so only such rows, and a row's sum never depends on which rows share its call
    // (a thread's share).
    static void dense_row_sum(const T* x, int64_t rows, int64_t len, double* out) {
        using D = xsimd::batch<double, Arch>;
        constexpr int64_t DW = int64_t(D::size);
#if defined(__AVX512F__)
        if constexpr (FOUR_ROWS) {
            if (len > 0 && len < 4 * DW) {
                // a short row widened to float64 and added a vector of W at a time (lanes j,
                // j + DW, ... of the row), its end a masked load of zeros: a different order
                // from the per-row cascade's, but every row of a call is added alike
                auto row_vector = [len](const T* row) {
                    D acc(0.0);
                    for (int64_t j = 0; j < len; j += W) {
                        const B v = len - j >= W ? B::load_unaligned(row + j)
                                                 : load_head<B>(row + j, len - j, T(0));
                        if constexpr (std::is_same_v<T, float>) {
                            acc += D(_mm512_cvtps_pd(_mm512_castps512_ps256(v)));
                            acc += D(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
                        } else {
                            acc += v;
                        }
                    }
                    return acc;
                };
                four_rows<D>(x, rows, len, out, row_vector, [](const D& a, const D& b) { return a + b; });
                return;
            }
        }
#endif
        if (!across_rows(rows, len, len, 4 * DW)) {
            for (int64_t r = 0; r < rows; ++r) out[r] = row_sum_cascade(x + r * len, len);
            return;
        }
        const Index at = row_starts(len);
        int64_t r = 0;
        for (; r + W <= rows; r += W) {
            const T* block = x + r * len;
            if constexpr (std::is_same_v<T, float>) {
                static_assert(W == 2 * DW, "a float32 vector widens to two float64 ones");
                alignas(64) float lanes[W];
                D low(0.0), high(0.0);
                for (int64_t j = 0; j < len; ++j) {
                    B::gather(block + j, at).store_aligned(lanes);
                    low += D::load_aligned(lanes);
                    high += D::load_aligned(lanes + DW);
                }
                low.store_unaligned(out + r);
                high.store_unaligned(out + r + DW);
            } else {
                B acc(0.0);
                for (int64_t j = 0; j < len; ++j) acc += B::gather(block + j, at);
                acc.store_unaligned(out + r);
            }
        }
        for (; r < rows; ++r) out[r] = row_sum_cascade(x + r * len, len);
    }
    // ============================================================== end of reductions

    // ===================================== activation derivatives (fusion chain steps: `actd`)
    // GELU's derivative Phi(x) + x phi(x) (Phi the normal CDF, phi its density), the chain
    // step ChainStep::GELU_DERIVATIVE: one pass instead of erf and exp taking a chain each.
    // float32 shares erfc_nonnegative's exp(-z^2), z = |x| / sqrt 2: that is sqrt(2 pi) phi(x).
    // Unlike the other steps it is not bit for bit the op-by-op formula (erf and exp rounded
    // apart): within a few ulp, tested against PyTorch's float64 GELU backward.
    static B gelu_derivative(const B& x) {
        constexpr T INV_SQRT_2PI = T(0.39894228040143267794);
        const B zero(T(0));
        if constexpr (std::is_same_v<T, float>) {
            const B z = xsimd::abs(x) * B(0.70710678118654752440f);
            const B zc = xsimd::min(z, B(10.f));
            const B gauss = xsimd::exp(-(zc * zc));
            const B d = xsimd::fma(B(0.5f), zc, B(1.f));
            B t = xsimd::reciprocal(d);
            t = t * xsimd::fnma(d, t, B(2.f));
            const B e = t * erfc_polynomial(t) * gauss;   // erfc(z)
            const B cdf = B(0.5f) * xsimd::select(x > zero, B(2.f) - e, e);
            // past the clamp the density underflows to 0 (inf * 0: nan, as the formula's)
            return cdf + x * (xsimd::select(z < B(10.f), gauss, zero) * B(INV_SQRT_2PI));
        } else {
            const B cdf = B(T(0.5)) * xsimd::erfc(x * B(T(-0.70710678118654752440)));
            return cdf + x * (xsimd::exp(B(T(-0.5)) * x * x) * B(INV_SQRT_2PI));
        }
    }
};

// Comparisons producing bytes (Kernels::compare). A template of Arch, as everything here, so
// each instruction set's file has its own copy.
template <class Arch>
struct Compare {
    template <class T, int OP, bool A_SCALAR, bool B_SCALAR>
    static void run(const T* a, const T* b, bool* out, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
            const T x = a[A_SCALAR ? 0 : i], y = b[B_SCALAR ? 0 : i];
            if constexpr (OP == EQ) out[i] = x == y;
            else if constexpr (OP == NE) out[i] = x != y;
            else if constexpr (OP == LT) out[i] = x < y;
            else if constexpr (OP == LE) out[i] = x <= y;
            else if constexpr (OP == GT) out[i] = x > y;
            else out[i] = x >= y;
        }
    }

    template <class T, int OP>
    static void typed(const void* a, bool as, const void* b, bool bs, bool* out, int64_t n) {
        const T *x = static_cast<const T*>(a), *y = static_cast<const T*>(b);
        if (as) run<T, OP, true, false>(x, y, out, n);
        else if (bs) run<T, OP, false, true>(x, y, out, n);
        else run<T, OP, false, false>(x, y, out, n);
    }

    template <int OP>
    static bool of_dtype(DType dtype, const void* a, bool as, const void* b, bool bs, bool* out,
                         int64_t n) {
        switch (dtype) {
            case F32: typed<float, OP>(a, as, b, bs, out, n); return true;
            case F64: typed<double, OP>(a, as, b, bs, out, n); return true;
            case I32: typed<int32_t, OP>(a, as, b, bs, out, n); return true;
            case I64: typed<int64_t, OP>(a, as, b, bs, out, n); return true;
            default: return false;
        }
    }

    static bool kernel(int op, DType dtype, const void* a, bool as, const void* b, bool bs,
                       bool* out, int64_t n) {
        switch (op) {
            case EQ: return of_dtype<EQ>(dtype, a, as, b, bs, out, n);
            case NE: return of_dtype<NE>(dtype, a, as, b, bs, out, n);
            case LT: return of_dtype<LT>(dtype, a, as, b, bs, out, n);
            case LE: return of_dtype<LE>(dtype, a, as, b, bs, out, n);
            case GT: return of_dtype<GT>(dtype, a, as, b, bs, out, n);
            case GE: return of_dtype<GE>(dtype, a, as, b, bs, out, n);
            default: return false;
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
                   // nnk
                   &Impl<Arch, float>::activation, &Impl<Arch, double>::activation,
                   &Impl<Arch, float>::softmax_rows, &Impl<Arch, double>::softmax_rows,
                   &Impl<Arch, float>::cross_entropy_rows, &Impl<Arch, double>::cross_entropy_rows,
                   &Impl<Arch, float>::softmax_cols, &Impl<Arch, double>::softmax_cols,
                   &Impl<Arch, float>::softmax_backward_rows,
                   &Impl<Arch, double>::softmax_backward_rows,
                   &Impl<Arch, float>::softmax_backward_cols,
                   &Impl<Arch, double>::softmax_backward_cols,
                   &Impl<Arch, float>::row_sum, &Impl<Arch, double>::row_sum,
                   &Impl<Arch, float>::layer_norm_rows, &Impl<Arch, double>::layer_norm_rows,
                   &Impl<Arch, float>::layer_norm_backward_rows,
                   &Impl<Arch, double>::layer_norm_backward_rows,
                   // fuse
                   &Impl<Arch, float>::chain, &Impl<Arch, double>::chain,
                   // red
                   &Impl<Arch, float>::row_extreme, &Impl<Arch, double>::row_extreme,
                   &Impl<Arch, float>::column_extreme, &Impl<Arch, double>::column_extreme,
                   &Impl<Arch, float>::row_arg_extreme, &Impl<Arch, double>::row_arg_extreme,
                   &Impl<Arch, float>::column_arg_extreme,
                   &Impl<Arch, double>::column_arg_extreme,
                   // comparisons
                   &Compare<Arch>::kernel};
}

}  // namespace mgcpu::simd
