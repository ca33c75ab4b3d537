// Max and average pooling over NCHW planes and their backward passes; the sliding-window
// arithmetic that conv.cpp shares. Floating dtypes only; 16-bit floats compute in float32.
#include <algorithm>
#include <cmath>
#include <limits>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "parallel.hpp"

namespace mgcpu {

int64_t sliding_windows(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    if (in < 0 || k < 1 || s < 1 || p < 0 || d < 1) return -1;
    int64_t padded, reach, span;
    if (__builtin_mul_overflow(p, 2, &padded) || __builtin_add_overflow(padded, in, &padded) ||
        __builtin_mul_overflow(d, k - 1, &reach) || __builtin_sub_overflow(padded, reach + 1, &span))
        return -1;
    return span < 0 ? -1 : span / s + 1;
}

namespace {

int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, const char* what) {
    const int64_t out = sliding_windows(in, k, s, p, d);
    int64_t reach;   // PyTorch: padding at most half the (dilated) kernel
    if (out < 1 || __builtin_mul_overflow(k, d, &reach) || p > reach / 2)
        throw value_error(std::string(what) + ": kernel " + std::to_string(k) + ", stride " +
                          std::to_string(s) + ", padding " + std::to_string(p) + ", dilation " +
                          std::to_string(d) + " do not fit an input of size " + std::to_string(in) +
                          " (padding may be at most half the kernel)");
    return out;
}

void require_nchw(const Array& x, const char* what) {
    if (x.ndim() != 4) throw value_error(std::string(what) + ": need an NCHW input, got shape " +
                                         shape_str(x.shape));
}

}  // namespace

