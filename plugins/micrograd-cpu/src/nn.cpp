// The optional fast ops: activations, softmax family, cross-entropy, pooling, fused optimizer
// steps and arange. Floating dtypes only; 16-bit floats compute in float32.
#include <algorithm>
#include <cmath>

#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "simd/simd.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

enum Activation { RELU, SIGMOID, GELU, GELU_TANH, SILU, SOFTPLUS, NACTIVATION };
const char* const ACTIVATION_NAMES[NACTIVATION] = {"relu", "sigmoid", "gelu", "gelu_tanh", "silu",
                                                   "softplus"};

template <class C>
C activate(int op, C x, C beta, C threshold) {
    switch (op) {
        case RELU: return (x > 0 || x != x) ? x : C(0);
        case SIGMOID: return C(1) / (C(1) + std::exp(-x));
        case GELU: return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752440)));
        case GELU_TANH: {
            const C inner = C(0.79788456080286535588) * (x + C(0.044715) * x * x * x);
            return C(0.5) * x * (C(1) + std::tanh(inner));
        }
        case SILU: return x / (C(1) + std::exp(-x));
        default: {
            const C z = x * beta;
            return z > threshold ? x : C(std::log1p(std::exp(z)) / beta);
        }
    }
}

void require_float(DType d, const char* what) {
    if (!is_float(d))
        throw type_error(std::string(what) + " needs a floating dtype, got " + DTYPE_NAMES[d] +
                         "; cast with .float() first");
}

// Same floating dtype and shape, or a TypeError/ValueError naming both.
void require_like(const Array& a, const Array& b, const char* what, const char* name) {
    if (a.dtype != b.dtype || a.shape != b.shape)
        throw value_error(std::string(what) + ": " + name + " is " + DTYPE_NAMES[b.dtype] + " " +
                          shape_str(b.shape) + " but param is " + DTYPE_NAMES[a.dtype] + " " +
                          shape_str(a.shape));
}

DType float_compute(DType d) { return (d == F16 || d == BF16) ? F32 : d; }

}  // namespace

int activation_code(const std::string& name) {
    for (int i = 0; i < NACTIVATION; ++i)
        if (name == ACTIVATION_NAMES[i]) return i;
    throw value_error("unknown activation '" + name + "'");
}

Array activation(int op, const Array& x, double beta, double threshold) {
    require_float(x.dtype, ACTIVATION_NAMES[op]);
    Array out = empty(x.shape, x.dtype);
    if (op == RELU && x.dtype == F32 && x.is_contiguous()) {
        const float* px = reinterpret_cast<const float*>(x.ptr());
        float* po = reinterpret_cast<float*>(out.ptr());
        parallel_for(x.numel(), 1 << 16, [&](int64_t b, int64_t e) {
            simd::kernels().relu_f32(px + b, po + b, e - b);
        });
        return out;
    }
    Walk<2> walk(x.shape, {out.byte_strides(), x.byte_strides()}, {out.ptr(), x.ptr()});
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        if constexpr (is_float_v<T>) {
            using C = compute_t<T>;
            walk.run([&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
                char* o = p[0];
                const char* a = p[1];
                for (int64_t i = 0; i < n; ++i, o += s[0], a += s[1])
                    store<T>(o, activate<C>(op, load<T>(a), C(beta), C(threshold)));
            }, 1 << 13);
        }
    });
    return out;
}

// ----------------------------------------------------------------------- softmax family

