// Reductions (sum, prod, max, min), argmax/argmin, topk and cumsum.
//
// A reduction walks the input in its own memory order with an accumulator array whose strides
// are 0 along the reduced axes, so row and column reductions are the same loop. Floating sums
// and products accumulate in float64 (float16/bfloat16 in particular never accumulate in 16 bits),
// except float32 column sums, whose SIMD kernel adds blocks of 128 rows in float32 and the blocks
// in float64 (simd_impl.hpp: within 19 u sum|x|, u = 2^-24, at any row count; numpy's axis-0
// float32 sum is within n u, torch's cascade within O(log n) u), and float32 row sums, likewise
// blocks of 32 vectors in float32 and the blocks in float64 (within 11 u sum|x|).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

// Whether the axis with the smallest stride (memory order's innermost) is reduced. Only then
// does walking kept axes first read memory in order; otherwise (a column sum, say) that order
// would stride across rows, and walking in memory order into a row of accumulators is faster.
bool innermost_reduced(const Array& x, const std::vector<bool>& reduced) {
    int inner = -1;
    for (int d = 0; d < x.ndim(); ++d)
        if (x.shape[d] > 1 && (inner < 0 || std::abs(x.strides[d]) < std::abs(x.strides[inner])))
            inner = d;
    return inner < 0 || reduced[inner];
}

// A dense x is a list of runs: neighbouring axes (sizes 1 aside) that are all reduced or all
// kept, merged, outermost first. A sum over (0, 2, 3) of an NCHW array (batch norm's
// statistics, a convolution's bias gradient) is (N reduced, C kept, HW reduced).
struct Run {
    int64_t size;
    bool reduced;
};

std::vector<Run> axis_runs(const Array& x, const std::vector<bool>& reduced,
                           const std::vector<int>& order) {
    std::vector<Run> runs;
    for (int d : order) {
        if (x.shape[d] == 1) continue;
        if (!runs.empty() && runs.back().reduced == reduced[d]) runs.back().size *= x.shape[d];
        else runs.push_back({x.shape[d], bool(reduced[d])});
    }
    return runs;
}

// The axes of x (sizes 1 left out) from the outermost in memory to the innermost, when x is a
// dense array in that order: contiguous, or a transpose or permutation of a contiguous array.
// Reducing such an x in its memory order reads it once, in order, whatever axes are asked for.
bool memory_order(const Array& x, std::vector<int>& order) {
    order.clear();
    for (int d = 0; d < x.ndim(); ++d)
        if (x.shape[d] > 1) order.push_back(d);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return x.strides[a] > x.strides[b]; });
    int64_t dense = 1;
    for (auto d = order.rbegin(); d != order.rend(); ++d) {
        if (x.strides[*d] != dense) return false;
        dense *= x.shape[*d];
    }
    return true;
}

// One reduced run of a dense x is a (P, R, K) block: P kept outer elements, R reduced, K kept
// inner ones. A column sum is P = 1, a row sum K = 1; a reduction over a middle axis is P
// column reductions of (R, K) matrices.
struct Blocks {
    int64_t outer = 1, reduced = 1, inner = 1;
};

// The block of run j of runs: everything outside it is outer or inner, reduced or not.
Blocks block_of_run(const std::vector<Run>& runs, size_t j) {
    Blocks b;
    for (size_t i = 0; i < runs.size(); ++i)
        (i < j ? b.outer : i == j ? b.reduced : b.inner) *= runs[i].size;
    return b;
}

// Whether the kept axes come in memory order as they do in x's shape: then the results of a
// reduction in memory order are in the output's order.
bool kept_in_order(const std::vector<int>& order, const std::vector<bool>& reduced) {
    int previous = -1;
    for (int d : order) {
        if (reduced[d]) continue;
        if (d < previous) return false;
        previous = d;
    }
    return true;
}

