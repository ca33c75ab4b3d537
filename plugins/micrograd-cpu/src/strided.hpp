// Walking K strided operands over one index space. Dimensions are coalesced first (size-1 dims
// dropped, neighbours merged where every operand's layout allows), so a contiguous or merely
// broadcast operand reaches the kernels as one long run with a fixed byte stride.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "array.hpp"
#include "parallel.hpp"

namespace mgcpu {

// Elements a thread takes at least from an elementwise walk: cheap ops (a few ns per element)
// need this much work to pay for the hand-off; costlier ones pass a fraction of it.
constexpr int64_t ELEMENTWISE_GRAIN = 1 << 15;

template <int K>
struct Walk {
    Shape shape;                           // coalesced, innermost last (at least one dim; {0} if empty)
    std::array<Shape, K> strides;          // in bytes
    std::array<char*, K> base;

    Walk(const Shape& full_shape, const std::array<Shape, K>& byte_strides,
         const std::array<char*, K>& ptrs)
        : base(ptrs) {
        // No elements: one empty dim, so no consumer divides by (or loops over) the others.
        for (auto n : full_shape)
            if (n == 0) {
                shape = {0};
                for (int k = 0; k < K; ++k) strides[k] = {0};
                return;
            }
        for (size_t d = 0; d < full_shape.size(); ++d) {
            if (full_shape[d] == 1) continue;
            bool merge = !shape.empty();
            for (int k = 0; k < K && merge; ++k)
                merge = strides[k].back() == byte_strides[k][d] * full_shape[d];
            if (merge) {
                shape.back() *= full_shape[d];
                for (int k = 0; k < K; ++k) strides[k].back() = byte_strides[k][d];
            } else {
                shape.push_back(full_shape[d]);
                for (int k = 0; k < K; ++k) strides[k].push_back(byte_strides[k][d]);
            }
        }
        if (shape.empty()) {
            shape.push_back(1);
            for (int k = 0; k < K; ++k) strides[k].push_back(0);
        }
    }

    int64_t numel() const {
        int64_t n = 1;
        for (auto s : shape) n *= s;
        return n;
    }

    // Runs inner(ptrs, inner_strides, n) over the flat element range [begin, end).
    template <class Inner>
    void range(int64_t begin, int64_t end, Inner&& inner) const {
        if (begin >= end) return;   // also keeps a 0-sized dim out of the index arithmetic
        const int nd = int(shape.size());
        const int64_t last = shape[nd - 1];
        std::vector<int64_t> idx(nd, 0);
        int64_t rest = begin;
        for (int d = nd - 1; d >= 0; --d) {
            idx[d] = rest % shape[d];
            rest /= shape[d];
        }
        std::array<char*, K> p;
        std::array<int64_t, K> step;
        for (int k = 0; k < K; ++k) {
            p[k] = base[k];
            for (int d = 0; d < nd; ++d) p[k] += idx[d] * strides[k][d];
            step[k] = strides[k][nd - 1];
        }
        int64_t pos = begin;
        while (pos < end) {
            int64_t n = std::min(last - idx[nd - 1], end - pos);
            inner(p, step, n);
            pos += n;
            if (pos >= end) break;
            // advance to the start of the next row
            for (int k = 0; k < K; ++k) p[k] += n * step[k];
            idx[nd - 1] += n;
            for (int d = nd - 1; d > 0 && idx[d] == shape[d]; --d) {
                for (int k = 0; k < K; ++k) p[k] -= shape[d] * strides[k][d];
                idx[d] = 0;
                ++idx[d - 1];
                for (int k = 0; k < K; ++k) p[k] += strides[k][d - 1];
            }
        }
    }

    // The whole space, split over threads when large.
    template <class Inner>
    void run(Inner&& inner, int64_t grain = 1 << 15) const {
        int64_t n = numel();
        if (n < 2 * grain) {
            range(0, n, inner);
            return;
        }
        parallel_for(n, grain, [&](int64_t b, int64_t e) { range(b, e, inner); });
    }
};

}  // namespace mgcpu
