"""Every custom CUDA kernel of the backend, as plain source text.

Kernels are grouped in *families* (one CUDA module each). A family is written once against a
type ``T`` and instantiated per C type by prepending ``typedef <ctype> T;``, so the source the
tests compile with NVRTC is exactly the source :class:`micrograd_cuda.backend.CudaBackend` loads
on a GPU. Each entry point also declares its C parameter types here; the host marshals its
arguments from that declaration (:mod:`micrograd_cuda.launch`) and a test checks it against the
``extern "C"`` signature in the source.

Indices are 64-bit (``index_t``) so tensors past 2**31 elements work; every elementwise kernel
uses a grid-stride loop, so any grid size is correct and the host may cap it.
"""

from __future__ import annotations

from dataclasses import dataclass

FLOAT_CTYPES = ("float", "double")
ATOMIC_CTYPES = ("float", "double", "int", "unsigned int", "long long", "unsigned long long")

# Shared by every family: the index type, the loop, and the few helpers that need a
# specialisation per type (NVRTC has no <cmath> or <limits> without the toolkit's headers).
PRELUDE = r"""
typedef long long index_t;

#define GRID_STRIDE_LOOP(i, n) \
    for (index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x; i < (n); \
         i += (index_t)blockDim.x * gridDim.x)

__device__ __forceinline__ float neg_inf(float) { return __int_as_float(0xff800000); }
__device__ __forceinline__ double neg_inf(double) {
    return __longlong_as_double(0xfff0000000000000ULL);
}
__device__ __forceinline__ float quiet_nan(float) { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ double quiet_nan(double) {
    return __longlong_as_double(0x7ff8000000000000ULL);
}

// max that propagates nan, like the contract's reduce("max").
template <typename U>
__device__ __forceinline__ U nan_max(U a, U b) {
    return (a != a) ? a : ((b != b) ? b : (a > b ? a : b));
}
"""

# Tree reductions over one block in dynamic shared memory (blockDim.x is a power of two; the
# host picks it, see launch.row_launch). The trailing barrier lets the caller reuse the memory.
BLOCK_REDUCE = r"""
__device__ T block_sum(T v, T* smem) {
    smem[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) smem[threadIdx.x] += smem[threadIdx.x + s];
        __syncthreads();
    }
    T total = smem[0];
    __syncthreads();
    return total;
}

__device__ T block_max(T v, T* smem) {
    smem[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) smem[threadIdx.x] = nan_max(smem[threadIdx.x], smem[threadIdx.x + s]);
        __syncthreads();
    }
    T peak = smem[0];
    __syncthreads();
    return peak;
}

// The row's max, or 0 where it is infinite or nan, so that no inf - inf appears where PyTorch
// gives a finite answer (the same shift as micrograd.decompositions.softmax).
__device__ T row_shift(const T* row, index_t cols, T* smem) {
    T peak = neg_inf(T(0));
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) peak = nan_max(peak, row[c]);
    peak = block_max(peak, smem);
    return (peak - peak == T(0)) ? peak : T(0);
}

__device__ T row_sum_exp(const T* row, index_t cols, T shift, T* smem) {
    T total = T(0);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) total += exp(row[c] - shift);
    return block_sum(total, smem);
}
"""


@dataclass(frozen=True)
class Entry:
    """One ``extern "C" __global__`` function: its name and C parameter types in order."""

    name: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class KernelFamily:
    """Kernels compiled together as one module, instantiated per C type."""

    name: str
    ctypes: tuple[str, ...]
    body: str
    entries: tuple[Entry, ...]
    needs_block_reduce: bool = False

    def source(self, ctype: str) -> str:
        """The complete CUDA source of this family for element type ``ctype``."""
        if ctype not in self.ctypes:
            raise ValueError(f"kernel family {self.name!r} is written for C types "
                             f"{', '.join(self.ctypes)}, not {ctype!r}")
        parts = [f"typedef {ctype} T;", PRELUDE]
        if self.needs_block_reduce:
            parts.append(BLOCK_REDUCE)
        parts.append(self.body)
        return "\n".join(parts)

    def entry(self, name: str) -> Entry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(f"kernel family {self.name!r} has no entry {name!r}; it has "
                       f"{', '.join(e.name for e in self.entries)}")


