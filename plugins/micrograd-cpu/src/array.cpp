// Array helpers and the caching allocator.
//
// Fresh large buffers cost page faults on first touch (a 64 MB output pays ~16k faults), so freed
// blocks are kept per rounded size and handed out again. The cache is bounded (by default the
// smaller of 1 GiB and 1/16 of physical memory; MICROGRAD_CPU_CACHE_LIMIT, read by init_memory,
// overrides it), emptied when the system refuses an allocation, and emptied on request.
#include "array.hpp"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cstdlib>
#include <mutex>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif
#include <unordered_map>

#include "binding.hpp"

namespace mgcpu {

const char* const DTYPE_NAMES[NDTYPES] = {"bool", "uint8", "int8", "int16", "uint16", "int32",
                                          "uint32", "int64", "uint64", "float16", "bfloat16",
                                          "float32", "float64"};
const int DTYPE_SIZES[NDTYPES] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        throw value_error(what + ": " + std::to_string(a) + " * " + std::to_string(b) +
                          " overflows int64");
    return r;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        throw value_error(what + ": " + std::to_string(a) + " + " + std::to_string(b) +
                          " overflows int64");
    return r;
}

int64_t checked_numel(const Shape& shape, int itemsize) {
    for (auto s : shape)
        if (s < 0) throw value_error("negative dimension in shape " + shape_str(shape));
    int64_t numel = 1, extent = itemsize;
    for (auto s : shape) {
        if (__builtin_mul_overflow(extent, std::max<int64_t>(s, 1), &extent))
            throw value_error("shape " + shape_str(shape) + " of " + std::to_string(itemsize) +
                              "-byte elements is too large: its size in bytes overflows int64");
        numel *= s;   // no overflow: numel <= extent
    }
    return numel;
}

namespace {

constexpr size_t ALIGN = 64;

size_t physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) return size_t(pages) * size_t(page);
#endif
    return size_t(8) << 30;
}

struct Cache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> free_blocks;
    size_t bytes = 0;
    size_t limit = std::min(size_t(1) << 30, physical_memory() / 16);
    std::atomic<size_t> allocated{0}, peak{0}, retries{0};
};

Cache& cache() {
    static Cache* c = new Cache();   // never destroyed: storages may die during interpreter exit
    return *c;
}

size_t round_size(size_t n) {
    if (n <= 4096) return (n + ALIGN - 1) / ALIGN * ALIGN;
    return (n + 4095) / 4096 * 4096;
}

// Blocks of several megabytes are aligned to 2 MB and offered to the kernel as transparent huge
// pages (Linux, where THP is in "madvise" mode by default): a streaming op over a 64 MB array
// then misses the TLB 512 times less often, and a fresh block takes 32 page faults, not 16k.
constexpr size_t HUGE_PAGE = size_t(2) << 20;

void* fresh_block(size_t size) {
    if (size < 2 * HUGE_PAGE) return std::aligned_alloc(ALIGN, size);
    const size_t rounded = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void* p = std::aligned_alloc(HUGE_PAGE, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, rounded, MADV_HUGEPAGE);   // advice only: failure changes nothing
#endif
    return p;
}

std::shared_ptr<Storage> track(Cache& c, void* p, size_t size) {
    const size_t now = c.allocated.fetch_add(size) + size;
    size_t peak = c.peak.load();
    while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {}
    try {
        return std::make_shared<Storage>(p, size);
    } catch (...) {   // the control block itself could not be allocated
        c.allocated.fetch_sub(size);
        std::free(p);
        throw;
    }
}

}  // namespace

std::shared_ptr<Storage> allocate(size_t nbytes) {
    constexpr size_t MAX_BLOCK = size_t(INT64_MAX) - HUGE_PAGE;   // rounding must not wrap
    if (nbytes > MAX_BLOCK)
        throw memory_error("cpu backend: cannot allocate " + std::to_string(nbytes) + " bytes");
    size_t size = round_size(nbytes == 0 ? 1 : nbytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.bytes -= size;
            return track(c, p, size);
        }
    }
    void* p = fresh_block(size);
    if (!p && cached_bytes() > 0) {   // cached blocks may be what the system is missing
        c.retries.fetch_add(1);
        empty_cache();
        p = fresh_block(size);
    }
    if (!p)
        throw memory_error("cpu backend: out of memory allocating " + std::to_string(nbytes) +
                           " bytes (" + std::to_string(c.allocated.load()) +
                           " bytes in use by arrays)");
    return track(c, p, size);
}

