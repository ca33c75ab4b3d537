// Optional fast ops of neural networks: activations, the softmax family, cross-entropy, batch
// norm and layer norm (convolution, pooling and optimizer steps have files of their own). Floating
// dtypes only; 16-bit floats compute in float32.
#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "binding.hpp"
#include "dtype_dispatch.hpp"
#include "kernels.hpp"
#include "ops.hpp"
#include "simd/simd.hpp"
#include "strided.hpp"

namespace mgcpu {

namespace {

void activation_dense(int op, const float* x, float* out, int64_t n, double beta, double threshold) {
    simd::kernels().activation_f32(op, x, out, n, float(beta), float(threshold));
}
void activation_dense(int op, const double* x, double* out, int64_t n, double beta,
                      double threshold) {
    simd::kernels().activation_f64(op, x, out, n, beta, threshold);
}

}  // namespace

// Every layout runs the SIMD formula: dense float32/float64 runs in place, anything else
// (strided runs, 16-bit floats) through a small compute-dtype buffer, so a value never
// depends on the layout it came in.
Array activation(int op, const Array& x, double beta, double threshold) {
    require_float(x.dtype, ACTIVATION_NAMES[op]);
    Array out = empty(x.shape, x.dtype);
    Walk<2> walk(x.shape, {out.byte_strides(), x.byte_strides()}, {out.ptr(), x.ptr()});
    visit_dtype(x.dtype, [&](auto t) {
        using T = decltype(t);
        if constexpr (is_float_v<T>) {
            using C = compute_t<T>;
            constexpr int64_t size = sizeof(T), CHUNK = 256;
            // transcendentals cost tens of cycles a vector: threads pay from 16k elements
            walk.run([&](const std::array<char*, 2>& p, const std::array<int64_t, 2>& s, int64_t n) {
                if constexpr (std::is_same_v<T, C>) {
                    if (s[0] == size && s[1] == size) {
                        activation_dense(op, reinterpret_cast<const T*>(p[1]),
                                         reinterpret_cast<T*>(p[0]), n, beta, threshold);
                        return;
                    }
                }
                C buf[CHUNK];
                for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
                    const int64_t m = std::min(CHUNK, n - i0);
                    for (int64_t i = 0; i < m; ++i) buf[i] = C(load<T>(p[1] + (i0 + i) * s[1]));
                    activation_dense(op, buf, buf, m, beta, threshold);
                    for (int64_t i = 0; i < m; ++i) store<T>(p[0] + (i0 + i) * s[0], buf[i]);
                }
            }, 1 << 14);
        }
    });
    return out;
}

// ----------------------------------------------------------------------- softmax family
// x viewed as (outer, len, inner), softmax along len: rows of the last axis (inner 1) whole
// rows a kernel call, otherwise blocks of up to 64 columns of one outer slice, every column a
// vector lane; threads split rows or blocks. Forward and backward share the walk.

namespace {

struct SoftmaxLayout {
    int64_t outer = 1, len, inner = 1;

    SoftmaxLayout(const Shape& shape, int axis) : len(shape[axis]) {
        for (int d = 0; d < axis; ++d) outer *= shape[d];
        for (int d = axis + 1; d < int(shape.size()); ++d) inner *= shape[d];
    }
    bool empty() const { return outer * len * inner == 0; }