namespace {

// Views x as (outer, len, inner) contiguous lanes and calls f(lane_ptr, stride) per lane.
template <class T, class F>
void for_each_softmax_lane(const Array& x, int axis, Array& out, F f) {
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= x.shape[d];
    for (int d = axis + 1; d < x.ndim(); ++d) inner *= x.shape[d];
    const int64_t len = x.shape[axis];
    const T* px = reinterpret_cast<const T*>(x.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    parallel_for(outer * inner, std::max<int64_t>(1, 4096 / std::max<int64_t>(len, 1)),
                 [&](int64_t b, int64_t e) {
        for (int64_t lane = b; lane < e; ++lane) {
            const int64_t base = (lane / inner) * len * inner + lane % inner;
            f(px + base, po + base, len, inner);
        }
    });
}

template <class T>
void softmax_lane(const T* x, T* y, int64_t len, int64_t stride, bool log) {
    T peak = -INFINITY;
    for (int64_t j = 0; j < len; ++j) {
        T v = x[j * stride];
        if (v > peak || v != v) peak = v;
        if (v != v) break;
    }
    if (std::isinf(peak)) peak = 0;   // all -inf or a +inf: shift by 0 (no inf - inf)
    double total = 0;
    for (int64_t j = 0; j < len; ++j) total += std::exp(double(x[j * stride] - peak));
    if (log) {
        const T shift = T(peak + std::log(total));
        for (int64_t j = 0; j < len; ++j) y[j * stride] = x[j * stride] - shift;
    } else {
        const T scale = T(1.0 / total);
        for (int64_t j = 0; j < len; ++j) y[j * stride] = T(std::exp(x[j * stride] - peak)) * scale;
    }
}

}  // namespace

Array softmax(const Array& x_in, int axis, bool log) {
    require_float(x_in.dtype, log ? "log_softmax" : "softmax");
    if (axis < 0 || axis >= x_in.ndim())
        throw value_error("softmax: axis " + std::to_string(axis) + " out of range for shape " +
                          shape_str(x_in.shape));
    DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd));
    Array out = empty(x.shape, cd);
    if (cd == F32)
        for_each_softmax_lane<float>(x, axis, out, [&](const float* a, float* o, int64_t n, int64_t s) {
            softmax_lane(a, o, n, s, log);
        });
    else
        for_each_softmax_lane<double>(x, axis, out, [&](const double* a, double* o, int64_t n, int64_t s) {
            softmax_lane(a, o, n, s, log);
        });
    return astype_if(out, x_in.dtype);
}

Array cross_entropy(const Array& logits_in, const Array& target_in, int64_t ignore_index) {
    require_float(logits_in.dtype, "cross_entropy");
    if (logits_in.ndim() != 2 || target_in.ndim() != 1 || target_in.shape[0] != logits_in.shape[0] ||
        target_in.dtype != I64)
        throw value_error("cross_entropy: need logits (N, C) and int64 target (N,), got logits " +
                          shape_str(logits_in.shape) + " and " + DTYPE_NAMES[target_in.dtype] +
                          " target " + shape_str(target_in.shape));
    const int64_t N = logits_in.shape[0], C = logits_in.shape[1];
    Array target = contiguous(target_in);
    const int64_t* t = reinterpret_cast<const int64_t*>(target.ptr());
    for (int64_t i = 0; i < N; ++i)
        if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
            throw index_error("cross_entropy: target " + std::to_string(t[i]) + " at row " +
                              std::to_string(i) + " is out of range for " + std::to_string(C) +
                              " classes");
    Array logp = softmax(logits_in, 1, true);
    DType cd = float_compute(logp.dtype);
    Array lp = astype_if(logp, cd);
    Array out = empty({N}, cd);
    visit_dtype(cd, [&](auto v) {
        using T = decltype(v);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* p = reinterpret_cast<const T*>(lp.ptr());
            T* o = reinterpret_cast<T*>(out.ptr());
            for (int64_t i = 0; i < N; ++i) o[i] = t[i] == ignore_index ? T(0) : -p[i * C + t[i]];
        }
    });
    return astype_if(out, logits_in.dtype);
}

// ------------------------------------------------------------------------------ pooling

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

// ------------------------------------------------------------------- optimizer steps

namespace {

// Runs f on dense copies of `arrays` and writes back the ones that were not dense already.
template <class F>
void with_dense(std::vector<const Array*> arrays, F f) {
    std::vector<Array> dense;
    for (const Array* a : arrays) dense.push_back(a ? contiguous(*a) : Array{});
    f(dense);
    for (size_t i = 0; i < arrays.size(); ++i)
        if (arrays[i] && dense[i].storage != arrays[i]->storage) copy_into(*arrays[i], dense[i]);
}

}  // namespace