// Whether x is dense in memory order with at most one reduced run and its kept axes in order,
// and its block if so.
bool as_blocks(const Array& x, const std::vector<bool>& reduced, Blocks& b) {
    std::vector<int> order;
    if (!memory_order(x, order) || !kept_in_order(order, reduced)) return false;
    const std::vector<Run> runs = axis_runs(x, reduced, order);
    size_t j = runs.size();
    for (size_t i = 0; i < runs.size(); ++i) {
        if (!runs[i].reduced) continue;
        if (j < runs.size()) return false;
        j = i;
    }
    b = block_of_run(runs, j);
    return true;
}

// Reductions split over threads only from this many input bytes. Below it the calling thread,
// whose caches already hold the data, does better than the pool's wake-up (5-50 us when the
// worker sleeps). Measured at 2 threads on a 2-core AMD Zen 5, for 512 KB (amax over 4096 rows
// of 32): split, 10.3 us instead of 15.7 with the pool warm (ops back to back, as in a training
// step), and 29.7 us instead of 25.9 for one call after 5 ms idle; 256 KB (a 256 x 256 row
// sum) was 3.3 us split against 3.1 on one thread, warm. (1 MB until then, measured on a busy
// machine.)
constexpr int64_t REDUCE_PARALLEL_BYTES = int64_t(1) << 19;

bool reduce_threads_pay(int64_t elements, int64_t itemsize) {
    return num_threads() > 1 && elements * itemsize >= REDUCE_PARALLEL_BYTES;
}

// Calls cols(p, k0, k1) for the P blocks of K columns, over threads when the work is large:
// whole blocks per thread when there are enough of them, else slices of whole cache lines of
// one block's columns. Each output element is computed by one call, so the split (the thread
// count) never changes a result.
template <class F>
void for_column_slices(const Blocks& b, int64_t itemsize, F cols) {
    const int64_t P = b.outer, K = b.inner;
    if (!reduce_threads_pay(P * b.reduced * K, itemsize)) {
        for (int64_t p = 0; p < P; ++p) cols(p, 0, K);
        return;
    }
    if (P >= 2 * num_threads()) {
        parallel_for(P, 1, [&](int64_t p0, int64_t p1) {
            for (int64_t p = p0; p < p1; ++p) cols(p, 0, K);
        });
        return;
    }
    const int64_t line = 64 / itemsize, lines = (K + line - 1) / line;
    for (int64_t p = 0; p < P; ++p)
        parallel_for(lines, std::max<int64_t>(1, 256 / line), [&](int64_t l0, int64_t l1) {
            cols(p, l0 * line, std::min(K, l1 * line));
        });
}

template <class T, int OP>
struct Reducer {
    using C = compute_t<T>;
    using Acc = std::conditional_t<(OP == SUM || OP == PROD) && std::is_floating_point_v<C>,
                                   double, C>;

    static Acc identity() {
        if constexpr (OP == SUM) return Acc(0);
        else if constexpr (OP == PROD) return Acc(1);
        else if constexpr (std::is_floating_point_v<Acc>)
            return OP == MAX ? -INFINITY : INFINITY;
        else return OP == MAX ? std::numeric_limits<Acc>::lowest() : std::numeric_limits<Acc>::max();
    }

    static Acc combine(Acc a, Acc b) {
        if constexpr (OP == SUM) {
            if constexpr (std::is_same_v<Acc, bool>) return a || b;
            else if constexpr (std::is_floating_point_v<Acc>) return a + b;
            else return Acc(uint64_t(a) + uint64_t(b));
        } else if constexpr (OP == PROD) {
            if constexpr (std::is_same_v<Acc, bool>) return a && b;
            else if constexpr (std::is_floating_point_v<Acc>) return a * b;
            else return Acc(uint64_t(a) * uint64_t(b));
        } else if constexpr (OP == MAX) {
            if constexpr (std::is_floating_point_v<Acc>) return (a >= b || a != a) ? a : b;
            else return a > b ? a : b;
        } else {
            if constexpr (std::is_floating_point_v<Acc>) return (a <= b || a != a) ? a : b;
            else return a < b ? a : b;
        }
    }