    // rows(first row, row count) for inner == 1, else columns(first element, column count)
    // per block; a task is about `task` elements (below that one thread beats a pool wake-up).
    template <class Rows, class Columns>
    void for_each_block(int64_t task, Rows rows, Columns columns) const {
        if (inner == 1) {
            parallel_for(outer, std::max<int64_t>(1, task / len),
                         [&](int64_t r0, int64_t r1) { rows(r0, r1 - r0); });
            return;
        }
        constexpr int64_t COLUMN_BLOCK = 64;
        const int64_t blocks = (inner + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
        parallel_for(outer * blocks, std::max<int64_t>(1, task / (len * std::min(inner, COLUMN_BLOCK))),
                     [&](int64_t b0, int64_t b1) {
            for (int64_t b = b0; b < b1; ++b) {
                const int64_t o = b / blocks, c0 = (b % blocks) * COLUMN_BLOCK;
                columns(o * len * inner + c0, std::min(COLUMN_BLOCK, inner - c0));
            }
        });
    }
};

template <class T>
void softmax_dense(const Array& x, int axis, Array& out, bool log) {
    const SoftmaxLayout L(x.shape, axis);
    if (L.empty()) return;
    const T* px = reinterpret_cast<const T*>(x.ptr());
    T* po = reinterpret_cast<T*>(out.ptr());
    const auto& k = simd::kernels();
    constexpr int64_t TASK = 1 << 14;   // about 16k elements of exp
    L.for_each_block(TASK, [&](int64_t r0, int64_t rows) {
        const int64_t at = r0 * L.len;
        if constexpr (std::is_same_v<T, float>) k.softmax_rows_f32(px + at, po + at, rows, L.len, log);
        else k.softmax_rows_f64(px + at, po + at, rows, L.len, log);
    }, [&](int64_t at, int64_t cols) {
        if constexpr (std::is_same_v<T, float>)
            k.softmax_cols_f32(px + at, po + at, L.len, L.inner, cols, log);
        else
            k.softmax_cols_f64(px + at, po + at, L.len, L.inner, cols, log);
    });
}

template <class T>
void softmax_backward_dense(const Array& gy, const Array& y, int axis, Array& gx) {
    const SoftmaxLayout L(y.shape, axis);
    if (L.empty()) return;
    const T *py = reinterpret_cast<const T*>(y.ptr()), *pg = reinterpret_cast<const T*>(gy.ptr());
    T* po = reinterpret_cast<T*>(gx.ptr());
    const auto& k = simd::kernels();
    constexpr int64_t TASK = 1 << 15;   // two loads and a few flops an element
    L.for_each_block(TASK, [&](int64_t r0, int64_t rows) {
        const int64_t at = r0 * L.len;
        if constexpr (std::is_same_v<T, float>)
            k.softmax_backward_rows_f32(pg + at, py + at, po + at, rows, L.len);
        else
            k.softmax_backward_rows_f64(pg + at, py + at, po + at, rows, L.len);
    }, [&](int64_t at, int64_t cols) {
        if constexpr (std::is_same_v<T, float>)
            k.softmax_backward_cols_f32(pg + at, py + at, po + at, L.len, L.inner, cols);
        else
            k.softmax_backward_cols_f64(pg + at, py + at, po + at, L.len, L.inner, cols);
    });
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
    if (cd == F32) softmax_dense<float>(x, axis, out, log);
    else softmax_dense<double>(x, axis, out, log);
    return astype_if(out, x_in.dtype);
}

// grad_x = y * (gy - sum(gy * y)) along axis, laid out as softmax's forward.
Array softmax_backward(const Array& gy_in, const Array& y_in, int axis) {
    require_float(y_in.dtype, "softmax_backward");
    if (gy_in.shape != y_in.shape || gy_in.dtype != y_in.dtype)
        throw value_error("softmax_backward: grad_y " + shape_str(gy_in.shape) + " " +
                          DTYPE_NAMES[gy_in.dtype] + " does not match y " +
                          shape_str(y_in.shape) + " " + DTYPE_NAMES[y_in.dtype]);
    if (axis < 0 || axis >= y_in.ndim())
        throw value_error("softmax_backward: axis " + std::to_string(axis) +
                          " out of range for shape " + shape_str(y_in.shape));
    const DType cd = float_compute(y_in.dtype);
    Array y = contiguous(astype_if(y_in, cd)), gy = contiguous(astype_if(gy_in, cd));
    Array gx = empty(y.shape, cd);
    if (cd == F32) softmax_backward_dense<float>(gy, y, axis, gx);
    else softmax_backward_dense<double>(gy, y, axis, gx);
    return astype_if(gx, y_in.dtype);
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
    // log_softmax's value at each target, the rows never written out; threads own rows
    const DType cd = float_compute(logits_in.dtype);
    Array x = contiguous(astype_if(logits_in, cd));
    Array out = empty({N}, cd);
    const auto& k = simd::kernels();
    constexpr int64_t TASK = 1 << 15;   // elements per task: an exp and two reads each
    parallel_for(N, std::max<int64_t>(1, TASK / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
        if (cd == F32)
            k.cross_entropy_rows_f32(reinterpret_cast<const float*>(x.ptr()) + r0 * C, t + r0,
                                     ignore_index, r1 - r0, C,
                                     reinterpret_cast<float*>(out.ptr()) + r0);
        else
            k.cross_entropy_rows_f64(reinterpret_cast<const double*>(x.ptr()) + r0 * C, t + r0,
                                     ignore_index, r1 - r0, C,
                                     reinterpret_cast<double*>(out.ptr()) + r0);
    });
    return astype_if(out, logits_in.dtype);
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

// ------------------------------------------------------------------------- layer norm
// x is read as rows of len = the last normalized_ndim dims; threads own whole rows (a row's
// statistics are one thread's, in a fixed order), and for grad_weight/grad_bias whole columns.

namespace {

struct RowLayout {
    int64_t rows, len;
    Shape stat_shape;   // x.shape with the normalised dims as 1
    Shape normalized;   // the normalised dims
};

RowLayout row_layout(const Array& x, int normalized_ndim, const char* what) {
    if (normalized_ndim < 0 || normalized_ndim > x.ndim())
        throw value_error(std::string(what) + ": normalized_ndim " +
                          std::to_string(normalized_ndim) + " is out of range for x of shape " +
                          shape_str(x.shape));
    RowLayout L{1, 1, x.shape, {}};
    const int lead = x.ndim() - normalized_ndim;
    for (int d = 0; d < x.ndim(); ++d) {
        if (d < lead) {
            L.rows *= x.shape[d];
        } else {
            L.len *= x.shape[d];
            L.stat_shape[d] = 1;
            L.normalized.push_back(x.shape[d]);
        }
    }
    return L;
}

// A weight or bias of the normalised dims' shape, dense in the compute dtype (empty: absent).
Array per_feature(const Array* a, const RowLayout& L, DType cd, const char* what, const char* name) {
    if (!a) return Array{};
    if (a->shape != L.normalized)
        throw value_error(std::string(what) + ": " + name + " must have shape " +
                          shape_str(L.normalized) + " (x's normalised dims), got " +
                          shape_str(a->shape));
    return contiguous(astype_if(*a, cd));
}

template <class T>
T* data_of(Array& a) {
    return reinterpret_cast<T*>(a.ptr());
}

}  // namespace

std::array<Array, 3> layer_norm(const Array& x_in, const Array* weight, const Array* bias,
                                int normalized_ndim, double eps) {
    require_float(x_in.dtype, "layer_norm");
    const RowLayout L = row_layout(x_in, normalized_ndim, "layer_norm");
    const DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd));
    Array w = per_feature(weight, L, cd, "layer_norm", "weight");
    Array b = per_feature(bias, L, cd, "layer_norm", "bias");
    Array y = empty(x.shape, cd), mean = empty(L.stat_shape, cd), rstd = empty(L.stat_shape, cd);
    visit_dtype(cd, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            T *pm = data_of<T>(mean), *pr = data_of<T>(rstd);
            if (L.len == 0) {   // no features: the decomposition's zero mean and variance
                std::fill_n(pm, L.rows, T(0));
                std::fill_n(pr, L.rows, T(1.0 / std::sqrt(eps)));
                return;
            }
            const T* px = data_of<T>(x);
            const T *pw = data_or_null<T>(w), *pb = data_or_null<T>(b);
            T* py = data_of<T>(y);
            const auto& k = simd::kernels();
            parallel_for(L.rows, std::max<int64_t>(1, (1 << 14) / L.len), [&](int64_t r0, int64_t r1) {
                const int64_t at = r0 * L.len;
                if constexpr (std::is_same_v<T, float>)
                    k.layer_norm_rows_f32(px + at, pw, pb, py + at, pm + r0, pr + r0, r1 - r0, L.len, eps);
                else
                    k.layer_norm_rows_f64(px + at, pw, pb, py + at, pm + r0, pr + r0, r1 - r0, L.len, eps);
            });
        }
    });
    return {astype_if(y, x_in.dtype), astype_if(mean, x_in.dtype), astype_if(rstd, x_in.dtype)};
}