void sgd_step(const Array& param, const Array& grad, const Array* buf, const SgdArgs& a) {
    require_float(param.dtype, "sgd_step_");
    require_like(param, grad, "sgd_step_", "grad");
    if (buf) require_like(param, *buf, "sgd_step_", "momentum_buffer");
    if (a.momentum != 0 && !buf)
        throw value_error("sgd_step_: momentum " + std::to_string(a.momentum) +
                          " needs a momentum_buffer");
    with_dense({&param, &grad, buf}, [&](std::vector<Array>& d) {
        const int64_t n = param.numel();
        if (param.dtype == F32) {
            float* p = reinterpret_cast<float*>(d[0].ptr());
            const float* g = reinterpret_cast<const float*>(d[1].ptr());
            float* m = buf && a.momentum != 0 ? reinterpret_cast<float*>(d[2].ptr()) : nullptr;
            const simd::SgdConstants c{float(a.lr), float(a.weight_decay), float(a.momentum),
                                       float(a.dampening), a.maximize ? -1.0f : 1.0f,
                                       a.nesterov, a.first_step};
            parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
                simd::kernels().sgd_f32(p + b, g + b, m ? m + b : nullptr, c, e - b);
            });
            return;
        }
        visit_dtype(param.dtype, [&](auto t) {
            using T = decltype(t);
            if constexpr (is_float_v<T>) {
                using C = compute_t<T>;
                char* p = d[0].ptr();
                const char* g = d[1].ptr();
                char* m = buf ? d[2].ptr() : nullptr;
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t at = i * int64_t(sizeof(T));
                    C pv = load<T>(p + at), gv = load<T>(g + at);
                    if (a.maximize) gv = -gv;
                    if (a.weight_decay != 0) gv += C(a.weight_decay) * pv;
                    if (a.momentum != 0) {
                        C mv = a.first_step ? gv
                                            : C(a.momentum) * load<T>(m + at) + C(1 - a.dampening) * gv;
                        store<T>(m + at, mv);
                        mv = load<T>(m + at);   // the stored (rounded) buffer drives the step
                        gv = a.nesterov ? gv + C(a.momentum) * mv : mv;
                    }
                    store<T>(p + at, pv - C(a.lr) * gv);
                }
            }
        });
    });
}

void adam_step(const Array& param, const Array& grad, const Array& m_in, const Array& v_in,
               const Array* vmax_in, const AdamArgs& a) {
    require_float(param.dtype, "adam_step_");
    require_like(param, grad, "adam_step_", "grad");
    require_like(param, m_in, "adam_step_", "exp_avg");
    require_like(param, v_in, "adam_step_", "exp_avg_sq");
    if (a.amsgrad && !vmax_in) throw value_error("adam_step_: amsgrad needs max_exp_avg_sq");
    if (vmax_in) require_like(param, *vmax_in, "adam_step_", "max_exp_avg_sq");
    if (a.step < 1) throw value_error("adam_step_: step counts from 1, got " + std::to_string(a.step));
    const double bc1 = 1 - std::pow(a.beta1, double(a.step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(a.beta2, double(a.step)));
    const double step_size = a.lr / bc1;
    with_dense({&param, &grad, &m_in, &v_in, vmax_in}, [&](std::vector<Array>& d) {
        const int64_t n = param.numel();
        const bool decay_in_grad = a.weight_decay != 0 && !a.decoupled_weight_decay;
        if (param.dtype == F32 && !a.amsgrad && !a.maximize && !decay_in_grad) {
            float* p = reinterpret_cast<float*>(d[0].ptr());
            const float* g = reinterpret_cast<const float*>(d[1].ptr());
            float* m = reinterpret_cast<float*>(d[2].ptr());
            float* v = reinterpret_cast<float*>(d[3].ptr());
            const float shrink = float(1 - a.lr * a.weight_decay);
            parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) {
                if (a.weight_decay != 0)
                    for (int64_t i = b; i < e; ++i) p[i] *= shrink;
                simd::kernels().adam_f32(p + b, g + b, m + b, v + b, float(a.beta1), float(a.beta2),
                                         float(step_size), float(bc2_sqrt), float(a.eps), e - b);
            });
            return;
        }
        visit_dtype(param.dtype, [&](auto t) {
            using T = decltype(t);
            if constexpr (is_float_v<T>) {
                using C = compute_t<T>;
                char *p = d[0].ptr(), *m = d[2].ptr(), *v = d[3].ptr();
                char* vmax = vmax_in ? d[4].ptr() : nullptr;
                const char* g = d[1].ptr();
                for (int64_t i = 0; i < n; ++i) {
                    const int64_t at = i * int64_t(sizeof(T));
                    C pv = load<T>(p + at), gv = load<T>(g + at);
                    if (a.maximize) gv = -gv;
                    if (a.weight_decay != 0) {
                        if (a.decoupled_weight_decay) pv *= C(1 - a.lr * a.weight_decay);
                        else gv += C(a.weight_decay) * pv;
                    }
                    C mv = C(a.beta1) * load<T>(m + at) + C(1 - a.beta1) * gv;
                    C vv = C(a.beta2) * load<T>(v + at) + C(1 - a.beta2) * gv * gv;
                    store<T>(m + at, mv);
                    store<T>(v + at, vv);
                    C second = vv;
                    if (a.amsgrad) {
                        second = std::max<C>(load<T>(vmax + at), vv);
                        store<T>(vmax + at, second);
                    }
                    const C denom = C(std::sqrt(second) / C(bc2_sqrt) + C(a.eps));
                    store<T>(p + at, pv - C(step_size) * mv / denom);
                }
            }
        });
    });
}