    // inner run: x advances by sx bytes, the accumulator by sa bytes (0: all into one slot)
    static void run(const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
        const char* x = p[0];
        if (s[1] == 0 && n >= 64) {
            // a run into one slot (dense, or a strided slice's or a flip's row): eight
            // independent partial results break the loop-carried dependency so the loop
            // pipelines (and, dense, vectorises)
            const int64_t step = s[0];
            Acc part[8];
            std::fill_n(part, 8, identity());
            int64_t i = 0;
            for (; i + 8 <= n; i += 8)
                for (int k = 0; k < 8; ++k)
                    part[k] = combine(part[k], Acc(load<T>(x + (i + k) * step)));
            Acc acc = *reinterpret_cast<Acc*>(p[1]);
            for (int k = 0; k < 8; ++k) acc = combine(acc, part[k]);
            for (; i < n; ++i) acc = combine(acc, Acc(load<T>(x + i * step)));
            *reinterpret_cast<Acc*>(p[1]) = acc;
            return;
        }
        if (s[1] == 0) {
            Acc acc = *reinterpret_cast<Acc*>(p[1]);
            for (int64_t i = 0; i < n; ++i, x += s[0]) acc = combine(acc, Acc(load<T>(x)));
            *reinterpret_cast<Acc*>(p[1]) = acc;
            return;
        }
        if (s[0] == int64_t(sizeof(T)) && s[1] == int64_t(sizeof(Acc))) {
            // both dense (a row added into a row of accumulators): a plain loop that the
            // compiler vectorises
            Acc* acc = reinterpret_cast<Acc*>(p[1]);
            for (int64_t i = 0; i < n; ++i)
                acc[i] = combine(acc[i], Acc(load<T>(x + i * int64_t(sizeof(T)))));
            return;
        }
        char* a = p[1];
        for (int64_t i = 0; i < n; ++i, x += s[0], a += s[1]) {
            Acc& slot = *reinterpret_cast<Acc*>(a);
            slot = combine(slot, Acc(load<T>(x)));
        }
    }