std::array<std::optional<Array>, 3> layer_norm_backward(const Array& gy_in, const Array& x_in,
                                                        const Array* weight, const Array& mean_in,
                                                        const Array& rstd_in, int normalized_ndim) {
    require_float(x_in.dtype, "layer_norm_backward");
    const RowLayout L = row_layout(x_in, normalized_ndim, "layer_norm_backward");
    if (gy_in.shape != x_in.shape || gy_in.dtype != x_in.dtype)
        throw value_error("layer_norm_backward: grad_y " + shape_str(gy_in.shape) + " " +
                          DTYPE_NAMES[gy_in.dtype] + " does not match x " +
                          shape_str(x_in.shape) + " " + DTYPE_NAMES[x_in.dtype]);
    for (const Array* stat : {&mean_in, &rstd_in})
        if (stat->numel() != L.rows)
            throw value_error("layer_norm_backward: mean and rstd need one value per row (" +
                              std::to_string(L.rows) + "), got shape " + shape_str(stat->shape));
    const DType cd = float_compute(x_in.dtype);
    Array x = contiguous(astype_if(x_in, cd)), gy = contiguous(astype_if(gy_in, cd));
    Array w = per_feature(weight, L, cd, "layer_norm_backward", "weight");
    Array mean = contiguous(astype_if(mean_in, cd)), rstd = contiguous(astype_if(rstd_in, cd));
    Array gx = empty(x.shape, cd), gw = empty(L.normalized, cd), gb = empty(L.normalized, cd);
    visit_dtype(cd, [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
            const T *px = data_of<T>(x), *pg = data_of<T>(gy), *pw = data_or_null<T>(w);
            const T *pm = data_of<T>(mean), *pr = data_of<T>(rstd);
            T *pgx = data_of<T>(gx), *pgw = data_of<T>(gw), *pgb = data_of<T>(gb);
            const auto& k = simd::kernels();
            if (L.len > 0)
                parallel_for(L.rows, std::max<int64_t>(1, (1 << 14) / L.len), [&](int64_t r0, int64_t r1) {
                    const int64_t at = r0 * L.len;
                    if constexpr (std::is_same_v<T, float>)
                        k.layer_norm_backward_rows_f32(pg + at, px + at, pw, pm + r0, pr + r0, pgx + at, r1 - r0, L.len);
                    else
                        k.layer_norm_backward_rows_f64(pg + at, px + at, pw, pm + r0, pr + r0, pgx + at, r1 - r0, L.len);
                });
            // per-feature sums over the rows: threads own blocks of columns, rows in order
            parallel_for(L.len, std::max<int64_t>(64, (1 << 15) / std::max<int64_t>(L.rows, 1)),
                         [&](int64_t c0, int64_t c1) {
                const int64_t n = c1 - c0;
                std::vector<double> sw(size_t(n), 0.0), sb(size_t(n), 0.0);
                for (int64_t r = 0; r < L.rows; ++r) {
                    const T *g = pg + r * L.len + c0, *xr = px + r * L.len + c0;
                    const T m = pm[r], s = pr[r];
                    for (int64_t j = 0; j < n; ++j) {
                        sb[j] += double(g[j]);
                        sw[j] += double(g[j]) * double((xr[j] - m) * s);
                    }
                }
                for (int64_t j = 0; j < n; ++j) {
                    pgw[c0 + j] = T(sw[j]);
                    pgb[c0 + j] = T(sb[j]);
                }
            });
        }
    });
    std::optional<Array> grad_w;
    if (weight) grad_w = astype_if(gw, x_in.dtype);
    return {astype_if(gx, x_in.dtype), grad_w, astype_if(gb, x_in.dtype)};
}

