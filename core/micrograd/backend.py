"""The backend contract: what a device must implement for micrograd to run on it.

A backend is a subclass of :class:`Backend` that implements the *required primitives* below on its
own array type. The core does all semantics before calling in: operands arrive already promoted
to one dtype, broadcast to one shape (``expand``), validated and bounds-checked. A backend only
computes. Every primitive returns a new array unless its name ends in ``_`` (in place).

*Optional fast ops* (:data:`OPTIONAL_OPS`) are methods a backend may add; the core uses them when
present and decomposes into primitives otherwise, so the same model runs everywhere and a richer
backend runs it faster.

Arrays are the backend's own type. The core needs only ``x.shape`` (a tuple of ints) from them.
``docs/writing-a-backend.md`` describes every primitive's exact semantics.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .dtypes import DType

CONTRACT_VERSION = (1, 2)
"""(major, minor). A plugin built for another major version is refused; minor additions are
backwards compatible (new optional ops and Capabilities fields with defaults), so a plugin of
an older minor keeps loading. See :data:`CONTRACT_HISTORY`."""

CONTRACT_HISTORY = {
    (1, 0): "the required primitives and the first optional fast ops",
    (1, 1): "optional ops batch_norm and batch_norm_backward",
    (1, 2): "optional ops conv_transpose2d, conv_transpose2d_backward, argsort and "
            "searchsorted; Capabilities.flush_to_zero; the semantics of flip aliasing and of "
            "accumulating scatter on bool are defined",
}
"""What each minor version of the contract added (the conformance suite asks no more of a
plugin than its version promised)."""

UNARY_OPS = (
    "neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf",
    "floor", "ceil", "round", "trunc", "logical_not", "bitwise_not", "isnan",
)
"""Ops of :meth:`Backend.unary`. All keep the dtype except ``logical_not`` and ``isnan`` (bool).
Transcendental ops only receive floating dtypes; ``round`` rounds half to even."""

BINARY_OPS = (
    "add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum", "minimum", "atan2",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor",
)
"""Ops of :meth:`Backend.binary`. Comparisons and logical ops return bool, the rest keep the
dtype. Integers wrap around on overflow. ``floordiv`` and ``mod`` round toward negative infinity
(Python's ``//`` and ``%``); the core never passes an integer zero divisor. ``div`` only receives
floating dtypes. ``maximum``/``minimum`` propagate nan."""

REDUCE_OPS = ("sum", "prod", "max", "min")
"""Ops of :meth:`Backend.reduce`. ``max``/``min`` propagate nan and never see an empty axis;
``sum``/``prod`` of an empty axis give 0 and 1. float16 and bfloat16 accumulate in float32."""

BOOL_RESULT_OPS = frozenset({"logical_not", "isnan", "eq", "ne", "lt", "le", "gt", "ge",
                             "logical_and", "logical_or", "logical_xor"})
"""The :data:`UNARY_OPS` and :data:`BINARY_OPS` whose result is bool whatever the operands'
dtype; every other elementwise op returns its operands' dtype."""

OPTIONAL_OPS: dict[str, str] = {
    # activations and fused elementwise chains: same shape and dtype as x (floating)
    "relu": "relu(x) -> y",
    "sigmoid": "sigmoid(x) -> y",
    "gelu": "gelu(x) -> y  (erf form)",
    "gelu_tanh": "gelu_tanh(x) -> y  (tanh approximation)",
    "silu": "silu(x) -> y",
    "softplus": "softplus(x, beta, threshold) -> y  (linear where beta*x > threshold)",
    # normalised exponentials along one axis (stable: shifted by the max)
    "softmax": "softmax(x, axis) -> y",
    "log_softmax": "log_softmax(x, axis) -> y",
    "cross_entropy": ("cross_entropy(logits (N, C), target int64 (N,), ignore_index) -> losses "
                      "(N,): -log_softmax(logits)[i, target[i]], 0 where target == ignore_index"),
    # convolution and pooling on NCHW arrays; stride/padding/dilation/kernel are (h, w) pairs
    "conv2d": ("conv2d(x (N, C, H, W), w (O, C/groups, KH, KW), stride, padding, dilation, "
               "groups) -> y (N, O, OH, OW); no bias (the core adds it)"),
    "conv2d_backward": ("conv2d_backward(grad_y, x, w, stride, padding, dilation, groups) -> "
                        "(grad_x, grad_w)"),
    "conv_transpose2d": ("conv_transpose2d(x (N, Cin, H, W), w (Cin, Cout/groups, KH, KW), "
                         "stride, padding, output_padding, dilation, groups) -> y (N, Cout, "
                         "OH, OW): the input gradient of conv2d(y, w), OH = (H - 1) * stride - "
                         "2 * padding + dilation * (KH - 1) + output_padding + 1; no bias "
                         "(added in contract 1.2)"),
    "conv_transpose2d_backward": ("conv_transpose2d_backward(grad_y, x, w, stride, padding, "
                                  "output_padding, dilation, groups) -> (grad_x, grad_w): "
                                  "grad_x = conv2d(grad_y, w), grad_w = the weight gradient of "
                                  "that convolution with x as its output gradient (added in "
                                  "contract 1.2)"),
    "max_pool2d": ("max_pool2d(x, kernel, stride, padding, dilation) -> (y, indices): indices "
                   "int64, the flat position (h * W + w) of each max in its input plane; "
                   "padding counts as -inf"),
    "max_pool2d_backward": ("max_pool2d_backward(grad_y, indices, input_shape) -> grad_x "
                            "(grad_y added at indices)"),
    "avg_pool2d": ("avg_pool2d(x, kernel, stride, padding, count_include_pad) -> y"),
    "avg_pool2d_backward": ("avg_pool2d_backward(grad_y, input_shape, kernel, stride, padding, "
                            "count_include_pad) -> grad_x"),
    # batch normalisation of x (N, C, ...) per channel (dim 1), statistics over every other dim
    "batch_norm": ("batch_norm(x, weight or None, bias or None, running_mean or None, "
                   "running_var or None, training, momentum, eps) -> (y, mean, invstd): "
                   "y = (x - mean) * invstd * weight + bias per channel, invstd = 1 / sqrt(var + "
                   "eps). Training: mean and var (biased) are the batch's, and running "
                   "statistics given are updated in place, r = (1 - momentum) * r + momentum * "
                   "batch value (running_var gets the unbiased variance). Otherwise the running "
                   "statistics are used. mean and invstd come back as (C,) arrays"),
    "batch_norm_backward": ("batch_norm_backward(grad_y, x, weight or None, mean, invstd, "
                            "training) -> (grad_x, sum(grad_y * xhat) (C,), sum(grad_y) (C,)) "
                            "with xhat = (x - mean) * invstd: grad_x = weight * invstd * "
                            "(grad_y - (sum(grad_y) + xhat * sum(grad_y * xhat)) / count) when "
                            "training (count: elements per channel), weight * invstd * grad_y "
                            "otherwise"),
    # order: sorting and binary search (host-staged decompositions; added in contract 1.2)
    "argsort": ("argsort(x, axis, descending) -> int64 indices ordering x along axis; stable "
                "(ties keep their order), nan sorts as the largest value"),
    "searchsorted": ("searchsorted(sorted_sequence (B, M), values (B, K), right) -> int64 "
                     "(B, K): per row, the insertion points of values into the sorted row "
                     "(the first position with sequence >= value, > with right)"),
    # fused optimizer steps, in place on the param and state arrays (all one floating dtype)
    "sgd_step_": ("sgd_step_(param, grad, momentum_buffer or None, *, lr, momentum, dampening, "
                  "nesterov, weight_decay, maximize, first_step) -> None; PyTorch's SGD "
                  "update; on first_step the buffer is set to the (decayed) gradient"),
    "adam_step_": ("adam_step_(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq or None, *, "
                   "step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, "
                   "maximize) -> None; PyTorch's Adam (AdamW when decoupled_weight_decay); "
                   "step counts from 1"),
    # in-place arithmetic
    "binary_": ("binary_(op, out, a, b) -> None: out = a op b written into out (which may "
                "alias a, and b may overlap) for the arithmetic BINARY_OPS; the result is that "
                "of reading a and b first, bit-identical to binary(op, a, b); a and b have "
                "out's shape (or broadcast to it under native_broadcasting) and dtype"),
    # creation and exchange
    "arange": "arange(start, stop, step, dtype) -> 1-D array",
    "from_dlpack": ("from_dlpack(obj) -> array viewing a DLPack producer's memory on this device "
                    "without a copy (used by micrograd.from_dlpack for device memory)"),
}
"""Methods a backend may offer, with their signatures. The core uses a backend's method when it
has one and otherwise decomposes the op into required primitives (``micrograd.ops.fallbacks``).
Arguments are validated by the core; pairs like ``stride`` are tuples of two ints."""


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares about itself; the conformance suite and error messages use it."""

    dtypes: tuple[DType, ...]
    device_type: str
    device_count: int = 1
    matmul_dtypes: tuple[DType, ...] | None = None   # None: every declared dtype
    views_share_memory: bool = True   # False: views are copies; the core writes them back
    notes: dict[str, str] = field(default_factory=dict)
    flush_to_zero: bool = False
    """True where floating subnormals are read and written as zeros (XLA on CPU, many GPUs in
    their fast modes): the conformance suite then expects zeros there instead (contract 1.2)."""


class BackendUnavailable(RuntimeError):
    """The backend is installed but cannot run here (no GPU, missing driver, ...)."""


def single_device(device_type: str, why: str = "") -> Callable:
    """Turn a no-argument backend factory into the ``factory(index)`` that ``register`` takes,
    for a backend with one device: index 0 builds it, any other raises BackendUnavailable.

    >>> @single_device("mydev")
    ... def make_mydev_backend():
    ...     return MyBackend(micrograd.device("mydev"))
    >>> register("mydev", make_mydev_backend, device_type="mydev", contract=(1, 2))

    ``why`` says why there is only one (shown in the error).
    """
    def decorate(make: Callable[[], "Backend"]) -> Callable[[int], "Backend"]:
        @functools.wraps(make)
        def factory(index: int) -> "Backend":
            if index != 0:
                reason = f" ({why})" if why else ""
                raise BackendUnavailable(f"{device_type} has one device, {device_type}:0, not "
                                         f"{device_type}:{index}{reason}")
            return make()
        return factory
    return decorate


class Backend:
    """Base class of every backend. Subclasses implement every required primitive.

    One instance serves one device (``"cuda:1"`` gets its own instance). ``name`` is the backend's
    registered name, ``device`` its :class:`micrograd.device`.
    """

    name: str = "?"
    capabilities: Capabilities
    native_broadcasting: bool = False
    """Set when ``binary`` and ``where`` accept operands that merely broadcast against each
    other (numpy rules); the core then skips ``expand``."""

    def __init__(self, device):
        self.device = device

    # ---------------------------------------------------------------- memory
    def from_host(self, array: np.ndarray, dtype: DType) -> Any:
        """Copy a C-contiguous numpy array to the device as ``dtype``.

        ``array`` already has ``dtype.numpy`` as its dtype, except for bfloat16, which arrives as
        float32 holding values to be rounded to nearest even."""
        raise NotImplementedError

    def to_host(self, x) -> np.ndarray:
        """The array's values as numpy. bfloat16 comes back as float32 (numpy has no bfloat16).
        May share memory with ``x`` where the device is the host."""
        raise NotImplementedError

    def full(self, shape: tuple[int, ...], value: float | int | bool, dtype: DType) -> Any:
        """A new array of ``shape`` filled with ``value`` (already representable in ``dtype``)."""
        raise NotImplementedError

    def astype(self, x, dtype: DType) -> Any:
        """Convert to ``dtype``. Floats to integers truncate toward zero; out-of-range and nan
        conversions are unspecified. Anything nonzero converts to ``True``."""
        raise NotImplementedError

    def copy_(self, dst, src) -> None:
        """Write ``src`` (same shape and dtype) into ``dst`` in place, through views. ``src``
        may overlap ``dst`` (``x[1:]`` from ``x[:-1]``): the result is that of reading all of
        ``src`` first."""
        raise NotImplementedError

    def contiguous(self, x) -> Any:
        """``x`` laid out densely in row-major order (``x`` itself if it already is)."""
        raise NotImplementedError

    # ----------------------------------------------------------- elementwise
    def unary(self, op: str, x) -> Any:
        """Apply a :data:`UNARY_OPS` op elementwise."""
        raise NotImplementedError

    def binary(self, op: str, a, b) -> Any:
        """Apply a :data:`BINARY_OPS` op elementwise; ``a`` and ``b`` share shape and dtype."""
        raise NotImplementedError

    def where(self, cond, a, b) -> Any:
        """Elementwise ``a if cond else b``; ``cond`` is bool, all three share one shape."""
        raise NotImplementedError

    # ------------------------------------------------------------ reductions
    def reduce(self, op: str, x, axes: tuple[int, ...], keepdim: bool) -> Any:
        """Reduce the (sorted, non-negative, non-empty) ``axes`` with a :data:`REDUCE_OPS` op."""
        raise NotImplementedError

    def argreduce(self, op: str, x, axis: int, keepdim: bool) -> Any:
        """``"argmax"``/``"argmin"`` along ``axis`` as int64; ties give the first index; nan
        counts as the extreme."""
        raise NotImplementedError

    def cumsum(self, x, axis: int) -> Any:
        """Inclusive prefix sum along ``axis`` (same dtype)."""
        raise NotImplementedError

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b) -> Any:
        """``(..., m, k) @ (..., k, n) -> (..., m, n)``; batch dims are equal (core broadcasts)."""
        raise NotImplementedError

    # --------------------------------------------------------------- movement
    def reshape(self, x, shape: tuple[int, ...]) -> Any:
        """Same elements in row-major order, new shape: a view whenever the strides allow
        (numpy's rule) where views share memory, since squeeze, unsqueeze and select of a
        strided view rely on it to stay views; a copy otherwise."""
        raise NotImplementedError

    def permute(self, x, axes: tuple[int, ...]) -> Any:
        """Reorder dimensions (a view where possible)."""
        raise NotImplementedError

    def expand(self, x, shape: tuple[int, ...]) -> Any:
        """Broadcast ``x`` (same ndim, size-1 dims stretched) to ``shape`` without copying."""
        raise NotImplementedError

    def slice(self, x, key: tuple[slice, ...]) -> Any:
        """Basic slicing: one ``slice(start, stop, step)`` per dim, normalised
        (0 <= start <= stop <= size, step >= 1). A view where possible."""
        raise NotImplementedError

    def flip(self, x, axes: tuple[int, ...]) -> Any:
        """Reverse the order of elements along ``axes``. May be a view (negative strides):
        PyTorch's flip copies, so where views share memory the core copies the result, and a
        write into a flipped tensor never reaches ``x``."""
        raise NotImplementedError

    def cat(self, xs: Sequence[Any], axis: int) -> Any:
        """Concatenate arrays of one dtype along ``axis``."""
        raise NotImplementedError

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis: int) -> Any:
        """Select along ``axis`` with 1-D int64 ``indices`` (already in range and non-negative)."""
        raise NotImplementedError

    def gather(self, x, axis: int, index) -> Any:
        """``out[i][j] = x[index[i][j]][j]`` (for axis 0) like ``torch.gather``; ``index`` is int64
        with the output's shape and in range."""
        raise NotImplementedError

    def scatter(self, x, axis: int, index, src, accumulate: bool) -> Any:
        """A copy of ``x`` with ``src`` written (or, with ``accumulate``, added) at ``index``
        along ``axis``; ``index`` and ``src`` share a shape. Accumulation sums duplicates; on
        bool it is a logical or (``True`` wherever ``x`` or any ``src`` written there is, as
        PyTorch's ``index_put_(accumulate=True)`` gives). Without accumulation, which of
        several duplicates wins is unspecified."""
        raise NotImplementedError

    def setitem_(self, x, key: tuple[slice, ...], value) -> None:
        """Write ``value`` (the slice's shape and dtype) into ``x[key]`` in place; ``key`` as in
        :meth:`slice`."""
        raise NotImplementedError

    def nonzero(self, x) -> Any:
        """int64 array ``(n, ndim)`` of the coordinates of nonzero elements in row-major order."""
        raise NotImplementedError

    # ------------------------------------------------------------ niceties
    def synchronize(self) -> None:
        """Wait for queued work (lazy or asynchronous backends); a no-op by default."""

    def describe(self) -> str:
        """One line for ``micrograd info``: what hardware this instance uses and why."""
        return str(self.device)

    def offers(self, op: str) -> bool:
        """Whether this backend implements the optional op ``op``."""
        return callable(getattr(self, op, None))

    def optional_ops(self) -> tuple[str, ...]:
        return tuple(op for op in OPTIONAL_OPS if self.offers(op))


REQUIRED_PRIMITIVES = tuple(
    name for name, value in vars(Backend).items()
    if callable(value) and not name.startswith("_")
    and name not in ("synchronize", "describe", "offers", "optional_ops")
)


def missing_primitives(backend_cls: type) -> list[str]:
    """Required primitives ``backend_cls`` leaves unimplemented."""
    return [name for name in REQUIRED_PRIMITIVES
            if getattr(backend_cls, name, None) is getattr(Backend, name)]