    static Array reduce(const Array& x, const std::vector<bool>& reduced, const Shape& out_shape) {
        Array out = empty(out_shape, x.dtype);
        const int64_t out_n = out.numel();
        // not std::vector: vector<bool> has no data()
        std::unique_ptr<Acc[]> acc(new Acc[size_t(std::max<int64_t>(out_n, 1))]);
        std::fill_n(acc.get(), std::max<int64_t>(out_n, 1), identity());
        // accumulator strides over the input's dims: 0 on reduced axes
        Shape acc_strides(x.ndim(), 0);
        int64_t stride = sizeof(Acc);
        for (int d = x.ndim() - 1; d >= 0; --d) {
            if (reduced[d]) continue;
            acc_strides[d] = stride;
            stride *= x.shape[d];
        }
        char* acc_ptr = reinterpret_cast<char*>(acc.get());
        const int64_t total = x.numel();
        constexpr bool vector_op = (std::is_same_v<T, float> || std::is_same_v<T, double>) &&
                                   OP != PROD;
        if constexpr (vector_op) {
            // the SIMD kernels, over x in its memory order (a middle axis with fewer kept inner
            // elements than a vector runs their scalar column tails: still one call per block,
            // where the walk below makes one per handful of elements)
            std::vector<int> order;
            if (total > 0 && memory_order(x, order)) {
                reduce_runs(reinterpret_cast<const T*>(x.ptr()), axis_runs(x, reduced, order),
                            acc.get());
                if (kept_in_order(order, reduced)) return finish(out, acc.get());
                return finish_in_memory_order(out, x, reduced, order, acc.get());
            }
        }
        Blocks blocks;
        const bool dense_blocks = total > 0 && as_blocks(x, reduced, blocks);
        if (total >= (1 << 17) && out_n >= 64 && dense_blocks && blocks.outer == 1) {
            // Column-style (a dense x whose reduced axes all come first): x is (R, K) with
            // the K kept elements of a row contiguous. Threads own slices of the K
            // accumulators and add the rows into them in memory order.
            const int64_t K = out_n, R = total / K;
            const T* px = reinterpret_cast<const T*>(x.ptr());
            parallel_for(K, std::max<int64_t>(64, (1 << 15) / std::max<int64_t>(R, 1)),
                         [&](int64_t k0, int64_t k1) {
                Acc* a = acc.get();
                for (int64_t r = 0; r < R; ++r) {
                    const T* row = px + r * K;
                    for (int64_t k = k0; k < k1; ++k)
                        a[k] = combine(a[k], Acc(load<T>(reinterpret_cast<const char*>(row + k))));
                }
            });
        } else if (total >= (1 << 17) && out_n >= 2 * num_threads() && innermost_reduced(x, reduced)) {
            // Kept axes first: each output element's inputs form one contiguous flat range of
            // the walk, so threads own disjoint accumulators.
            Shape shape, xs, as;
            for (int pass = 0; pass < 2; ++pass)
                for (int d = 0; d < x.ndim(); ++d)
                    if (reduced[d] == bool(pass)) {
                        shape.push_back(x.shape[d]);
                        xs.push_back(x.strides[d] * x.itemsize());
                        as.push_back(acc_strides[d]);
                    }
            const int64_t per = total / out_n;
            // Keep the coalescing from merging across the kept/reduced boundary in a harmful
            // way: Walk only merges dims whose strides allow it for both operands.
            Walk<2> walk(shape, {xs, as}, {x.ptr(), acc_ptr});
            parallel_for(out_n, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(per, 1)),
                         [&](int64_t b, int64_t e) { walk.range(b * per, e * per, &run); });
        } else if (total > 0) {
            Walk<2> walk(x.shape, {x.byte_strides(), acc_strides}, {x.ptr(), acc_ptr});
            walk.range(0, walk.numel(), &run);
        }
        return finish(out, acc.get());
    }

    // The accumulators rounded into the output array.
    static Array finish(Array& out, const Acc* acc) {
        char* o = out.ptr();
        const int64_t n = out.numel();
        for (int64_t i = 0; i < n; ++i, o += out.itemsize()) store<T>(o, compute_t<T>(acc[i]));
        return out;
    }

    // finish, for accumulators in the memory order of x's kept axes (given by order) where
    // that differs from their order in x's shape (a sum over the rows of a transpose).
    static Array finish_in_memory_order(Array& out, const Array& x, const std::vector<bool>& reduced,
                                        const std::vector<int>& order, const Acc* acc) {
        Shape kept_shape(x.ndim(), 1), acc_strides(x.ndim(), 0);
        int64_t stride = sizeof(Acc);
        for (auto d = order.rbegin(); d != order.rend(); ++d)
            if (!reduced[*d]) {
                kept_shape[*d] = x.shape[*d];
                acc_strides[*d] = stride;
                stride *= x.shape[*d];
            }
        Shape out_strides = contiguous_strides(kept_shape);   // out's layout, keepdim or not
        for (auto& st : out_strides) st *= int64_t(sizeof(T));
        Walk<2> walk(kept_shape, {out_strides, acc_strides},
                     {out.ptr(), reinterpret_cast<char*>(const_cast<Acc*>(acc))});
        walk.range(0, walk.numel(), [](const std::array<char*, 2>& p,
                                      const std::array<int64_t, 2>& s, int64_t n) {
            for (int64_t i = 0; i < n; ++i)
                store<T>(p[0] + i * s[0], compute_t<T>(*reinterpret_cast<const Acc*>(p[1] + i * s[1])));
        });
        return out;
    }

    // A float32/float64 sum, max or min of a dense (P, R, K) block by the SIMD kernels: rows
    // (K = 1) or column slices (else) into the accumulators (float64 for sums).
    static void reduce_blocks(const T* x, const Blocks& b, Acc* acc) {
        const auto& k = simd::kernels();
        const int64_t R = b.reduced, K = b.inner;
        if (K == 1) return reduce_rows(x, b.outer, R, acc);
        for_column_slices(b, sizeof(T), [&](int64_t p, int64_t k0, int64_t k1) {
            const T* from = x + p * R * K + k0;
            Acc* into = acc + p * K + k0;
            if constexpr (OP == SUM) {
                if constexpr (std::is_same_v<T, float>) k.column_sum_f32(from, R, k1 - k0, K, into);
                else k.column_sum_f64(from, R, k1 - k0, K, into);
            } else {
                if constexpr (std::is_same_v<T, float>) k.column_extreme_f32(OP == MAX, from, R, k1 - k0, K, into);
                else k.column_extreme_f64(OP == MAX, from, R, k1 - k0, K, into);
            }
        });
    }

    // A dense x's runs (in memory order), reduced one run at a time, the innermost first: each
    // stage is a block reduction into accumulators that the next stage reads (in float64 for
    // float32 sums, so staging never loses accuracy against one pass), the last into acc.
    static void reduce_runs(const T* x, std::vector<Run> runs, Acc* acc) {
        std::vector<Acc> from, into;
        for (bool first = true;; first = false) {
            size_t j = runs.size();   // the innermost reduced run (none: a copy, one pass)
            for (size_t i = 0; i < runs.size(); ++i)
                if (runs[i].reduced) j = i;
            const Blocks b = block_of_run(runs, j);
            if (j < runs.size()) runs.erase(runs.begin() + j);
            if (j > 0 && j < runs.size() && !runs[j - 1].reduced) {   // kept runs now neighbours
                runs[j - 1].size *= runs[j].size;
                runs.erase(runs.begin() + j);
            }
            const bool last = std::none_of(runs.begin(), runs.end(),
                                           [](const Run& r) { return r.reduced; });
            if (!last) into.assign(size_t(b.outer * b.inner), identity());
            Acc* dst = last ? acc : into.data();
            if (first) reduce_blocks(x, b, dst);
            else Reducer<Acc, OP>::reduce_blocks(from.data(), b, dst);
            if (last) return;
            from.swap(into);
        }
    }

    // count dense rows of len elements each, reduced into into[0, count)
    static void rows_kernel(const T* from, int64_t count, int64_t len, Acc* into) {
        const auto& k = simd::kernels();
        if constexpr (OP == SUM) {
            if constexpr (std::is_same_v<T, float>) k.row_sum_f32(from, count, len, len, into);
            else k.row_sum_f64(from, count, len, len, into);
        } else {
            if constexpr (std::is_same_v<T, float>) k.row_extreme_f32(OP == MAX, from, count, len, len, into);
            else k.row_extreme_f64(OP == MAX, from, count, len, len, into);
        }
    }

    // K rows of R elements each (a reduction over the trailing axes). A single long row is cut
    // into fixed chunks whose partial results are combined in order, at any thread count, so
    // a sum does not depend on the number of threads.
    static void reduce_rows(const T* x, int64_t K, int64_t R, Acc* acc) {
        constexpr int64_t CHUNK = int64_t(1) << 15;
        const bool split = reduce_threads_pay(K * R, sizeof(T));
        if (K > 1 || R <= CHUNK) {
            if (!split || K < 2) {
                rows_kernel(x, K, R, acc);
                return;
            }
            parallel_for(K, std::max<int64_t>(1, CHUNK / R), [&](int64_t r0, int64_t r1) {
                rows_kernel(x + r0 * R, r1 - r0, R, acc + r0);
            });
            return;
        }
        const int64_t chunks = (R + CHUNK - 1) / CHUNK;   // one long row
        std::vector<Acc> part(size_t(chunks), identity());
        auto run_chunks = [&](int64_t c0, int64_t c1) {
            for (int64_t c = c0; c < c1; ++c)
                rows_kernel(x + c * CHUNK, 1, std::min(CHUNK, R - c * CHUNK), &part[size_t(c)]);
        };
        if (split) parallel_for(chunks, 1, run_chunks);
        else run_chunks(0, chunks);
        Acc total = identity();
        for (Acc v : part) total = combine(total, v);
        acc[0] = total;
    }
};

