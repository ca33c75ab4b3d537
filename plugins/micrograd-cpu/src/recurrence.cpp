// The optional ops lstm_sequence and lstm_sequence_backward: one LSTM layer and direction over
// a whole sequence in one call, the time loop in C++. Per step the recurrent product goes
// through the threaded GEMM (split over the pool when large) and the gate arithmetic runs row by
// row through the SIMD sigmoid and tanh (over the pool by rows when a step is large); Python
// would otherwise pay a few calls per step.
// float32 and float64; 16-bit floats are declined (the core's decomposition runs them).
#include <algorithm>
#include <cstring>
#include <vector>

#include "binding.hpp"
#include "gemm.hpp"
#include "kernels.hpp"
#include "ops.hpp"
#include "parallel.hpp"
#include "simd/simd.hpp"

namespace mgcpu {

namespace {

void sigmoid_(float* x, int64_t n) { simd::kernels().activation_f32(SIGMOID, x, x, n, 1.f, 20.f); }
void sigmoid_(double* x, int64_t n) { simd::kernels().activation_f64(SIGMOID, x, x, n, 1., 20.); }
template <class T>
void tanh_into(const T* x, T* out, int64_t n) { simd::unary_contiguous(TANH, x, out, n); }

// A step's gate arithmetic goes over the pool by rows of the batch from this many elements of
// gates (several us of transcendentals: more than a hand-off); the recurrent products split on
// their own.
constexpr int64_t PARALLEL_STEP_GATES = 1 << 13;

// fn(r0, r1) over the batch rows [0, rows) of a step with row_gates gate elements per row.
template <class F>
void over_rows(int64_t rows, int64_t row_gates, const F& fn) {
    parallel_for(rows, std::max<int64_t>(1, PARALLEL_STEP_GATES / std::max<int64_t>(1, row_gates)),
                 fn);
}

// One batch row of a step's cell state c = f c_prev + i g from the activated gates a (i, f, g,
// o), and its hidden state h = o tanh(c); unaliased pointers, so the loops vectorize.
template <class T>
void cell_row(int64_t H, const T* __restrict a, const T* __restrict c_prev, T* __restrict c) {
    const T *i = a, *f = a + H, *g = a + 2 * H;
    for (int64_t j = 0; j < H; ++j) c[j] = f[j] * c_prev[j] + i[j] * g[j];
}

template <class T>
void hidden_row(int64_t H, const T* __restrict o, const T* __restrict tanh_c, T* __restrict h) {
    for (int64_t j = 0; j < H; ++j) h[j] = o[j] * tanh_c[j];
}

// One batch row of a step's gradient: from the activated gates a (i, f, g, o), tanh(c), the
// previous cell state and h's gradient d_h, the gates' pre-activation gradients d_z, and c's
// gradient d_c carried back in place. Its own function so the unaliased pointers let the
// compiler vectorize the loop (inline in the step lambda it stayed scalar: about 3 ms of a
// 7 ms backward at 35 x 20 x 256).
template <class T>
void gates_backward_row(int64_t H, const T* __restrict a, const T* __restrict tanh_c,
                        const T* __restrict c_prev, const T* __restrict d_h, T* __restrict d_c,
                        T* __restrict d_z) {
    const T *i = a, *f = a + H, *g = a + 2 * H, *o = a + 3 * H;
    for (int64_t j = 0; j < H; ++j) {
        const T tc = tanh_c[j], dh = d_h[j];
        const T dc = d_c[j] + dh * o[j] * (T(1) - tc * tc);
        d_z[j] = dc * g[j] * i[j] * (T(1) - i[j]);
        d_z[H + j] = dc * c_prev[j] * f[j] * (T(1) - f[j]);
        d_z[2 * H + j] = dc * i[j] * (T(1) - g[j] * g[j]);
        d_z[3 * H + j] = dh * tc * o[j] * (T(1) - o[j]);
        d_c[j] = dc * f[j];
    }
}

struct LstmSizes {
    int64_t steps, batch, hidden;
    int64_t gates() const { return 4 * hidden; }
    int64_t plane() const { return batch * hidden; }   // one (N, H) row of a sequence buffer
};

void require_shape(const Array& a, const Shape& want, const char* what, const char* name) {
    if (a.shape != want)
        throw value_error(std::string(what) + ": " + name + " has shape " + shape_str(a.shape) +
                          ", expected " + shape_str(want));
}

// The sizes of an LSTM sequence from xw (T, N, 4H), checking every other operand against them
// and that all share xw's dtype.
LstmSizes lstm_sizes(const Array& xw, const std::vector<std::pair<const Array*, const char*>>& rest,
                     const char* what) {
    if (xw.ndim() != 3 || xw.shape[0] < 1 || xw.shape[2] % 4 != 0)
        throw value_error(std::string(what) + ": xw must be (T, N, 4H) with T >= 1, got " +
                          shape_str(xw.shape));
    for (auto [a, name] : rest)
        if (a->dtype != xw.dtype)
            throw type_error(std::string(what) + ": " + name + " is " + DTYPE_NAMES[a->dtype] +
                             " but xw is " + DTYPE_NAMES[xw.dtype]);
    LstmSizes s{xw.shape[0], xw.shape[1], xw.shape[2] / 4};
    require_blas_size({s.steps * s.batch, s.gates()}, what);
    return s;
}

// The step order and packed rows of sequence_rows (micrograd.decompositions.recurrence): time t
// has its h in packed row t + 1 forward, t in reverse; the initial h is in row 0 or row T.
struct Rows {
    int64_t steps;
    bool reverse;
    int64_t time(int64_t n) const { return reverse ? steps - 1 - n : n; }   // n-th step's time
    int64_t h_row(int64_t t) const { return reverse ? t : t + 1; }
    int64_t h0_row() const { return reverse ? steps : 0; }
};

// W^T (H, 4H), dense, from W (4H, H): both directions read it along 4H.
Array transposed_weight(const Array& w) { return contiguous(permute(w, {1, 0})); }

template <class T>
std::array<Array, 3> lstm_forward(const Array& xw_in, const Array& h0_in, const Array& c0_in,
                                  const Array& w_in, bool reverse, const LstmSizes& s) {
    // z += h W^T as h @ (W^T dense): the rows kernel reads W^T by rows, 0.7x the time of W
    // gathered into panels on every step (20 x 256 x 1024)
    const Array xw = contiguous(xw_in), h0 = contiguous(h0_in), c0 = contiguous(c0_in),
                w_t = transposed_weight(w_in);
    const int64_t H = s.hidden, G = s.gates(), N = s.batch, plane = s.plane();
    Array packed = empty({s.steps + 2, N, H}, xw.dtype);
    Array gates = empty({s.steps, N, G}, xw.dtype);
    Array cells = empty({s.steps, N, H}, xw.dtype);
    const T* px = reinterpret_cast<const T*>(xw.ptr());
    const T* pw_t = reinterpret_cast<const T*>(w_t.ptr());
    T* pp = reinterpret_cast<T*>(packed.ptr());
    T* pg = reinterpret_cast<T*>(gates.ptr());
    T* pc = reinterpret_cast<T*>(cells.ptr());
    const Rows rows{s.steps, reverse};
    std::memcpy(pp + rows.h0_row() * plane, h0.ptr(), sizeof(T) * plane);
    const T* h_prev = pp + rows.h0_row() * plane;
    const T* c_prev = reinterpret_cast<const T*>(c0.ptr());
    for (int64_t n = 0; n < s.steps; ++n) {
        const int64_t t = rows.time(n);
        T* z = pg + t * N * G;            // the step's gates: pre-activations, then activated
        T* c = pc + t * plane;
        T* h = pp + rows.h_row(t) * plane;
        std::memcpy(z, px + t * N * G, sizeof(T) * N * G);
        if (plane)   // z += h W^T
            gemm<T>(false, false, N, G, H, T(1), h_prev, H, pw_t, G, T(1), z, G);
        over_rows(N, G, [&](int64_t r0, int64_t r1) {
            std::vector<T> tanh_c(H);
            for (int64_t r = r0; r < r1; ++r) {
                T* zr = z + r * G;
                sigmoid_(zr, 2 * H);                   // i, f
                tanh_into(zr + 2 * H, zr + 2 * H, H);  // g
                sigmoid_(zr + 3 * H, H);               // o
                T* cr = c + r * H;
                cell_row(H, zr, c_prev + r * H, cr);
                tanh_into(cr, tanh_c.data(), H);
                hidden_row(H, zr + 3 * H, tanh_c.data(), h + r * H);
            }
        });
        h_prev = h;
        c_prev = c;
    }
    std::memcpy(pp + (s.steps + 1) * plane, c_prev, sizeof(T) * plane);
    return {packed, gates, cells};
}

template <class T>
std::array<Array, 4> lstm_backward(const Array& grad_in, const Array& c0_in, const Array& w_in,
                                   const Array& packed_in, const Array& gates_in,
                                   const Array& cells_in, bool reverse, const LstmSizes& s) {
    // W^T dense (H, 4H): the product d_z W reads both operands along the long dimension 4H
    // (the small-GEMM dots kernel), about 1.6x faster than W read by rows at small batch.
    const Array grad = contiguous(grad_in), c0 = contiguous(c0_in),
                w_t = transposed_weight(w_in), packed = contiguous(packed_in),
                gates = contiguous(gates_in), cells = contiguous(cells_in);
    const int64_t H = s.hidden, G = s.gates(), N = s.batch, plane = s.plane();
    const DType dt = gates.dtype;
    Array d_xw = empty({s.steps, N, G}, dt), d_h0 = empty({N, H}, dt), d_c0 = empty({N, H}, dt),
          d_w = empty({G, H}, dt);
    const T* pgrad = reinterpret_cast<const T*>(grad.ptr());
    const T* pw_t = reinterpret_cast<const T*>(w_t.ptr());
    const T* pgates = reinterpret_cast<const T*>(gates.ptr());
    const T* pcells = reinterpret_cast<const T*>(cells.ptr());
    const T* pc0 = reinterpret_cast<const T*>(c0.ptr());
    T* pd = reinterpret_cast<T*>(d_xw.ptr());
    T* d_c = reinterpret_cast<T*>(d_c0.ptr());    // c's gradient, carried back in place
    T* d_rec = reinterpret_cast<T*>(d_h0.ptr());  // h's gradient through the later step
    const Rows rows{s.steps, reverse};
    std::memcpy(d_c, pgrad + (s.steps + 1) * plane, sizeof(T) * plane);
    for (int64_t n = s.steps - 1; n >= 0; --n) {
        const int64_t t = rows.time(n);
        const T* c_prev = n ? pcells + rows.time(n - 1) * plane : pc0;
        const T* g_out = pgrad + rows.h_row(t) * plane;
        const bool later = n < s.steps - 1;       // a later step feeds d_rec
        T* dz = pd + t * N * G;
        over_rows(N, G, [&](int64_t r0, int64_t r1) {
            std::vector<T> tanh_c(H), d_h(H);
            for (int64_t r = r0; r < r1; ++r) {
                const T* go = g_out + r * H;
                const T* dh = go;   // the last step's h feeds only the output
                tanh_into(pcells + t * plane + r * H, tanh_c.data(), H);
                if (later) {
                    const T* dr = d_rec + r * H;
                    for (int64_t j = 0; j < H; ++j) d_h[j] = go[j] + dr[j];
                    dh = d_h.data();
                }
                gates_backward_row(H, pgates + (t * N + r) * G, tanh_c.data(), c_prev + r * H,
                                   dh, d_c + r * H, dz + r * G);
            }
        });
        if (plane)   // d_rec = d_z W
            gemm<T>(false, true, N, H, G, T(1), dz, G, pw_t, G, T(0), d_rec, H);
    }
    const T* g_h0 = pgrad + rows.h0_row() * plane;
    for (int64_t k = 0; k < plane; ++k) d_rec[k] += g_h0[k];   // d_h0 = d_rec + grad's h0 row
    // W's gradient over all steps: d_xw^T (4H, T N) @ the previous hidden states (T N, H),
    // rows 0..T-1 of packed forward, 1..T in reverse.
    const T* prev = reinterpret_cast<const T*>(packed.ptr()) + (reverse ? plane : 0);
    if (plane)
        gemm<T>(true, false, G, H, s.steps * N, T(1), pd, G, prev, H, T(0),
                reinterpret_cast<T*>(d_w.ptr()), H);
    else    // no hidden units or no batch: nothing flows into W
        std::fill_n(reinterpret_cast<T*>(d_w.ptr()), G * H, T(0));
    return {d_xw, d_h0, d_c0, d_w};
}

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

}  // namespace

void init_recurrence(py::module_& m) {
    m.def("lstm_sequence", [](const Array& xw, const Array& h0, const Array& c0,
                              const Array& w_hh, bool reverse) -> py::object {
        const char* what = "lstm_sequence";
        if (xw.dtype != F32 && xw.dtype != F64) return not_implemented();
        const LstmSizes s = lstm_sizes(xw, {{&h0, "h0"}, {&c0, "c0"}, {&w_hh, "w_hh"}}, what);
        require_shape(h0, {s.batch, s.hidden}, what, "h0");
        require_shape(c0, {s.batch, s.hidden}, what, "c0");
        require_shape(w_hh, {s.gates(), s.hidden}, what, "w_hh");
        std::array<Array, 3> r;
        {
            py::gil_scoped_release release;
            r = xw.dtype == F32 ? lstm_forward<float>(xw, h0, c0, w_hh, reverse, s)
                                : lstm_forward<double>(xw, h0, c0, w_hh, reverse, s);
        }
        return py::make_tuple(r[0], r[1], r[2]);
    }, py::arg("xw"), py::arg("h0"), py::arg("c0"), py::arg("w_hh"), py::arg("reverse"),
       "(packed, gates, cells) of one LSTM layer-direction over xw (T, N, 4H); NotImplemented "
       "for 16-bit floats.");
    m.def("lstm_sequence_backward", [](const Array& grad, const Array& c0, const Array& w_hh,
                                       const Array& packed, const Array& gates,
                                       const Array& cells, bool reverse) -> py::object {
        const char* what = "lstm_sequence_backward";
        if (gates.dtype != F32 && gates.dtype != F64) return not_implemented();
        const LstmSizes s = lstm_sizes(gates, {{&grad, "grad"}, {&c0, "c0"}, {&w_hh, "w_hh"},
                                               {&packed, "packed"}, {&cells, "cells"}}, what);
        require_shape(grad, {s.steps + 2, s.batch, s.hidden}, what, "grad");
        require_shape(packed, {s.steps + 2, s.batch, s.hidden}, what, "packed");
        require_shape(cells, {s.steps, s.batch, s.hidden}, what, "cells");
        require_shape(c0, {s.batch, s.hidden}, what, "c0");
        require_shape(w_hh, {s.gates(), s.hidden}, what, "w_hh");
        std::array<Array, 4> r;
        {
            py::gil_scoped_release release;
            r = gates.dtype == F32
                    ? lstm_backward<float>(grad, c0, w_hh, packed, gates, cells, reverse, s)
                    : lstm_backward<double>(grad, c0, w_hh, packed, gates, cells, reverse, s);
        }
        return py::make_tuple(r[0], r[1], r[2], r[3]);
    }, py::arg("grad"), py::arg("c0"), py::arg("w_hh"), py::arg("packed"), py::arg("gates"),
       py::arg("cells"), py::arg("reverse"),
       "(d_xw, d_h0, d_c0, d_w_hh) of lstm_sequence from the gradient of its packed result; "
       "NotImplemented for 16-bit floats.");
}

}  // namespace mgcpu