// ------------------------------------------------------------------------- batch norm
// x (N, C, ...) is read as N blocks of C planes of `inner` elements; threads own channels, so
// every per-channel sum is one thread's, in a fixed order (results do not depend on threads).

namespace {

struct ChannelLayout {
    int64_t N, C, inner, count;
};

ChannelLayout channel_layout(const Array& x, const char* what) {
    if (x.ndim() < 2)
        throw value_error(std::string(what) + ": expected x of shape (N, C, ...), got " +
                          shape_str(x.shape));
    int64_t inner = 1;
    for (int d = 2; d < x.ndim(); ++d) inner *= x.shape[d];
    return {x.shape[0], x.shape[1], inner, x.shape[0] * inner};
}

// A (C,) statistic or parameter in the compute dtype, dense (an empty Array when absent).
Array per_channel(const Array* a, int64_t C, DType cd, const char* what, const char* name) {
    if (!a) return Array{};
    if (a->shape != Shape{C})
        throw value_error(std::string(what) + ": " + name + " must have shape (" +
                          std::to_string(C) + ",), got " + shape_str(a->shape));
    return contiguous(astype_if(*a, cd));
}

template <class T>
const T* data_or_null(const Array& a) {
    return a.storage ? reinterpret_cast<const T*>(a.ptr()) : nullptr;
}

// Sums of f(i) over [0, n) in double with eight partial sums: a single running sum is a chain
// of dependent adds (four cycles each), eight independent ones pipeline.
template <class F>
inline double partial_sums(int64_t n, F f) {
    double part[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) part[k] += f(i + k);
    double total = 0;
    for (; i < n; ++i) total += f(i);
    for (double v : part) total += v;
    return total;
}

// Calls f(plane pointer) for the N planes of channel c.
template <class T, class F>
void for_channel(const T* x, const ChannelLayout& L, int64_t c, F f) {
    for (int64_t n = 0; n < L.N; ++n) f(x + (n * L.C + c) * L.inner, n);
}

}  // namespace

