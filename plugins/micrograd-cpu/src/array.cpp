// Array helpers and the caching allocator.
//
// Fresh large buffers cost page faults on first touch (a 64 MB output pays ~16k faults), so freed
// blocks are kept per rounded size and handed out again; the cache is capped so a workload that
// changes shapes cannot hoard memory.
#include "array.hpp"

#include <cstdlib>
#include <mutex>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <new>
#include <unordered_map>

namespace mgcpu {

const char* const DTYPE_NAMES[NDTYPES] = {"bool", "uint8", "int8", "int16", "uint16", "int32",
                                          "uint32", "int64", "uint64", "float16", "bfloat16",
                                          "float32", "float64"};
const int DTYPE_SIZES[NDTYPES] = {1, 1, 1, 2, 2, 4, 4, 8, 8, 2, 2, 4, 8};

namespace {

constexpr size_t ALIGN = 64;

struct Cache {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void*>> free_blocks;
    size_t bytes = 0;
    size_t limit = size_t(2) << 30;
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

}  // namespace

std::shared_ptr<Storage> allocate(size_t nbytes) {
    size_t size = round_size(nbytes == 0 ? 1 : nbytes);
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        auto it = c.free_blocks.find(size);
        if (it != c.free_blocks.end() && !it->second.empty()) {
            void* p = it->second.back();
            it->second.pop_back();
            c.bytes -= size;
            return std::make_shared<Storage>(p, size);
        }
    }
    void* p = fresh_block(size);
    if (!p) throw std::bad_alloc();
    return std::make_shared<Storage>(p, size);
}

Storage::~Storage() {
    Cache& c = cache();
    {
        std::lock_guard<std::mutex> lock(c.mutex);
        if (c.bytes + nbytes <= c.limit) {
            c.free_blocks[nbytes].push_back(data);
            c.bytes += nbytes;
            return;
        }
    }
    std::free(data);
}

void set_cache_limit(size_t bytes) {
    cache().limit = bytes;
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

bool Array::is_contiguous() const {
    int64_t expected = 1;
    for (int d = ndim() - 1; d >= 0; --d) {
        if (shape[d] == 1) continue;
        if (strides[d] != expected) return false;
        expected *= shape[d];
    }
    return true;
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t s = 1;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
        strides[d] = s;
        s *= shape[d];
    }
    return strides;
}

Array empty(const Shape& shape, DType dtype) {
    Array a;
    int64_t n = 1;
    for (auto s : shape) {
        if (s < 0) throw value_error("negative dimension in shape " + shape_str(shape));
        n *= s;
    }
    a.storage = allocate(size_t(n) * DTYPE_SIZES[dtype]);
    a.dtype = dtype;
    a.shape = shape;
    a.strides = contiguous_strides(shape);
    return a;
}

Array make_view(const Array& base, Shape shape, Shape strides, int64_t offset) {
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

}  // namespace mgcpu