Storage::~Storage() {
    Cache& c = cache();
    c.allocated.fetch_sub(nbytes);
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        if (c.bytes + nbytes <= c.limit) {
            try {
                c.free_blocks[nbytes].push_back(data);
                c.bytes += nbytes;
                return;
            } catch (const std::bad_alloc&) {}   // no room to remember it: free it instead
        }
    }
    std::free(data);
}

void set_cache_limit(size_t bytes) {
    {
        std::lock_guard<std::mutex> lock(cache().mutex);
        cache().limit = bytes;
    }
    if (cached_bytes() > bytes) empty_cache();
}

size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(cache().mutex);
    return cache().bytes;
}

void empty_cache() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    for (auto& kv : c.free_blocks)
        for (void* p : kv.second) std::free(p);
    c.free_blocks.clear();
    c.bytes = 0;
}

MemoryStats memory_stats() {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    return {c.allocated.load(), c.peak.load(), c.bytes, c.limit, c.retries.load()};
}

bool Array::is_contiguous() const {
    if (numel() == 0) return true;   // no element to misplace (numpy agrees)
    int64_t expected = 1;
    for (int d = ndim() - 1; d >= 0; --d) {
        if (shape[d] == 1) continue;
        if (strides[d] != expected) return false;
        expected *= shape[d];
    }
    return true;
}

// (for shapes checked_numel accepted: 0-sized dims count as 1, so no product overflows)
Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t s = 1;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
        strides[d] = s;
        s *= std::max<int64_t>(shape[d], 1);
    }
    return strides;
}

Array empty(const Shape& shape, DType dtype) {
    Array a;
    const int64_t n = checked_numel(shape, DTYPE_SIZES[dtype]);
    a.storage = allocate(size_t(n) * DTYPE_SIZES[dtype]);
    a.dtype = dtype;
    a.shape = shape;
    a.strides = contiguous_strides(shape);
    return a;
}

Array make_view(const Array& base, Shape shape, Shape strides, int64_t offset) {
    if (shape.size() != strides.size())
        throw value_error("view of shape " + shape_str(shape) + " given " +
                          std::to_string(strides.size()) + " strides");
    checked_numel(shape, base.itemsize());
    Array v;
    v.storage = base.storage;
    v.dtype = base.dtype;
    v.shape = std::move(shape);
    v.strides = std::move(strides);
    v.offset = offset;
    return v;
}

std::string shape_str(const Shape& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) {
        out += std::to_string(s[i]);
        if (s.size() == 1 || i + 1 < s.size()) out += s.size() == 1 ? "," : ", ";
    }
    return out + ")";
}

// --------------------------------------------------------------------------- bindings

namespace {

// The caching allocator's bound from MICROGRAD_CPU_CACHE_LIMIT: bytes, or with a K, M or G
// suffix (powers of 1024); 0 turns caching off.
void apply_cache_limit_from_env() {
    const char* env = std::getenv("MICROGRAD_CPU_CACHE_LIMIT");
    if (!env || !*env) return;
    const std::string text(env);
    size_t used = 0;
    unsigned long long value = 0;
    try {
        value = std::stoull(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    std::string unit = text.substr(used);
    for (auto& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
    const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : -1;
    if (used == 0 || text[0] == '-' || shift < 0 || (value >> (63 - shift)) != 0)
        throw value_error("MICROGRAD_CPU_CACHE_LIMIT=" + text + " is not a size: give bytes, "
                          "optionally with a K, M or G suffix (e.g. 512M); 0 disables the cache");
    set_cache_limit(size_t(value) << shift);
}

}  // namespace

void init_memory(py::module_& m) {
    apply_cache_limit_from_env();
    m.def("cached_bytes", &cached_bytes, "Bytes held by the caching allocator for reuse.");
    m.def("empty_cache", &empty_cache, "Return cached blocks to the system.");
    m.def("set_cache_limit", &set_cache_limit, py::arg("nbytes"), "Most bytes the caching allocator keeps.");
    m.def("memory_stats", [] {
        const MemoryStats st = memory_stats();
        py::dict d;
        d["allocated_bytes"] = st.allocated_bytes;            // held by live arrays
        d["peak_allocated_bytes"] = st.peak_allocated_bytes;  // the most ever held at once
        d["cached_bytes"] = st.cached_bytes;                  // freed, kept for reuse
        d["cache_limit"] = st.cache_limit;
        d["alloc_retries"] = st.alloc_retries;                // failures retried after emptying
        return d;
    }, "The caching allocator's counters, in bytes.");
}

}  // namespace mgcpu