std::array<Array, 3> batch_norm(const Array& x_in, const Array* weight, const Array* bias,
                                const Array* running_mean, const Array* running_var,
                                bool training, double momentum, double eps) {
    require_float(x_in.dtype, "batch_norm");
    const ChannelLayout L = channel_layout(x_in, "batch_norm");
    if (training && L.count == 1)   // (an empty batch is fine, as in PyTorch)
        throw value_error("batch_norm: training needs more than 1 value per channel, got x of "
                          "shape " + shape_str(x_in.shape));
    if (!training && (!running_mean || !running_var))
        throw value_error("batch_norm: without training it needs running_mean and running_var");
    for (const Array* stat : {running_mean, running_var})
        if (stat && stat->dtype != x_in.dtype)
            throw type_error(std::string("batch_norm: running statistics must be ") +
                             DTYPE_NAMES[x_in.dtype] + " like x, got " + DTYPE_NAMES[stat->dtype]);
    const DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd));
    Array w = per_channel(weight, L.C, cd, "batch_norm", "weight");
    Array b = per_channel(bias, L.C, cd, "batch_norm", "bias");
    Array rm = per_channel(running_mean, L.C, cd, "batch_norm", "running_mean");
    Array rv = per_channel(running_var, L.C, cd, "batch_norm", "running_var");
    Array y = empty(x.shape, cd), mean = empty({L.C}, cd), invstd = empty({L.C}, cd);
    visit_dtype(cd, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T* px = reinterpret_cast<const T*>(x.ptr());
            T* py = reinterpret_cast<T*>(y.ptr());
            T* pm = reinterpret_cast<T*>(mean.ptr());
            T* pi = reinterpret_cast<T*>(invstd.ptr());
            const T *pw = data_or_null<T>(w), *pb = data_or_null<T>(b);
            T* prm = rm.storage ? reinterpret_cast<T*>(rm.ptr()) : nullptr;
            T* prv = rv.storage ? reinterpret_cast<T*>(rv.ptr()) : nullptr;
            parallel_for(L.C, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, L.count)),
                         [&](int64_t c0, int64_t c1) {
                for (int64_t c = c0; c < c1; ++c) {
                    double m = 0, var = 0;   // an empty batch: zero statistics, none updated
                    if (training && L.count > 0) {   // two passes, in double: as PyTorch's
                        double sum = 0;
                        for_channel(px, L, c, [&](const T* plane, int64_t) {
                            sum += partial_sums(L.inner, [&](int64_t i) { return double(plane[i]); });
                        });
                        m = sum / double(L.count);
                        double squares = 0;
                        for_channel(px, L, c, [&](const T* plane, int64_t) {
                            squares += partial_sums(L.inner, [&](int64_t i) {
                                const double d = plane[i] - m;
                                return d * d;
                            });
                        });
                        var = squares / double(L.count);
                        if (prm) prm[c] = T((1 - momentum) * prm[c] + momentum * m);
                        if (prv)
                            prv[c] = T((1 - momentum) * prv[c] +
                                       momentum * squares / double(L.count - 1));
                    } else if (!training) {
                        m = prm[c];
                        var = prv[c];
                    }
                    const double inv = 1.0 / std::sqrt(var + eps);
                    pm[c] = T(m);
                    pi[c] = T(inv);
                    // y = x * a + shift, PyTorch's form of (x - mean) * invstd * w + b
                    const T a = T(inv * (pw ? double(pw[c]) : 1.0));
                    const T shift = T((pb ? double(pb[c]) : 0.0) - m * double(a));
                    for (int64_t n = 0; n < L.N; ++n) {
                        const int64_t at = (n * L.C + c) * L.inner;
                        for (int64_t i = 0; i < L.inner; ++i) py[at + i] = px[at + i] * a + shift;
                    }
                }
            });
        }
    });
    // running statistics were updated in the dense compute-dtype copies: write them back
    for (auto [given, dense] : {std::pair{running_mean, &rm}, std::pair{running_var, &rv}})
        if (training && given && dense->storage != given->storage)
            copy_into(*given, astype_if(*dense, given->dtype));
    return {astype_if(y, x_in.dtype), astype_if(mean, x_in.dtype), astype_if(invstd, x_in.dtype)};
}