namespace {

// take ? a : b through masks: compilers turn the ternary back into a branch.
template <class T>
inline T select_bits(bool take, T a, T b) {
    using U = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
    static_assert(sizeof(T) == sizeof(U));
    U ua, ub;
    std::memcpy(&ua, &a, sizeof(T));
    std::memcpy(&ub, &b, sizeof(T));
    const U mask = U(0) - U(take);
    const U r = (ua & mask) | (ub & ~mask);
    T out;
    std::memcpy(&out, &r, sizeof(T));
    return out;
}

// Pooling windows fully inside the input, BLOCK neighbouring outputs at a time. Each output's
// running max is a chain of dependent compare-selects; interleaving independent chains keeps
// the core busy, and the selects are masks, not branches (with real data "larger" is a coin
// flip, and mispredictions cost more than the arithmetic). The first element seeds the search;
// later ones win when larger or nan, so nan propagates and ties keep the first index, as torch.
// K > 0 fixes the window at K x K (dilation 1) so the loops unroll.
template <int K, class T>
void interior_row_max(const T* in, int64_t W, int64_t h0, int64_t ow_lo, int64_t ow_hi,
                      std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                      std::array<int64_t, 2> p, std::array<int64_t, 2> d, T* y, int64_t* idx) {
    constexpr int64_t BLOCK = 8;
    const int64_t kh = K ? K : k[0], kw = K ? K : k[1], dh = K ? 1 : d[0], dw = K ? 1 : d[1];
    for (int64_t ow0 = ow_lo; ow0 < ow_hi; ow0 += BLOCK) {
        const int64_t n = std::min(BLOCK, ow_hi - ow0);
        T best[BLOCK];
        int64_t at[BLOCK];
        for (int64_t t = 0; t < n; ++t) {
            at[t] = h0 * W + (ow0 + t) * s[1] - p[1];
            best[t] = in[at[t]];
        }
        for (int64_t i = 0; i < kh; ++i)
            for (int64_t j = 0; j < kw; ++j)
                for (int64_t t = 0; t < n; ++t) {
                    const int64_t q = (h0 + i * dh) * W + (ow0 + t) * s[1] - p[1] + j * dw;
                    const T v = in[q];
                    const bool take = (v > best[t]) | ((v != v) & (best[t] == best[t]));
                    best[t] = select_bits(take, v, best[t]);
                    at[t] = select_bits(take, q, at[t]);
                }
        std::copy_n(best, n, y + ow0);
        std::copy_n(at, n, idx + ow0);
    }
}

// One output of a window reaching into the padding, which never wins.
template <class T>
void edge_max(const T* in, int64_t H, int64_t W, int64_t h0, int64_t w0,
              std::array<int64_t, 2> k, std::array<int64_t, 2> d, T* y, int64_t* idx) {
    T best = -INFINITY;
    int64_t at = -1;
    for (int64_t i = 0; i < k[0]; ++i) {
        const int64_t h = h0 + i * d[0];
        if (h < 0 || h >= H) continue;
        for (int64_t j = 0; j < k[1]; ++j) {
            const int64_t w = w0 + j * d[1];
            if (w < 0 || w >= W) continue;
            const T val = in[h * W + w];
            if (at < 0 || val > best || (val != val && best == best)) {
                best = val;
                at = h * W + w;
            }
        }
    }
    *y = best;
    *idx = at;
}

template <int K, class T>
void max_pool_planes(const T* px, T* py, int64_t* pi, int64_t planes, int64_t H, int64_t W,
                     int64_t OH, int64_t OW, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                     std::array<int64_t, 2> p, std::array<int64_t, 2> d) {
    // Output columns whose windows lie inside the input: w0 = ow*s - p >= 0 and
    // w0 + (k-1)*d <= W - 1.
    const int64_t ow_lo = std::min(OW, (p[1] + s[1] - 1) / s[1]);
    const int64_t last = W - 1 - (k[1] - 1) * d[1] + p[1];
    const int64_t ow_hi = last < 0 ? ow_lo : std::clamp<int64_t>(last / s[1] + 1, ow_lo, OW);
    parallel_for(planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, OH * OW)),
                 [&](int64_t b, int64_t e) {
        for (int64_t plane = b; plane < e; ++plane) {
            const T* in = px + plane * H * W;
            for (int64_t oh = 0; oh < OH; ++oh) {
                const int64_t h0 = oh * s[0] - p[0], row = (plane * OH + oh) * OW;
                const bool rows_inside = h0 >= 0 && h0 + (k[0] - 1) * d[0] < H;
                const int64_t lo = rows_inside ? ow_lo : OW, hi = rows_inside ? ow_hi : OW;
                for (int64_t ow = 0; ow < lo; ++ow)
                    edge_max(in, H, W, h0, ow * s[1] - p[1], k, d, py + row + ow, pi + row + ow);
                interior_row_max<K>(in, W, h0, lo, hi, k, s, p, d, py + row, pi + row);
                for (int64_t ow = hi; ow < OW; ++ow)
                    edge_max(in, H, W, h0, ow * s[1] - p[1], k, d, py + row + ow, pi + row + ow);
            }
        }
    });
}

}  // namespace

std::pair<Array, Array> max_pool2d(const Array& x_in, std::array<int64_t, 2> k,
                                   std::array<int64_t, 2> s, std::array<int64_t, 2> p,
                                   std::array<int64_t, 2> d) {
    require_float(x_in.dtype, "max_pool2d");
    require_nchw(x_in, "max_pool2d");
    DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd));
    const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
    const int64_t OH = pooled_size(H, k[0], s[0], p[0], d[0], "max_pool2d");
    const int64_t OW = pooled_size(W, k[1], s[1], p[1], d[1], "max_pool2d");
    Array y = empty({N, C, OH, OW}, cd), idx = empty({N, C, OH, OW}, I64);
    int64_t* pi = reinterpret_cast<int64_t*>(idx.ptr());
    const bool undilated = d[0] == 1 && d[1] == 1 && k[0] == k[1];
    visit_dtype(cd, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* px = reinterpret_cast<const T*>(x.ptr());
            T* py = reinterpret_cast<T*>(y.ptr());
            if (undilated && k[0] == 2)
                max_pool_planes<2>(px, py, pi, N * C, H, W, OH, OW, k, s, p, d);
            else if (undilated && k[0] == 3)
                max_pool_planes<3>(px, py, pi, N * C, H, W, OH, OW, k, s, p, d);
            else
                max_pool_planes<0>(px, py, pi, N * C, H, W, OH, OW, k, s, p, d);
        }
    });
    return {astype_if(y, x_in.dtype), idx};
}

