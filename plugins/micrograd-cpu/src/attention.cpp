// Fused scaled-dot-product attention, forward and backward (the contract's optional
// scaled_dot_product_attention and scaled_dot_product_attention_backward), float32 and float64.
//
// One task is a block of query rows of one (batch, head) matrix: its scores S = scale Q K^T
// for the keys it may see (all of them, or keys 0..i for query i when causal) are made by one
// small GEMM into a per-thread buffer, turned into probabilities P row by row with the SIMD
// softmax, and P V lands in the output, so the (L, S) score and probability matrices of the
// whole batch never exist. The backward recomputes P block by block the same way (the same
// kernels in the same order: the very P of the forward) instead of saving it; with
// dP = dO V^T the softmax backward gives dS = P * (dP - rowsum(dP * P)), and
// dQ = scale dS K, dK += scale dS^T Q, dV += P^T dO. The backward's tasks are whole
// (batch, head) matrices, since dK and dV sum over every query block.
//
// Operands are read in place through their strides (the heads of a fused QKV projection are
// strided views): any leading-dim and row strides, the last dim dense (else copied first).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "binding.hpp"
#include "kernels.hpp"
#include "simd/simd.hpp"

namespace mgcpu {

namespace {

// Query rows a task takes: a block of scores (ROWS x keys) and its probabilities stay in L2
// for sequence lengths up to a few thousand. Causal blocks are shorter: a block's products
// span the keys of its last row, so at T = 64 two blocks of 32 rows compute 3/4 of the scores
// one block would (forward + backward of GPT's 16 x 4 heads of 64 x 32: 0.93x of 64 rows'
// time; blocks of 16 rows, 5/8 of the scores in smaller products, were slower).
constexpr int64_t QUERY_BLOCK = 64;
constexpr int64_t CAUSAL_QUERY_BLOCK = 32;

// One operand (..., rows, cols) as matrices: the element offset of each leading index, the
// row stride; columns are dense. T is const for the inputs.
template <class T>
struct Matrices {
    T* base;
    int64_t row_stride;
    std::vector<int64_t> offsets;

    explicit Matrices(const Array& x) : base(reinterpret_cast<T*>(x.ptr())) {
        const int nd = x.ndim();
        row_stride = x.strides[nd - 2];
        int64_t count = 1;
        for (int d = 0; d < nd - 2; ++d) count *= x.shape[d];
        offsets.assign(size_t(count), 0);
        std::vector<int64_t> index(size_t(std::max(nd - 2, 0)), 0);
        int64_t at = 0;
        for (int64_t b = 0; b < count; ++b) {
            offsets[size_t(b)] = at;
            for (int d = nd - 3; d >= 0; --d) {     // next leading index, last dim fastest
                at += x.strides[d];
                if (++index[size_t(d)] < x.shape[d]) break;
                at -= x.strides[d] * x.shape[d];
                index[size_t(d)] = 0;
            }
        }
    }
    T* operator[](int64_t b) const { return base + offsets[size_t(b)]; }
};

// A fresh array of `shape` whose dims lie in memory in the order of `like`'s strides (largest
// first, ties in dim order), PyTorch's preserve_format: heads that are strided views of a
// (B, T, H, D) projection give an output and gradients laid out (B, T, H, D) too, so the
// transpose back and the reshape to (B, T, C) that follow are views, not copies.
Array empty_like_layout(const Shape& shape, const Array& like) {
    const int nd = int(shape.size());
    std::vector<int> order(static_cast<size_t>(nd));
    for (int d = 0; d < nd; ++d) order[size_t(d)] = d;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return std::abs(like.strides[size_t(a)]) > std::abs(like.strides[size_t(b)]);
    });
    if (order.back() != nd - 1) return empty(shape, like.dtype);   // rows stay dense
    Shape stored(static_cast<size_t>(nd)), strides(static_cast<size_t>(nd));
    for (int d = 0; d < nd; ++d) stored[size_t(d)] = shape[size_t(order[size_t(d)])];
    Array base = empty(stored, like.dtype);
    for (int d = 0; d < nd; ++d) strides[size_t(order[size_t(d)])] = base.strides[size_t(d)];
    return make_view(base, shape, strides, 0);
}

