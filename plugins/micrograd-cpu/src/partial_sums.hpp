// Reductions whose chunks run in parallel, each into its own accumulator: the weight
// gradients of the convolutions (conv.cpp, winograd.cpp) sum over samples, and a shared
// accumulator would need a lock inside every GEMM.
#pragma once

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "array.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "parallel.hpp"

namespace mgcpu {

// Runs chunk(i0, i1, acc) over [0, items) on the pool. With `accumulate`, acc is a zeroed
// array of `shape` of the chunk's own and the sum of them all is returned; without, acc is
// null and an empty Array is returned. The partials are added in the order of their chunks,
// not the order the chunks finish in: parallel_for's chunks depend only on the item and
// thread counts, so the sum is the same from run to run.
template <class T, class Chunk>
Array parallel_partial_sums(int64_t items, const Shape& shape, bool accumulate, Chunk chunk) {
    std::mutex partial_mutex;
    std::vector<std::pair<int64_t, Array>> partials;   // (first item, partial sum)
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
        Array acc = accumulate ? full_float(shape, 0.0, dtype_of<T>()) : Array();
        chunk(i0, i1, accumulate ? reinterpret_cast<T*>(acc.ptr()) : nullptr);
        if (!accumulate) return;
        std::lock_guard<std::mutex> lock(partial_mutex);
        partials.emplace_back(i0, std::move(acc));
    });
    if (!accumulate) return Array();
    std::sort(partials.begin(), partials.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    Array total = partials.front().second;
    T* sum = reinterpret_cast<T*>(total.ptr());
    for (size_t i = 1; i < partials.size(); ++i) {
        const T* part = reinterpret_cast<const T*>(partials[i].second.ptr());
        for (int64_t e = 0; e < total.numel(); ++e) sum[e] += part[e];
    }
    return total;
}

}  // namespace mgcpu