_ELEMENTWISE = ("const T*", "T*", "index_t")

ACTIVATIONS = KernelFamily(
    "activations", FLOAT_CTYPES, r"""
extern "C" __global__ void relu(const T* x, T* y, index_t n) {
    // nan passes through, as maximum(x, 0) does.
    GRID_STRIDE_LOOP(i, n) { T v = x[i]; y[i] = (v > T(0) || v != v) ? v : T(0); }
}

extern "C" __global__ void sigmoid(const T* x, T* y, index_t n) {
    GRID_STRIDE_LOOP(i, n) { y[i] = T(1) / (T(1) + exp(-x[i])); }
}

extern "C" __global__ void silu(const T* x, T* y, index_t n) {
    GRID_STRIDE_LOOP(i, n) { T v = x[i]; y[i] = v / (T(1) + exp(-v)); }
}

extern "C" __global__ void gelu(const T* x, T* y, index_t n) {
    const T inv_sqrt2 = T(0.70710678118654752440);
    GRID_STRIDE_LOOP(i, n) { T v = x[i]; y[i] = T(0.5) * v * (T(1) + erf(v * inv_sqrt2)); }
}

extern "C" __global__ void gelu_tanh(const T* x, T* y, index_t n) {
    const T sqrt_2_over_pi = T(0.79788456080286535588);
    GRID_STRIDE_LOOP(i, n) {
        T v = x[i];
        T inner = sqrt_2_over_pi * (v + T(0.044715) * v * v * v);
        y[i] = T(0.5) * v * (T(1) + tanh(inner));
    }
}

extern "C" __global__ void softplus(const T* x, T* y, index_t n, double beta, double threshold) {
    const T b = T(beta), limit = T(threshold);
    GRID_STRIDE_LOOP(i, n) {
        T z = x[i] * b;
        y[i] = z > limit ? x[i] : log1p(exp(z)) / b;
    }
}
""", (
        Entry("relu", _ELEMENTWISE), Entry("sigmoid", _ELEMENTWISE), Entry("silu", _ELEMENTWISE),
        Entry("gelu", _ELEMENTWISE), Entry("gelu_tanh", _ELEMENTWISE),
        Entry("softplus", _ELEMENTWISE + ("double", "double")),
    ))

ROWWISE = KernelFamily(
    "rowwise", FLOAT_CTYPES, r"""
// One block per row (rows strided by the grid): softmax or log-softmax of contiguous rows.
extern "C" __global__ void softmax_rows(const T* x, T* y, index_t rows, index_t cols,
                                        int log_output) {
    extern __shared__ unsigned char shared_bytes[];
    T* smem = reinterpret_cast<T*>(shared_bytes);
    for (index_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        T shift = row_shift(xr, cols, smem);
        T total = row_sum_exp(xr, cols, shift, smem);
        T log_total = log(total);
        for (index_t c = threadIdx.x; c < cols; c += blockDim.x) {
            yr[c] = log_output ? xr[c] - shift - log_total : exp(xr[c] - shift) / total;
        }
    }
}

// Per-row loss -log_softmax(logits)[target]; 0 where target == ignore_index. A target out of
// range (the core validates, so only a bug gets here) gives nan rather than a wild read.
extern "C" __global__ void cross_entropy_rows(const T* logits, const long long* target, T* loss,
                                              index_t rows, index_t cols,
                                              long long ignore_index) {
    extern __shared__ unsigned char shared_bytes[];
    T* smem = reinterpret_cast<T*>(shared_bytes);
    for (index_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* xr = logits + r * cols;
        long long t = target[r];
        T shift = row_shift(xr, cols, smem);
        T total = row_sum_exp(xr, cols, shift, smem);
        if (threadIdx.x == 0) {
            if (t == ignore_index) loss[r] = T(0);
            else if (t < 0 || t >= cols) loss[r] = quiet_nan(T(0));
            else loss[r] = shift + log(total) - xr[t];
        }
    }
}
""", (
        Entry("softmax_rows", ("const T*", "T*", "index_t", "index_t", "int")),
        Entry("cross_entropy_rows", ("const T*", "const long long*", "T*", "index_t", "index_t",
                                     "long long")),
    ), needs_block_reduce=True)