// Calls f(x_lane, out_lane) for every 1-D lane of x along `axis`.
template <class F>
void for_each_lane(const Array& x, int axis, const Shape& out_byte_strides, char* out_ptr, F f) {
    Shape shape = x.shape;
    shape[axis] = 1;
    Walk<2> walk(shape, {x.byte_strides(), out_byte_strides}, {x.ptr(), out_ptr});
    int64_t len = std::max<int64_t>(1, x.shape[axis]);
    walk.run([&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
        for (int64_t i = 0; i < n; ++i) f(p[0] + i * s[0], p[1] + i * s[1]);
    }, std::max<int64_t>(1, (1 << 15) / len));
}

void check_axis(int axis, int ndim, const char* what) {
    if (axis < 0 || axis >= ndim)
        throw value_error(std::string(what) + ": axis " + std::to_string(axis) +
                          " is out of range for " + std::to_string(ndim) + " dimensions");
}

}  // namespace

Array reduce(int op, const Array& x, const std::vector<int>& axes, bool keepdim) {
    std::vector<bool> reduced(x.ndim(), false);
    for (int a : axes) {
        check_axis(a, x.ndim(), "reduce");
        reduced[a] = true;
    }
    Shape out_shape;
    for (int d = 0; d < x.ndim(); ++d) {
        if ((op == MAX || op == MIN) && reduced[d] && x.shape[d] == 0)   // keepdim or not
            throw index_error("max/min of an empty axis " + std::to_string(d) + " of shape " +
                              shape_str(x.shape) + " has no identity");
        if (!reduced[d]) out_shape.push_back(x.shape[d]);
        else if (keepdim) out_shape.push_back(1);
    }
    return visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        switch (op) {
            case SUM: return Reducer<T, SUM>::reduce(x, reduced, out_shape);
            case PROD: return Reducer<T, PROD>::reduce(x, reduced, out_shape);
            case MAX: return Reducer<T, MAX>::reduce(x, reduced, out_shape);
            default: return Reducer<T, MIN>::reduce(x, reduced, out_shape);
        }
    });
}