// x with a dense last dim (a copy only when it is strided) in the compute dtype.
Array dense_columns(const Array& x) {
    const int nd = x.ndim();
    if (x.shape[nd - 1] > 1 && x.strides[nd - 1] != 1) return contiguous(x);
    return x;
}

template <class T>
void product(int64_t m, int64_t n, int64_t k, const T* a, int64_t rsa, int64_t csa, const T* b,
          int64_t rsb, int64_t csb, T* c, int64_t rsc, T alpha, T beta) {
    const auto& g = simd::gemm_kernels();
    if constexpr (std::is_same_v<T, float>) g.gemm_f32(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, 1, alpha, beta);
    else g.gemm_f64(m, n, k, a, rsa, csa, b, rsb, csb, c, rsc, 1, alpha, beta);
}

template <class T>
void softmax_row(T* row, int64_t len) {
    const auto& k = simd::kernels();
    if constexpr (std::is_same_v<T, float>) k.softmax_rows_f32(row, row, 1, len, false);
    else k.softmax_rows_f64(row, row, 1, len, false);
}

template <class T>
void softmax_backward_row(T* grad, const T* p, int64_t len) {
    const auto& k = simd::kernels();
    if constexpr (std::is_same_v<T, float>) k.softmax_backward_rows_f32(grad, p, grad, 1, len);
    else k.softmax_backward_rows_f64(grad, p, grad, 1, len);
}

struct Sizes {
    int64_t batches, L, S, E, Ev;
    bool causal;
    // keys query row i sees: 0..i when causal (top-left aligned, as PyTorch's is_causal)
    int64_t keys_of(int64_t i) const { return causal ? std::min(i + 1, S) : S; }
    int64_t block() const { return causal ? CAUSAL_QUERY_BLOCK : QUERY_BLOCK; }
};

// P for query rows [i0, i1) of one matrix into p (rows x width, width = keys_of(i1 - 1)),
// zero past each row's own keys. Returns width.
template <class T>
int64_t probabilities(const Sizes& z, const T* q, int64_t rq, const T* k, int64_t rk, T scale,
                      int64_t i0, int64_t i1, T* p) {
    const int64_t width = z.keys_of(i1 - 1);
    product<T>(i1 - i0, width, z.E, q + i0 * rq, rq, 1, k, 1, rk, p, width, scale, T(0));
    for (int64_t i = i0; i < i1; ++i) {
        T* row = p + (i - i0) * width;
        const int64_t len = z.keys_of(i);
        softmax_row(row, len);
        std::fill(row + len, row + width, T(0));
    }
    return width;
}

template <class T>
void forward(const Sizes& z, const Array& q_in, const Array& k_in, const Array& v_in, T scale,
             Array& out) {
    const Matrices<const T> q(q_in), k(k_in), v(v_in);
    const Matrices<T> o(out);
    const int64_t blocks = (z.L + z.block() - 1) / z.block();
    const int64_t work_per_task = std::min(z.L, z.block()) * z.S * (z.E + z.Ev);
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(work_per_task, 1));
    parallel_for(z.batches * blocks, grain, [&](int64_t t0, int64_t t1) {
        std::vector<T> p(size_t(std::min(z.L, z.block()) * z.S));
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t b = t / blocks, i0 = (t % blocks) * z.block();
            const int64_t i1 = std::min(z.L, i0 + z.block());
            const int64_t width =
                probabilities<T>(z, q[b], q.row_stride, k[b], k.row_stride, scale, i0, i1, p.data());
            product<T>(i1 - i0, z.Ev, width, p.data(), width, 1, v[b], v.row_stride, 1,
                       o[b] + i0 * o.row_stride, o.row_stride, T(1), T(0));
        }
    });
}