Array max_pool2d_backward(const Array& gy_in, const Array& indices_in, const Shape& input_shape) {
    require_float(gy_in.dtype, "max_pool2d_backward");
    if (input_shape.size() != 4 || gy_in.ndim() != 4 || indices_in.shape != gy_in.shape ||
        indices_in.dtype != I64 || gy_in.shape[0] != input_shape[0] || gy_in.shape[1] != input_shape[1])
        throw value_error("max_pool2d_backward: grad " + shape_str(gy_in.shape) + " and indices " +
                          shape_str(indices_in.shape) + " do not match input " +
                          shape_str(input_shape));
    DType cd = float_compute(gy_in.dtype);
    Array gy = contiguous(astype_if(gy_in, cd)), indices = contiguous(indices_in);
    Array gx = full_float(input_shape, 0.0, cd);
    const int64_t planes = input_shape[0] * input_shape[1], HW = input_shape[2] * input_shape[3];
    const int64_t P = gy.shape[2] * gy.shape[3];
    const int64_t* pi = reinterpret_cast<const int64_t*>(indices.ptr());
    for (int64_t i = 0; i < planes * P; ++i)
        if (pi[i] < 0 || pi[i] >= HW)
            throw index_error("max_pool2d_backward: index " + std::to_string(pi[i]) +
                              " is outside an input plane of " + std::to_string(HW) + " elements");
    visit_dtype(cd, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* pg = reinterpret_cast<const T*>(gy.ptr());
            T* px = reinterpret_cast<T*>(gx.ptr());
            parallel_for(planes, 4, [&](int64_t b, int64_t e) {
                for (int64_t plane = b; plane < e; ++plane)
                    for (int64_t o = 0; o < P; ++o)
                        px[plane * HW + pi[plane * P + o]] += pg[plane * P + o];
            });
        }
    });
    return astype_if(gx, gy_in.dtype);
}

namespace {

// Visits every pooling window: f(plane, oh, ow, h0, h1, w0, w1, divisor) with the window
// clipped to the input.
template <class F>
void avg_windows(const Shape& in, int64_t OH, int64_t OW, std::array<int64_t, 2> k,
                 std::array<int64_t, 2> s, std::array<int64_t, 2> p, bool include_pad, F f) {
    const int64_t H = in[2], W = in[3];
    parallel_for(in[0] * in[1], 4, [&](int64_t b, int64_t e) {
        for (int64_t plane = b; plane < e; ++plane)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    int64_t h0 = oh * s[0] - p[0], w0 = ow * s[1] - p[1];
                    int64_t h1 = std::min(h0 + k[0], H + p[0]), w1 = std::min(w0 + k[1], W + p[1]);
                    const int64_t padded = (h1 - h0) * (w1 - w0);
                    h0 = std::max<int64_t>(h0, 0); w0 = std::max<int64_t>(w0, 0);
                    h1 = std::min(h1, H); w1 = std::min(w1, W);
                    const int64_t divisor = include_pad ? padded : (h1 - h0) * (w1 - w0);
                    f(plane, oh, ow, h0, h1, w0, w1, std::max<int64_t>(divisor, 1));
                }
    });
}

}  // namespace

Array avg_pool2d(const Array& x_in, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                 std::array<int64_t, 2> p, bool count_include_pad) {
    require_float(x_in.dtype, "avg_pool2d");
    require_nchw(x_in, "avg_pool2d");
    DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd));
    const int64_t H = x.shape[2], W = x.shape[3];
    const int64_t OH = pooled_size(H, k[0], s[0], p[0], 1, "avg_pool2d");
    const int64_t OW = pooled_size(W, k[1], s[1], p[1], 1, "avg_pool2d");
    Array y = empty({x.shape[0], x.shape[1], OH, OW}, cd);
    visit_dtype(cd, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* px = reinterpret_cast<const T*>(x.ptr());
            T* py = reinterpret_cast<T*>(y.ptr());
            avg_windows(x.shape, OH, OW, k, s, p, count_include_pad,
                        [&](int64_t plane, int64_t oh, int64_t ow, int64_t h0, int64_t h1,
                            int64_t w0, int64_t w1, int64_t divisor) {
                double total = 0;
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) total += px[(plane * H + h) * W + w];
                py[(plane * OH + oh) * OW + ow] = T(total / double(divisor));
            });
        }
    });
    return astype_if(y, x_in.dtype);
}