Array argreduce(bool is_max, const Array& x, int axis, bool keepdim) {
    check_axis(axis, x.ndim(), "argmax/argmin");
    const int64_t len = x.shape[axis];
    if (len == 0)
        throw index_error("argmax/argmin of an empty axis " + std::to_string(axis) + " of shape " +
                          shape_str(x.shape));
    Shape lane_shape = x.shape;
    lane_shape[axis] = 1;
    Array out = empty(lane_shape, I64);
    const int64_t step = x.strides[axis] * x.itemsize();
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        using C = compute_t<T>;
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            // A dense x is a (P, R, K) block (R = len): rows (K = 1) or columns (else) for the
            // SIMD kernels, whose float32 row positions are exact below 2^24
            Blocks b;
            std::vector<bool> reduced(x.ndim(), false);
            reduced[axis] = true;
            if (x.numel() > 0 && len > 1 && as_blocks(x, reduced, b) && b.reduced == len &&
                (sizeof(T) == 8 || len < (int64_t(1) << 24))) {
                const T* px = reinterpret_cast<const T*>(x.ptr());
                int64_t* po = reinterpret_cast<int64_t*>(out.ptr());
                const auto& k = simd::kernels();
                if (b.inner == 1) {
                    auto rows = [&](int64_t r0, int64_t r1) {
                        if constexpr (std::is_same_v<T, float>)
                            k.row_arg_extreme_f32(is_max, px + r0 * len, r1 - r0, len, len, po + r0);
                        else
                            k.row_arg_extreme_f64(is_max, px + r0 * len, r1 - r0, len, len, po + r0);
                    };
                    if (reduce_threads_pay(x.numel(), sizeof(T)))
                        parallel_for(b.outer, std::max<int64_t>(1, (1 << 15) / len), rows);
                    else
                        rows(0, b.outer);
                    return;
                }
                for_column_slices(b, sizeof(T), [&](int64_t p, int64_t k0, int64_t k1) {
                    const T* from = px + p * len * b.inner + k0;
                    if constexpr (std::is_same_v<T, float>)
                        k.column_arg_extreme_f32(is_max, from, len, k1 - k0, b.inner, po + p * b.inner + k0);
                    else
                        k.column_arg_extreme_f64(is_max, from, len, k1 - k0, b.inner, po + p * b.inner + k0);
                });
                return;
            }
        }
        for_each_lane(x, axis, out.byte_strides(), out.ptr(), [&](const char* lane, char* o) {
            C best = load<T>(lane);
            int64_t best_i = 0;
            if (!(best != best)) {
                for (int64_t j = 1; j < len; ++j) {
                    C v = load<T>(lane + j * step);
                    if (v != v) { best_i = j; break; }   // nan is the extreme
                    if (is_max ? v > best : v < best) { best = v; best_i = j; }
                }
            }
            *reinterpret_cast<int64_t*>(o) = best_i;
        });
    });
    if (!keepdim) {
        Shape s;
        for (int d = 0; d < x.ndim(); ++d)
            if (d != axis) s.push_back(x.shape[d]);
        out.shape = s;
        out.strides = contiguous_strides(s);
    }
    return out;
}