OPTIMIZERS = KernelFamily(
    "optimizers", FLOAT_CTYPES, r"""
// PyTorch's SGD, one element per thread; momentum_buffer is only touched when has_buffer.
extern "C" __global__ void sgd_step(T* param, const T* grad, T* momentum_buffer, index_t n,
                                    double lr, double momentum, double dampening, int nesterov,
                                    double weight_decay, int maximize, int first_step,
                                    int has_buffer) {
    GRID_STRIDE_LOOP(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) g += T(weight_decay) * param[i];
        if (has_buffer) {
            T b = first_step ? g : T(momentum) * momentum_buffer[i] + T(1.0 - dampening) * g;
            momentum_buffer[i] = b;
            g = nesterov ? g + T(momentum) * b : b;
        }
        param[i] -= T(lr) * g;
    }
}

// PyTorch's Adam / AdamW. The host passes step_size = lr / (1 - beta1**step) and
// bias_correction2_sqrt = sqrt(1 - beta2**step), computed once in double.
extern "C" __global__ void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq,
                                     T* max_exp_avg_sq, index_t n, double lr, double beta1,
                                     double beta2, double eps, double weight_decay,
                                     int decoupled_weight_decay, int amsgrad, int maximize,
                                     double step_size, double bias_correction2_sqrt) {
    const T w = T(1.0 - beta1);
    GRID_STRIDE_LOOP(i, n) {
        T g = maximize ? -grad[i] : grad[i];
        T p = param[i];
        if (weight_decay != 0.0) {
            if (decoupled_weight_decay) p *= T(1.0 - lr * weight_decay);
            else g += T(weight_decay) * p;
        }
        // torch.lerp's two-sided formula, so exp_avg matches PyTorch bit for bit.
        T m = exp_avg[i];
        m = (w < T(0.5)) ? m + w * (g - m) : g - (g - m) * (T(1) - w);
        T v = T(beta2) * exp_avg_sq[i] + T(1.0 - beta2) * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            v = nan_max(max_exp_avg_sq[i], v);
            max_exp_avg_sq[i] = v;
        }
        T denom = sqrt(v) / T(bias_correction2_sqrt) + T(eps);
        param[i] = p - T(step_size) * (m / denom);
    }
}
""", (
        Entry("sgd_step", ("T*", "const T*", "T*", "index_t", "double", "double", "double", "int",
                           "double", "int", "int", "int")),
        Entry("adam_step", ("T*", "const T*", "T*", "T*", "T*", "index_t", "double", "double",
                            "double", "double", "double", "int", "int", "int", "double",
                            "double")),
    ))

_GEOMETRY = ("int", "int", "int", "int", "int", "int", "int", "int")   # KH KW sh sw ph pw dh dw