std::array<Array, 3> batch_norm_backward(const Array& gy_in, const Array& x_in,
                                         const Array* weight, const Array& mean_in,
                                         const Array& invstd_in, bool training) {
    require_float(x_in.dtype, "batch_norm_backward");
    const ChannelLayout L = channel_layout(x_in, "batch_norm_backward");
    if (gy_in.shape != x_in.shape || gy_in.dtype != x_in.dtype)
        throw value_error("batch_norm_backward: grad_y " + shape_str(gy_in.shape) + " " +
                          DTYPE_NAMES[gy_in.dtype] + " does not match x " +
                          shape_str(x_in.shape) + " " + DTYPE_NAMES[x_in.dtype]);
    const DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd)), gy = contiguous(astype_if(gy_in, cd));
    Array w = per_channel(weight, L.C, cd, "batch_norm_backward", "weight");
    Array mean = per_channel(&mean_in, L.C, cd, "batch_norm_backward", "mean");
    Array invstd = per_channel(&invstd_in, L.C, cd, "batch_norm_backward", "invstd");
    Array gx = empty(x.shape, cd), gw = empty({L.C}, cd), gb = empty({L.C}, cd);
    visit_dtype(cd, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T *px = reinterpret_cast<const T*>(x.ptr()), *pg = reinterpret_cast<const T*>(gy.ptr());
            const T *pm = reinterpret_cast<const T*>(mean.ptr()), *pi = reinterpret_cast<const T*>(invstd.ptr());
            const T* pw = data_or_null<T>(w);
            T *pgx = reinterpret_cast<T*>(gx.ptr()), *pgw = reinterpret_cast<T*>(gw.ptr()),
              *pgb = reinterpret_cast<T*>(gb.ptr());
            parallel_for(L.C, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, L.count)),
                         [&](int64_t c0, int64_t c1) {
                for (int64_t c = c0; c < c1; ++c) {
                    const double m = pm[c], inv = pi[c];
                    double sum_g = 0, sum_gxc = 0;
                    for (int64_t n = 0; n < L.N; ++n) {
                        const T *g = pg + (n * L.C + c) * L.inner, *xs = px + (n * L.C + c) * L.inner;
                        sum_g += partial_sums(L.inner, [&](int64_t i) { return double(g[i]); });
                        sum_gxc += partial_sums(L.inner, [&](int64_t i) { return g[i] * (xs[i] - m); });
                    }
                    const double sum_gxhat = sum_gxc * inv;
                    pgw[c] = T(sum_gxhat);
                    pgb[c] = T(sum_g);
                    const double scale = inv * (pw ? double(pw[c]) : 1.0);
                    // gx = scale * (g - (sum_g + xhat * sum_gxhat) / count), as g * a + x * k + d
                    const T a = T(scale);
                    const T k = training ? T(-scale * inv * sum_gxhat / double(L.count)) : T(0);
                    const T d = training ? T(-scale * (sum_g - m * inv * sum_gxhat) / double(L.count))
                                         : T(0);
                    for (int64_t n = 0; n < L.N; ++n) {
                        const int64_t at = (n * L.C + c) * L.inner;
                        if (training)
                            for (int64_t i = 0; i < L.inner; ++i)
                                pgx[at + i] = pg[at + i] * a + px[at + i] * k + d;
                        else   // x does not enter (an inf in x must not make a nan)
                            for (int64_t i = 0; i < L.inner; ++i) pgx[at + i] = pg[at + i] * a;
                    }
                }
            });
        }
    });
    return {astype_if(gx, x_in.dtype), astype_if(gw, x_in.dtype), astype_if(gb, x_in.dtype)};
}

int64_t sliding_windows(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
    if (in < 0 || k < 1 || s < 1 || p < 0 || d < 1) return -1;
    int64_t padded, reach, span;
    if (__builtin_mul_overflow(p, 2, &padded) || __builtin_add_overflow(padded, in, &padded) ||
        __builtin_mul_overflow(d, k - 1, &reach) || __builtin_sub_overflow(padded, reach + 1, &span))
        return -1;
    return span < 0 ? -1 : span / s + 1;
}

Array arange(double start, double stop, double step, DType dtype) {
    if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) +
                          " must be finite with a nonzero step");
    // The count in double first: converting one beyond int64 to an integer is undefined.
    const double count = std::max(0.0, std::ceil((stop - start) / step));
    if (!(count < 9.2233720368547758e18))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) + " gives " +
                          std::to_string(count) + " elements, more than int64 can count");
    const int64_t n = int64_t(count);
    if (!is_float(dtype) && n > 0 &&
        !(std::fabs(start) < 9.2e18 && std::fabs(step) < 9.2e18 && std::fabs(stop) < 9.2e18))
        throw value_error("arange: start=" + std::to_string(start) + " stop=" +
                          std::to_string(stop) + " step=" + std::to_string(step) +
                          " are outside int64 for an integer arange");
    Array out = empty({n}, dtype);
    visit_dtype(dtype, [&](auto t) {
        using T = decltype(t);
        char* o = out.ptr();
        if constexpr (is_float_v<T>) {
            for (int64_t i = 0; i < n; ++i, o += sizeof(T))
                store<T>(o, compute_t<T>(start + double(i) * step));
        } else {   // start and step are within int64 (checked above); the sum wraps, no UB
            const uint64_t first = uint64_t(int64_t(start)), by = uint64_t(int64_t(step));
            for (int64_t i = 0; i < n; ++i, o += sizeof(T))
                store<T>(o, convert<T>(int64_t(first + uint64_t(i) * by)));
        }
    });
    return out;
}

}  // namespace mgcpu
