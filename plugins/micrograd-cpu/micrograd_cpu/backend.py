"""The ``cpu`` backend: micrograd's contract on the C++ kernels of ``micrograd_cpu._core``.

The hot primitives are the extension's functions themselves, bound as class attributes (a
builtin function does not bind ``self``), so ``backend.binary("add", a, b)`` goes straight into
C++ with no Python frame in between. Only primitives that take a micrograd dtype have a thin
wrapper, which maps the dtype to the extension's integer code.
"""

from __future__ import annotations

import os

from micrograd import dtypes
from micrograd.backend import Backend, Capabilities

from . import _core  # the package loads the BLAS library it links against first

# A forked child (a DataLoader worker) has none of the parent's pool threads: with one thread
# its kernels never touch the pool state those threads left behind, and N workers do not
# oversubscribe the cores (PyTorch's workers also run single-threaded).
os.register_at_fork(after_in_child=lambda: _core.set_num_threads(1))

# Dtype codes of the extension: positions in micrograd.dtypes.ALL_DTYPES.
_CODE = {dtype: code for code, dtype in enumerate(dtypes.ALL_DTYPES)}
# The dtypes (an extension array's dtype name) the fused attention kernels compute in.
_FUSED_ATTENTION = ("float32", "float64")


class CpuBackend(Backend):
    """C++ kernels for the host CPU: SIMD (run-time dispatched), OpenBLAS, a thread pool."""

    name = "cpu"
    native_broadcasting = True
    capabilities = Capabilities(
        dtypes=dtypes.ALL_DTYPES, device_type="cpu",
        notes={"bfloat16": "stored as 16 bits, computed in float32",
               "float16": "stored as 16 bits, computed in float32"})

    # ---------------------------------------------------------------- memory
    def from_host(self, array, dtype):
        return _core.from_host(array, _CODE[dtype])

    to_host = _core.to_host

    def full(self, shape, value, dtype):
        return _core.full(shape, value, _CODE[dtype])

    def astype(self, x, dtype):
        return _core.astype(x, _CODE[dtype])

    copy_ = _core.copy_
    contiguous = _core.contiguous
    clone = _core.clone

    # ----------------------------------------------------------- elementwise
    unary = _core.unary
    binary = _core.binary
    binary_ = _core.binary_
    where = _core.where

    # ------------------------------------------------------------ reductions
    reduce = _core.reduce
    argreduce = _core.argreduce
    cumsum = _core.cumsum
    topk = _core.topk

    # --------------------------------------------------------- linear algebra
    matmul = _core.matmul

    # --------------------------------------------------------------- movement
    reshape = _core.reshape
    permute = _core.permute
    expand = _core.expand
    slice = _core.slice
    flip = _core.flip
    cat = _core.cat

    # --------------------------------------------------------------- indexing
    take = _core.take
    gather = _core.gather
    scatter = _core.scatter
    setitem_ = _core.setitem_
    nonzero = _core.nonzero

    # ------------------------------------------------------ optional fast ops
    def relu(self, x):
        return _core.activation("relu", x)

    def sigmoid(self, x):
        return _core.activation("sigmoid", x)

    def gelu(self, x):
        return _core.activation("gelu", x)

    def gelu_tanh(self, x):
        return _core.activation("gelu_tanh", x)

    def silu(self, x):
        return _core.activation("silu", x)

    def softplus(self, x, beta=1.0, threshold=20.0):
        return _core.activation("softplus", x, beta, threshold)

    def softmax(self, x, axis):
        return _core.softmax(x, axis, False)

    def log_softmax(self, x, axis):
        return _core.softmax(x, axis, True)

    softmax_backward = _core.softmax_backward

    cross_entropy = _core.cross_entropy
    batch_norm = _core.batch_norm
    batch_norm_backward = _core.batch_norm_backward
    layer_norm = _core.layer_norm
    layer_norm_backward = _core.layer_norm_backward
    conv2d = _core.conv2d
    conv2d_backward = _core.conv2d_backward
    conv_transpose2d = _core.conv_transpose2d
    conv_transpose2d_backward = _core.conv_transpose2d_backward
    max_pool2d = _core.max_pool2d
    max_pool2d_backward = _core.max_pool2d_backward
    avg_pool2d = _core.avg_pool2d
    avg_pool2d_backward = _core.avg_pool2d_backward

    def scaled_dot_product_attention(self, q, k, v, scale, is_causal):
        if q.dtype not in _FUSED_ATTENTION:    # 16-bit floats: the decomposition, in float32
            return NotImplemented
        return _core.scaled_dot_product_attention(q, k, v, scale, is_causal)

    def scaled_dot_product_attention_backward(self, grad_out, q, k, v, scale, is_causal):
        if q.dtype not in _FUSED_ATTENTION:
            return NotImplemented
        return _core.scaled_dot_product_attention_backward(grad_out, q, k, v, scale, is_causal)

    lstm_sequence = _core.lstm_sequence
    lstm_sequence_backward = _core.lstm_sequence_backward
    sgd_step_ = _core.sgd_step_
    adam_step_ = _core.adam_step_

    def compile_elementwise(self, expr):
        """A fused kernel of the elementwise expression ``expr`` (contract 1.3): one pass over
        L1-sized tiles in C++ (``micrograd_cpu.fusion``)."""
        from .fusion import compile_elementwise
        return compile_elementwise(expr)

    def arange(self, start, stop, step, dtype):
        return _core.arange(start, stop, step, _CODE[dtype])

    # ----------------------------------------------------------------- memory
    def empty_cache(self) -> None:
        """Return the caching allocator's free blocks to the system."""
        _core.empty_cache()

    def memory_stats(self) -> dict[str, int]:
        """The caching allocator's counters, in bytes (see ``micrograd_cpu.memory_stats``)."""
        return _core.memory_stats()

    # ------------------------------------------------------------- niceties
    def describe(self) -> str:
        return (f"cpu: C++ kernels ({_core.simd_arch()} SIMD, {_core.num_threads()} threads, "
                f"OpenBLAS from scipy-openblas32)")