// The positions of the k best elements of each lane along axis, best first: the greatest
// (largest) or the least, nan counting as the greatest, ties by position. That is the first k
// of a stable argsort, which the core would otherwise stage through numpy (O(n log n), off the
// plugin). A few (k <= 16: a model's top-5, a sampler's top-k) are kept sorted while the lane
// goes by, most elements costing one comparison with the worst kept; more are selected
// (nth_element) and then sorted.
Array topk(const Array& x, int64_t k, int axis, bool largest) {
    check_axis(axis, x.ndim(), "topk");
    const int64_t len = x.shape[axis];
    if (k < 0 || k > len)
        throw value_error("topk: k = " + std::to_string(k) + " is out of range for axis " +
                          std::to_string(axis) + " of shape " + shape_str(x.shape));
    Shape out_shape = x.shape, lanes = x.shape;
    out_shape[axis] = k;
    lanes[axis] = 1;
    Array out = empty(out_shape, I64);
    if (out.numel() == 0) return out;
    const int64_t step = x.strides[axis] * x.itemsize(), out_step = out.strides[axis];
    constexpr int64_t FEW = 16;
    Walk<2> walk(lanes, {x.byte_strides(), out.byte_strides()}, {x.ptr(), out.ptr()});
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        using C = compute_t<T>;
        // whether value a (at position i) comes before b (at j) in the result
        auto before = [largest](C a, int64_t i, C b, int64_t j) {
            if constexpr (std::is_floating_point_v<C>) {
                const bool a_nan = a != a, b_nan = b != b;
                if (a_nan != b_nan) return largest ? a_nan : b_nan;
                if (a_nan) return i < j;
            }
            if (a != b) return largest ? a > b : a < b;
            return i < j;
        };
        walk.run([&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
            std::vector<std::pair<C, int64_t>> lane_values(static_cast<size_t>(k <= FEW ? 0 : len));
            C kept[FEW];
            int64_t at[FEW];
            for (int64_t lane = 0; lane < n; ++lane) {
                const char* from = p[0] + lane * s[0];
                int64_t* into = reinterpret_cast<int64_t*>(p[1] + lane * s[1]);
                if (k <= FEW) {
                    int64_t count = 0;
                    for (int64_t j = 0; j < len; ++j) {
                        const C v = C(load<T>(from + j * step));
                        if (count == k && !before(v, j, kept[k - 1], at[k - 1])) continue;
                        // j comes after every kept position, so it goes after its equals
                        int64_t q = count < k ? count++ : k - 1;
                        for (; q > 0 && before(v, j, kept[q - 1], at[q - 1]); --q) {
                            kept[q] = kept[q - 1];
                            at[q] = at[q - 1];
                        }
                        kept[q] = v;
                        at[q] = j;
                    }
                    for (int64_t j = 0; j < k; ++j) into[j * out_step] = at[j];
                    continue;
                }
                for (int64_t j = 0; j < len; ++j)
                    lane_values[size_t(j)] = {C(load<T>(from + j * step)), j};
                auto first = [&](const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& b) {
                    return before(a.first, a.second, b.first, b.second);
                };
                // the k best in any order (a selection, linear), then those k sorted
                if (k < len)
                    std::nth_element(lane_values.begin(), lane_values.begin() + k,
                                     lane_values.end(), first);
                std::sort(lane_values.begin(), lane_values.begin() + k, first);
                for (int64_t j = 0; j < k; ++j) into[j * out_step] = lane_values[size_t(j)].second;
            }
        }, std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(len, 1)));
    });
    return out;
}