// --------------------------------------------------------------------------- bindings

void init_nn(py::module_& m) {
    const OpTable* activations = op_table(m, "activation", ACTIVATION_NAMES, "ACTIVATIONS");
    m.def("activation", [activations](py::handle op, const Array& x, double beta, double threshold) {
        const int code = (*activations)(op);
        return without_gil_if_large(x.numel(), [&] { return activation(code, x, beta, threshold); });
    }, py::arg("op"), py::arg("x"), py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
       "A name in ACTIVATIONS applied elementwise (beta and threshold: softplus's).");
    m.def("softmax", [](const Array& x, int axis, bool log) {
        return without_gil_if_large(x.numel(), [&] { return softmax(x, axis, log); });
    }, py::arg("x"), py::arg("axis"), py::arg("log"), "softmax (log: log_softmax) along `axis`.");
    m.def("softmax_backward", [](const Array& grad_y, const Array& y, int axis) {
        return without_gil_if_large(y.numel(), [&] { return softmax_backward(grad_y, y, axis); });
    }, py::arg("grad_y"), py::arg("y"), py::arg("axis"),
       "grad_x of softmax along `axis` from its output y: y * (grad_y - sum(grad_y * y)).");
    m.def("cross_entropy", [](const Array& logits, const Array& target, int64_t ignore_index) {
        return without_gil_if_large(logits.numel(),
                                    [&] { return cross_entropy(logits, target, ignore_index); });
    }, py::arg("logits"), py::arg("target"), py::arg("ignore_index"),
       "Per-sample -log_softmax(logits)[i, target[i]]; 0 where target is ignore_index.");
    m.def("batch_norm", [](const Array& x, std::optional<Array> weight, std::optional<Array> bias,
                           std::optional<Array> running_mean, std::optional<Array> running_var,
                           bool training, double momentum, double eps) {
        auto r = without_gil_if_large(x.numel(), [&] {
            return batch_norm(x, weight ? &*weight : nullptr, bias ? &*bias : nullptr,
                              running_mean ? &*running_mean : nullptr,
                              running_var ? &*running_var : nullptr, training, momentum, eps);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
       py::arg("running_var"), py::arg("training"), py::arg("momentum"), py::arg("eps"),
       "(y, mean, invstd) per channel of x (N, C, ...); training updates running stats in place.");
    m.def("batch_norm_backward", [](const Array& grad_y, const Array& x, std::optional<Array> weight,
                                    const Array& mean, const Array& invstd, bool training) {
        auto r = without_gil_if_large(x.numel(), [&] {
            return batch_norm_backward(grad_y, x, weight ? &*weight : nullptr, mean, invstd, training);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    }, py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("invstd"),
       py::arg("training"), "(grad_x, sum(grad_y * xhat), sum(grad_y)) of batch_norm.");
    m.def("layer_norm", [](const Array& x, std::optional<Array> weight, std::optional<Array> bias,
                           int normalized_ndim, double eps) {
        auto r = without_gil_if_large(x.numel(), [&] {
            return layer_norm(x, weight ? &*weight : nullptr, bias ? &*bias : nullptr,
                              normalized_ndim, eps);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    }, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("normalized_ndim"),
       py::arg("eps"), "(y, mean, rstd) of x normalised over its last normalized_ndim dims.");
    m.def("layer_norm_backward", [](const Array& grad_y, const Array& x, std::optional<Array> weight,
                                    const Array& mean, const Array& rstd, int normalized_ndim) {
        auto r = without_gil_if_large(x.numel(), [&] {
            return layer_norm_backward(grad_y, x, weight ? &*weight : nullptr, mean, rstd,
                                       normalized_ndim);
        });
        return py::make_tuple(r[0], r[1] ? py::cast(*r[1]) : py::none(), r[2]);
    }, py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
       py::arg("normalized_ndim"),
       "(grad_x, grad_weight (None without weight), grad_bias) of layer_norm.");
}

}  // namespace mgcpu