template <class T>
void backward(const Sizes& z, const Array& go_in, const Array& q_in, const Array& k_in,
              const Array& v_in, T scale, Array& gq_out, Array& gk_out, Array& gv_out) {
    const Matrices<const T> go(go_in), q(q_in), k(k_in), v(v_in);
    const Matrices<T> gq(gq_out), gk(gk_out), gv(gv_out);
    const int64_t work_per_task = z.L * z.S * (z.E + z.Ev);
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(work_per_task, 1));
    parallel_for(z.batches, grain, [&](int64_t b0, int64_t b1) {
        const int64_t rows = std::min(z.L, z.block());
        std::vector<T> p(size_t(rows * z.S)), ds(size_t(rows * z.S));
        for (int64_t b = b0; b < b1; ++b) {
            const T *qb = q[b], *kb = k[b], *vb = v[b], *gob = go[b];
            const int64_t rq = q.row_stride, rk = k.row_stride, rv = v.row_stride,
                          rgo = go.row_stride;
            T *gqb = gq[b], *gkb = gk[b], *gvb = gv[b];
            const int64_t rgq = gq.row_stride, rgk = gk.row_stride, rgv = gv.row_stride;
            for (int64_t j = 0; j < z.S; ++j) {
                std::fill(gkb + j * rgk, gkb + j * rgk + z.E, T(0));
                std::fill(gvb + j * rgv, gvb + j * rgv + z.Ev, T(0));
            }
            for (int64_t i0 = 0; i0 < z.L; i0 += z.block()) {
                const int64_t i1 = std::min(z.L, i0 + z.block()), m = i1 - i0;
                const int64_t width = probabilities<T>(z, qb, rq, kb, rk, scale, i0, i1, p.data());
                const T* go_rows = gob + i0 * rgo;
                // dV[:width] += P^T dO
                product<T>(width, z.Ev, m, p.data(), 1, width, go_rows, rgo, 1, gvb, rgv, T(1), T(1));
                // dP = dO V^T, then dS = P * (dP - rowsum(dP * P)) row by row, in place
                product<T>(m, width, z.Ev, go_rows, rgo, 1, vb, 1, rv, ds.data(), width, T(1), T(0));
                for (int64_t i = i0; i < i1; ++i) {
                    T* row = ds.data() + (i - i0) * width;
                    const int64_t len = z.keys_of(i);
                    softmax_backward_row(row, p.data() + (i - i0) * width, len);
                    std::fill(row + len, row + width, T(0));
                }
                // dQ = scale dS K, dK[:width] += scale dS^T Q
                product<T>(m, z.E, width, ds.data(), width, 1, kb, rk, 1, gqb + i0 * rgq, rgq, scale,
                           T(0));
                product<T>(width, z.E, m, ds.data(), 1, width, qb + i0 * rq, rq, 1, gkb, rgk, scale,
                           T(1));
            }
        }
    });
}

// The shapes of one call, checked: q (..., L, E), k (..., S, E), v (..., S, Ev), the leading
// dims equal, one floating dtype (float32 or float64: the binding's caller declines others).
Sizes check(const char* what, const Array& q, const Array& k, const Array& v) {
    const auto fail = [&](const std::string& why) {
        throw value_error(std::string(what) + ": " + why + " (query " + shape_str(q.shape) + " " +
                          DTYPE_NAMES[q.dtype] + ", key " + shape_str(k.shape) + " " +
                          DTYPE_NAMES[k.dtype] + ", value " + shape_str(v.shape) + " " +
                          DTYPE_NAMES[v.dtype] + ")");
    };
    if (q.dtype != k.dtype || q.dtype != v.dtype) fail("query, key and value must share a dtype");
    if (q.dtype != F32 && q.dtype != F64) fail("only float32 and float64 are fused");
    const int nd = q.ndim();
    if (nd < 2 || k.ndim() != nd || v.ndim() != nd) fail("need (..., L, E) operands of one rank, at least 2-D");
    for (int d = 0; d < nd - 2; ++d)
        if (k.shape[d] != q.shape[d] || v.shape[d] != q.shape[d])
            fail("the leading (batch) dims must be equal; broadcast them first");
    if (k.shape[nd - 1] != q.shape[nd - 1]) fail("query and key must share the last dim");
    if (v.shape[nd - 2] != k.shape[nd - 2]) fail("key and value must share the sequence dim");
    Sizes z{1, q.shape[nd - 2], k.shape[nd - 2], q.shape[nd - 1], v.shape[nd - 1], false};
    for (int d = 0; d < nd - 2; ++d) z.batches *= q.shape[d];
    if (z.S == 0 && z.L > 0) fail("no keys to attend to (a softmax over nothing)");
    return z;
}