Array cumsum(const Array& x, int axis) {
    check_axis(axis, x.ndim(), "cumsum");
    Array out = empty(x.shape, x.dtype);
    const int64_t len = x.shape[axis];
    const int64_t xs = x.strides[axis] * x.itemsize(), os = out.strides[axis] * out.itemsize();
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        using R = Reducer<T, SUM>;
        for_each_lane(x, axis, out.byte_strides(), out.ptr(), [&](const char* lane, char* o) {
            typename R::Acc acc = R::identity();
            for (int64_t j = 0; j < len; ++j) {
                acc = R::combine(acc, typename R::Acc(load<T>(lane + j * xs)));
                store<T>(o + j * os, compute_t<T>(acc));
            }
        });
    });
    return out;
}

// --------------------------------------------------------------------------- bindings

void init_reduce(py::module_& m) {
    const OpTable* reduce_ops = op_table(m, "reduce", REDUCE_NAMES, "REDUCE_OPS");
    m.def("reduce", [reduce_ops](py::handle op, const Array& x, std::vector<int> axes, bool keepdim) {
        const int code = (*reduce_ops)(op);
        return without_gil_if_large(x.numel(), [&] { return reduce(code, x, axes, keepdim); });
    }, py::arg("op"), py::arg("x"), py::arg("axes"), py::arg("keepdim"),
       "x reduced over `axes` by a name in REDUCE_OPS.");
    m.def("argreduce", [](const std::string& op, const Array& x, int axis, bool keepdim) {
        if (op != "argmax" && op != "argmin")
            throw value_error("argreduce op must be 'argmax' or 'argmin', got '" + op + "'");
        return without_gil_if_large(x.numel(), [&] { return argreduce(op == "argmax", x, axis, keepdim); });
    }, py::arg("op"), py::arg("x"), py::arg("axis"), py::arg("keepdim"),
       "The int64 position of the first max ('argmax') or min ('argmin') along `axis`.");
    m.def("topk", [](const Array& x, int64_t k, int axis, bool largest) {
        return without_gil_if_large(x.numel(), [&] { return topk(x, k, axis, largest); });
    }, py::arg("x"), py::arg("k"), py::arg("axis"), py::arg("largest"),
       "int64 positions of the k largest (largest=False: smallest) along `axis`, best first; "
       "ties by position, nan the largest.");
    m.def("cumsum", [](const Array& x, int axis) {
        return without_gil_if_large(x.numel(), [&] { return cumsum(x, axis); });
    }, py::arg("x"), py::arg("axis"), "Running sums along `axis`.");
}

}  // namespace mgcpu