CONVOLUTION = KernelFamily(
    "convolution", FLOAT_CTYPES, r"""
// x (N, C, H, W) -> cols (N, C, KH, KW, OH, OW); padding reads as zero.
extern "C" __global__ void im2col(const T* x, T* cols, index_t N, index_t C, index_t H, index_t W,
                                  index_t OH, index_t OW, int KH, int KW, int sh, int sw,
                                  int ph, int pw, int dh, int dw) {
    GRID_STRIDE_LOOP(i, N * C * KH * KW * OH * OW) {
        index_t ow = i % OW, t = i / OW;
        index_t oh = t % OH; t /= OH;
        index_t kw = t % KW; t /= KW;
        index_t kh = t % KH; t /= KH;          // t is now n * C + c
        index_t h = oh * sh - ph + kh * dh, w = ow * sw - pw + kw * dw;
        cols[i] = (h >= 0 && h < H && w >= 0 && w < W) ? x[(t * H + h) * W + w] : T(0);
    }
}

// The adjoint of im2col, gathered per input element (deterministic, no atomics):
// grad_x[n, c, h, w] = sum of grad_cols[n, c, kh, kw, oh, ow] over the taps that read (h, w).
extern "C" __global__ void col2im(const T* grad_cols, T* grad_x, index_t N, index_t C, index_t H,
                                  index_t W, index_t OH, index_t OW, int KH, int KW, int sh,
                                  int sw, int ph, int pw, int dh, int dw) {
    GRID_STRIDE_LOOP(i, N * C * H * W) {
        index_t w = i % W, h = (i / W) % H, plane = i / (H * W);
        T acc = T(0);
        for (int kh = 0; kh < KH; ++kh) {
            index_t hh = h + ph - (index_t)kh * dh;
            if (hh < 0 || hh % sh != 0 || hh / sh >= OH) continue;
            for (int kw = 0; kw < KW; ++kw) {
                index_t ww = w + pw - (index_t)kw * dw;
                if (ww < 0 || ww % sw != 0 || ww / sw >= OW) continue;
                acc += grad_cols[(((plane * KH + kh) * KW + kw) * OH + hh / sh) * OW + ww / sw];
            }
        }
        grad_x[i] = acc;
    }
}
""", (
        Entry("im2col", ("const T*", "T*") + ("index_t",) * 6 + _GEOMETRY),
        Entry("col2im", ("const T*", "T*") + ("index_t",) * 6 + _GEOMETRY),
    ))

POOLING = KernelFamily(
    "pooling", FLOAT_CTYPES, r"""
// planes = N * C; indices are flat positions h * W + w inside each input plane.
extern "C" __global__ void max_pool2d_forward(const T* x, T* y, long long* indices, index_t planes,
                                              index_t H, index_t W, index_t OH, index_t OW,
                                              int KH, int KW, int sh, int sw, int ph, int pw,
                                              int dh, int dw) {
    GRID_STRIDE_LOOP(i, planes * OH * OW) {
        index_t ow = i % OW, oh = (i / OW) % OH, plane = i / (OH * OW);
        const T* xp = x + plane * H * W;
        T best = neg_inf(T(0));
        long long best_at = -1;
        for (int kh = 0; kh < KH; ++kh) {
            index_t h = oh * sh - ph + (index_t)kh * dh;
            if (h < 0 || h >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                index_t w = ow * sw - pw + (index_t)kw * dw;
                if (w < 0 || w >= W) continue;
                T v = xp[h * W + w];
                // The first maximum wins and nan counts as the maximum (the first nan, as
                // the core's decomposition picks it); the first in-bounds tap is the default.
                bool settled = best != best;
                if (best_at < 0 || (!settled && (v > best || v != v))) {
                    best = v;
                    best_at = h * W + w;
                }
            }
        }
        y[i] = best;
        indices[i] = best_at;
    }
}

// grad_x (zeroed by the host) += grad_y at indices; windows overlap, hence atomics.
extern "C" __global__ void max_pool2d_backward(const T* grad_y, const long long* indices,
                                               T* grad_x, index_t planes, index_t plane_in,
                                               index_t plane_out) {
    GRID_STRIDE_LOOP(i, planes * plane_out) {
        long long at = indices[i];
        if (at >= 0) atomicAdd(grad_x + (i / plane_out) * plane_in + at, grad_y[i]);
    }
}

// PyTorch's window arithmetic: the divisor counts padding only with count_include_pad, and
// never counts the part of a window past the padded edge.
__device__ __forceinline__ index_t avg_window(index_t o, int k, int s, int p, index_t size,
                                              index_t* start, index_t* end) {
    index_t lo = o * s - p, hi = lo + k;
    if (hi > size + p) hi = size + p;
    index_t padded = hi - lo;
    *start = lo < 0 ? 0 : lo;
    *end = hi > size ? size : hi;
    return padded;
}

extern "C" __global__ void avg_pool2d_forward(const T* x, T* y, index_t planes, index_t H,
                                              index_t W, index_t OH, index_t OW, int KH, int KW,
                                              int sh, int sw, int ph, int pw,
                                              int count_include_pad) {
    GRID_STRIDE_LOOP(i, planes * OH * OW) {
        index_t ow = i % OW, oh = (i / OW) % OH, plane = i / (OH * OW);
        index_t h0, h1, w0, w1;
        index_t padded = avg_window(oh, KH, sh, ph, H, &h0, &h1) *
                         avg_window(ow, KW, sw, pw, W, &w0, &w1);
        index_t divisor = count_include_pad ? padded : (h1 - h0) * (w1 - w0);
        const T* xp = x + plane * H * W;
        T acc = T(0);
        for (index_t h = h0; h < h1; ++h)
            for (index_t w = w0; w < w1; ++w) acc += xp[h * W + w];
        y[i] = acc / T(divisor);
    }
}

extern "C" __global__ void avg_pool2d_backward(const T* grad_y, T* grad_x, index_t planes,
                                               index_t H, index_t W, index_t OH, index_t OW,
                                               int KH, int KW, int sh, int sw, int ph, int pw,
                                               int count_include_pad) {
    GRID_STRIDE_LOOP(i, planes * OH * OW) {
        index_t ow = i % OW, oh = (i / OW) % OH, plane = i / (OH * OW);
        index_t h0, h1, w0, w1;
        index_t padded = avg_window(oh, KH, sh, ph, H, &h0, &h1) *
                         avg_window(ow, KW, sw, pw, W, &w0, &w1);
        index_t divisor = count_include_pad ? padded : (h1 - h0) * (w1 - w0);
        T share = grad_y[i] / T(divisor);
        T* gp = grad_x + plane * H * W;
        for (index_t h = h0; h < h1; ++h)
            for (index_t w = w0; w < w1; ++w) atomicAdd(gp + h * W + w, share);
    }
}
""", (
        Entry("max_pool2d_forward", ("const T*", "T*", "long long*") + ("index_t",) * 5
              + _GEOMETRY),
        Entry("max_pool2d_backward", ("const T*", "const long long*", "T*", "index_t", "index_t",
                                      "index_t")),
        Entry("avg_pool2d_forward", ("const T*", "T*") + ("index_t",) * 5 + ("int",) * 6
              + ("int",)),
        Entry("avg_pool2d_backward", ("const T*", "T*") + ("index_t",) * 5 + ("int",) * 6
              + ("int",)),
    ))

