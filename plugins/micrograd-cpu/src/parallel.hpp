// A small fork-join thread pool. Work below a grain runs inline on the caller, so tiny tensors
// never pay for a thread hand-off.
#pragma once

#include <cstdint>
#include <functional>

namespace mgcpu {

// Calls fn(begin, end) over [0, n) split into chunks of at least `grain`, on up to
// num_threads() threads (the caller is one of them). Nested calls run inline.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

int num_threads();
void set_num_threads(int n);   // 1 disables threading; takes effect for the next call

}  // namespace mgcpu