Array avg_pool2d_backward(const Array& gy_in, const Shape& input_shape, std::array<int64_t, 2> k,
                          std::array<int64_t, 2> s, std::array<int64_t, 2> p,
                          bool count_include_pad) {
    require_float(gy_in.dtype, "avg_pool2d_backward");
    if (input_shape.size() != 4 || gy_in.ndim() != 4)
        throw value_error("avg_pool2d_backward: need NCHW shapes, got grad " +
                          shape_str(gy_in.shape) + " and input " + shape_str(input_shape));
    const int64_t H = input_shape[2], W = input_shape[3];
    const int64_t OH = pooled_size(H, k[0], s[0], p[0], 1, "avg_pool2d_backward");
    const int64_t OW = pooled_size(W, k[1], s[1], p[1], 1, "avg_pool2d_backward");
    if (gy_in.shape != Shape{input_shape[0], input_shape[1], OH, OW})
        throw value_error("avg_pool2d_backward: grad has shape " + shape_str(gy_in.shape) +
                          ", expected " + shape_str({input_shape[0], input_shape[1], OH, OW}));
    DType cd = float_compute(gy_in.dtype);
    Array gy = contiguous(astype_if(gy_in, cd));
    Array gx = full_float(input_shape, 0.0, cd);
    visit_dtype(cd, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* pg = reinterpret_cast<const T*>(gy.ptr());
            T* px = reinterpret_cast<T*>(gx.ptr());
            // threads own whole planes, so the overlapping windows of one plane never race
            avg_windows(input_shape, OH, OW, k, s, p, count_include_pad,
                        [&](int64_t plane, int64_t oh, int64_t ow, int64_t h0, int64_t h1,
                            int64_t w0, int64_t w1, int64_t divisor) {
                const T g = pg[(plane * OH + oh) * OW + ow] / T(divisor);
                for (int64_t h = h0; h < h1; ++h)
                    for (int64_t w = w0; w < w1; ++w) px[(plane * H + h) * W + w] += g;
            });
        }
    });
    return astype_if(gx, gy_in.dtype);
}

// --------------------------------------------------------------------------- bindings

void init_pool(py::module_& m) {
    m.def("max_pool2d", [](const Array& x, py::handle kernel, py::handle stride, py::handle padding,
                           py::handle dilation) {
        auto kk = to_pair(kernel), st = to_pair(stride), pa = to_pair(padding), di = to_pair(dilation);
        py::gil_scoped_release release;
        return max_pool2d(x, kk, st, pa, di);
    }, py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
       "(y, indices): each window's max and its flat position (h * W + w) in its plane.");
    m.def("max_pool2d_backward", [](const Array& grad_y, const Array& indices, py::object input_shape) {
        Shape s = to_shape(input_shape);
        py::gil_scoped_release release;
        return max_pool2d_backward(grad_y, indices, s);
    }, py::arg("grad_y"), py::arg("indices"), py::arg("input_shape"),
       "grad_x of max_pool2d: grad_y added at indices.");
    m.def("avg_pool2d", [](const Array& x, py::handle kernel, py::handle stride, py::handle padding,
                           bool count_include_pad) {
        auto kk = to_pair(kernel), st = to_pair(stride), pa = to_pair(padding);
        py::gil_scoped_release release;
        return avg_pool2d(x, kk, st, pa, count_include_pad);
    }, py::arg("x"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
       py::arg("count_include_pad"), "Each window's mean (padding counted when count_include_pad).");
    m.def("avg_pool2d_backward", [](const Array& grad_y, py::object input_shape, py::handle kernel,
                                    py::handle stride, py::handle padding, bool count_include_pad) {
        Shape in = to_shape(input_shape);
        auto kk = to_pair(kernel), st = to_pair(stride), pa = to_pair(padding);
        py::gil_scoped_release release;
        return avg_pool2d_backward(grad_y, in, kk, st, pa, count_include_pad);
    }, py::arg("grad_y"), py::arg("input_shape"), py::arg("kernel"), py::arg("stride"),
       py::arg("padding"), py::arg("count_include_pad"), "grad_x of avg_pool2d.");
}

}  // namespace mgcpu