SCATTER = KernelFamily(
    "scatter", ATOMIC_CTYPES, r"""
// CUDA's atomicAdd has no signed 64-bit overload; two's complement addition is the same
// operation on the unsigned bits.
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(int* p, int v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(unsigned int* p, unsigned int v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(unsigned long long* p, unsigned long long v) {
    atomicAdd(p, v);
}
__device__ __forceinline__ void atomic_add(long long* p, long long v) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// out[flat_index[i]] += src[i]; duplicates all count.
extern "C" __global__ void scatter_add_flat(T* out, const long long* flat_index, const T* src,
                                            index_t n) {
    GRID_STRIDE_LOOP(i, n) { atomic_add(out + flat_index[i], src[i]); }
}
""", (
        Entry("scatter_add_flat", ("T*", "const long long*", "const T*", "index_t")),
    ))

FAMILIES: dict[str, KernelFamily] = {f.name: f for f in (
    ACTIVATIONS, ROWWISE, OPTIMIZERS, CONVOLUTION, POOLING, SCATTER)}
"""Every kernel family by name; tests compile each for each of its C types."""

COMPILE_OPTIONS: tuple[str, ...] = ()
"""Our NVRTC options (the kernels need nothing beyond NVRTC's default C++17)."""

CUPY_ADDED_OPTIONS = ("-ftz=true",)
"""What CuPy 13/14 appends when it compiles a RawModule (besides ``-arch`` of the device): float32
subnormals flush to zero, as in CuPy's own kernels. The compile test uses both lists."""


def all_sources():
    """``(family name, ctype, source)`` for every kernel module this backend can load."""
    for family in FAMILIES.values():
        for ctype in family.ctypes:
            yield family.name, ctype, family.source(ctype)