Shape with_last(const Shape& s, int64_t last) {
    Shape out(s);
    out.back() = last;
    return out;
}

}  // namespace

Array scaled_dot_product_attention(const Array& q_in, const Array& k_in, const Array& v_in,
                                   double scale, bool causal) {
    Sizes z = check("scaled_dot_product_attention", q_in, k_in, v_in);
    z.causal = causal;
    const Array q = dense_columns(q_in), k = dense_columns(k_in), v = dense_columns(v_in);
    Array out = empty_like_layout(with_last(q.shape, z.Ev), q);
    if (z.batches * z.L == 0) return out;
    if (q.dtype == F32) forward<float>(z, q, k, v, float(scale), out);
    else forward<double>(z, q, k, v, scale, out);
    return out;
}

std::array<Array, 3> scaled_dot_product_attention_backward(
        const Array& go_in, const Array& q_in, const Array& k_in, const Array& v_in,
        double scale, bool causal) {
    Sizes z = check("scaled_dot_product_attention_backward", q_in, k_in, v_in);
    z.causal = causal;
    if (go_in.dtype != q_in.dtype || go_in.shape != with_last(q_in.shape, z.Ev))
        throw value_error("scaled_dot_product_attention_backward: grad_out " +
                          shape_str(go_in.shape) + " " + DTYPE_NAMES[go_in.dtype] +
                          " does not match the output " + shape_str(with_last(q_in.shape, z.Ev)) +
                          " " + DTYPE_NAMES[q_in.dtype]);
    const Array go = dense_columns(go_in), q = dense_columns(q_in), k = dense_columns(k_in),
                v = dense_columns(v_in);
    Array gq = empty_like_layout(q.shape, q), gk = empty_like_layout(k.shape, k),
          gv = empty_like_layout(v.shape, v);
    if (z.batches * z.L == 0) {     // no queries: nothing reaches the keys and values
        for (Array* g : {&gk, &gv}) {
            Array dense = empty(g->shape, g->dtype);
            std::memset(dense.ptr(), 0, size_t(dense.numel() * dense.itemsize()));
            *g = dense;
        }
        return {gq, gk, gv};
    }
    if (q.dtype == F32) backward<float>(z, go, q, k, v, float(scale), gq, gk, gv);
    else backward<double>(z, go, q, k, v, scale, gq, gk, gv);
    return {gq, gk, gv};
}

namespace {
// Multiply-adds of one product of the call, about: L * E per batch times S keys.
int64_t work(const Array& q, const Array& k) {
    return k.ndim() >= 2 ? q.numel() * k.shape[size_t(k.ndim() - 2)] : 0;
}
}  // namespace

void init_attention(py::module_& m) {
    m.def("scaled_dot_product_attention", [](const Array& q, const Array& k, const Array& v,
                                             double scale, bool is_causal) {
        return without_gil_if_large(work(q, k), [&] {
            return scaled_dot_product_attention(q, k, v, scale, is_causal);
        });
    }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("scale"), py::arg("is_causal"),
       "softmax(q k^T * scale, causal: keys 0..i for query i) v for float32/float64 "
       "(..., L, E), (..., S, E), (..., S, Ev) with equal leading dims.");
    m.def("scaled_dot_product_attention_backward", [](const Array& grad_out, const Array& q,
                                                      const Array& k, const Array& v,
                                                      double scale, bool is_causal) {
        auto r = without_gil_if_large(work(q, k), [&] {
            return scaled_dot_product_attention_backward(grad_out, q, k, v, scale, is_causal);
        });
        return py::make_tuple(r[0], r[1], r[2]);
    }, py::arg("grad_out"), py::arg("q"), py::arg("k"), py::arg("v"), py::arg("scale"),
       py::arg("is_causal"),
       "(grad_q, grad_k, grad_v) of scaled_dot_product_attention, its probabilities recomputed.");
}

}  // namespace mgcpu
