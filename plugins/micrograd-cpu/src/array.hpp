// The backend's array: a strided view (shape, strides and offset in elements) of a refcounted,
// 64-byte-aligned storage block that comes from a caching allocator.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace mgcpu {

// Same order as micrograd.dtypes.ALL_DTYPES; the Python layer maps DType objects to these codes.
enum DType : int { Bool, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64, NDTYPES };

extern const char* const DTYPE_NAMES[NDTYPES];
extern const int DTYPE_SIZES[NDTYPES];

inline bool is_float(DType d) { return d >= F16; }
inline bool is_int(DType d) { return d >= U8 && d <= U64; }

// 16-bit floats are stored as words and computed in float32.
struct half_t { uint16_t bits; };
struct bf16_t { uint16_t bits; };

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float bf16_to_float(uint16_t b) { return bits_to_float(uint32_t(b) << 16); }
inline uint16_t float_to_bf16(float f) {
    uint32_t u = float_to_bits(f);
    if (std::isnan(f)) return uint16_t((u >> 16) | 0x40);   // keep nan a nan (quiet)
    return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);  // round to nearest even
}

inline float half_to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (man << 13));   // inf / nan
    if (exp == 0) {                                                             // zero / subnormal
        float v = std::ldexp(float(man), -24);
        return sign ? -v : v;
    }
    return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

inline uint16_t float_to_half(float f) {
    uint32_t u = float_to_bits(f);
    uint16_t sign = uint16_t((u >> 16) & 0x8000);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return uint16_t(sign | 0x7E00 | ((a >> 13) & 0x3FF));  // nan
    if (a >= 0x477FF000u) return uint16_t(sign | 0x7C00);                        // overflow: inf
    if (a < 0x38800000u) {                                                       // subnormal
        // scale so the half subnormal unit is 1, then round to nearest even via float rounding
        float v = bits_to_float(a) * 16777216.0f;   // 2^24
        uint32_t m = uint32_t(std::nearbyint(v));
        return uint16_t(sign | m);
    }
    uint32_t rounded = a + 0x0FFFu + ((a >> 13) & 1u) - (112u << 23);
    return uint16_t(sign | (rounded >> 13));
}

// A block of memory; its destructor hands it back to the caching allocator.
struct Storage {
    void* data = nullptr;
    size_t nbytes = 0;
    Storage(void* d, size_t n) : data(d), nbytes(n) {}
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    ~Storage();
};

// A fresh or cached block of at least `nbytes`. When the system refuses, the cache is emptied
// and the allocation retried once; then memory_error.
std::shared_ptr<Storage> allocate(size_t nbytes);
void set_cache_limit(size_t bytes);
size_t cached_bytes();
void empty_cache();

struct MemoryStats {
    size_t allocated_bytes, peak_allocated_bytes, cached_bytes, cache_limit, alloc_retries;
};
MemoryStats memory_stats();

using Shape = std::vector<int64_t>;

struct Array {
    std::shared_ptr<Storage> storage;
    DType dtype = F32;
    Shape shape, strides;   // strides in elements, may be 0 (broadcast) or negative (flip)
    int64_t offset = 0;     // in elements

    int ndim() const { return int(shape.size()); }
    int itemsize() const { return DTYPE_SIZES[dtype]; }
    int64_t numel() const {
        int64_t n = 1;
        for (auto s : shape) n *= s;
        return n;
    }
    char* ptr() const { return static_cast<char*>(storage->data) + offset * itemsize(); }
    bool is_contiguous() const;
    Shape byte_strides() const {
        Shape b(strides);
        for (auto& s : b) s *= itemsize();
        return b;
    }
};

// Whether x and y are one view: the same storage, dtype, shape, offset and strides (a size-1
// dim's stride does not matter). An elementwise kernel may write such an output over its operand,
// since each position is read before it is written.
inline bool same_view(const Array& x, const Array& y) {
    if (x.storage != y.storage || x.dtype != y.dtype || x.offset != y.offset || x.shape != y.shape)
        return false;
    for (int d = 0; d < x.ndim(); ++d)
        if (x.shape[d] > 1 && x.strides[d] != y.strides[d]) return false;
    return true;
}

// Whether writing `out` elementwise may change elements of `x` before they are read: x shares
// out's storage as any other view (shifted, transposed, another dtype). Such a write goes
// through a copy. Two views of one storage are treated as overlapping even when their elements
// are disjoint: a cheap, safe answer for a rare case.
inline bool overlaps_differently(const Array& out, const Array& x) {
    return x.storage == out.storage && !same_view(out, x);
}

Shape contiguous_strides(const Shape& shape);
Array empty(const Shape& shape, DType dtype);
Array make_view(const Array& base, Shape shape, Shape strides, int64_t offset);
std::string shape_str(const Shape& s);

// Errors that reach Python as TypeError / ValueError / IndexError / MemoryError.
struct type_error : std::runtime_error { using std::runtime_error::runtime_error; };
struct value_error : std::runtime_error { using std::runtime_error::runtime_error; };
struct index_error : std::runtime_error { using std::runtime_error::runtime_error; };
struct memory_error : std::bad_alloc {
    explicit memory_error(std::string m) : message(std::move(m)) {}
    const char* what() const noexcept override { return message.c_str(); }
    std::string message;
};

// Checked int64 arithmetic: every element count, stride and byte size that comes from a caller
// goes through these, so an overflow is a value_error naming `what`, never a wrapped size.
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);
int64_t checked_add(int64_t a, int64_t b, const std::string& what);
// The element count of `shape` for elements of `itemsize` bytes; value_error for a negative
// dimension, or when the extent (0-sized dims counted as 1, so every stride fits too) times
// itemsize does not fit int64. Every Array's shape passes here (empty, make_view).
int64_t checked_numel(const Shape& shape, int itemsize);

}  // namespace mgcpu
