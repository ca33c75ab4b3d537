"""Weight initialisation, with PyTorch's formulas (gains, fans, bounds) and names.

Every function fills its tensor in place without recording a graph and returns it. Draws come
from micrograd's generator (``generator=`` or the default), so the values differ from PyTorch's
for one seed but follow the same distributions.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..ops.creation import tensor as new_tensor
from ..random import randn, randperm
from ..tensor import Tensor

# trunc_normal_ draws normals and keeps those inside [a, b]; below this probability of landing
# there, rejection would take too many draws (PyTorch, sampling another way, warns then that
# its values may be wrong), so the interval is refused
_TRUNC_NORMAL_MIN_MASS = 1e-4


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(f"Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {tuple(tensor.shape)})")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from U(a, b)."""
    return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std²)."""
    return tensor.normal_(mean, std, generator=generator)


def _write(tensor: Tensor, host: np.ndarray) -> Tensor:
    """Fill ``tensor`` in place with the host array ``host`` (of its shape), unrecorded."""
    with grad_mode.no_grad():
        return tensor.copy_(new_tensor(host.reshape(tuple(tensor.shape))))


def _normal_draws(count: int, generator) -> np.ndarray:
    """``count`` float64 N(0, 1) draws from micrograd's generator, on the host."""
    return randn(count, generator=generator, dtype=dtypes.float64).numpy()


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Fill with draws from N(mean, std²) truncated to [a, b] (``a`` and ``b`` are absolute
    bounds, not multiples of std), by rejection: exact, where PyTorch's inverse-CDF sampling
    is approximate in the far tail.

    >>> w = micrograd.nn.init.trunc_normal_(micrograd.empty(3, 5), std=0.02)
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    mass = _normal_cdf((b - mean) / std) - _normal_cdf((a - mean) / std)
    if not mass >= _TRUNC_NORMAL_MIN_MASS:
        raise ValueError(f"trunc_normal_: [a, b] = [{a}, {b}] holds only {mass:.3g} of the "
                         f"probability of N({mean}, {std}²), too little to sample; move the "
                         f"bounds nearer the mean or raise std")
    host = np.empty(tensor.numel())
    missing = np.arange(host.size)
    while missing.size:
        # oversampled by the expected acceptance, so that one round usually suffices
        count = min(math.ceil(1.2 * missing.size / mass) + 16, max(4 * missing.size, 1 << 22))
        draws = mean + std * _normal_draws(count, generator)
        inside = draws[(draws >= a) & (draws <= b)][:missing.size]
        host[missing[:inside.size]] = inside
        missing = missing[inside.size:]
    return _write(tensor, host)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix, the trailing dims flattened (Saxe et al., 2013):
    the Q of a Gaussian matrix's QR decomposition, signs fixed by R's diagonal so that it is
    uniformly (Haar) distributed, times ``gain``."""
    if tensor.ndim < 2:
        raise ValueError(f"Only tensors with 2 or more dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _normal_draws(rows * cols, generator).reshape(rows, cols)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, q * gain)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal of a rectangle)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    return _write(tensor, np.eye(*tuple(tensor.shape)))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: the convolution passes
    its first input channels through unchanged, within each of ``groups`` groups."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"Only tensors with 3, 4, or 5 dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups:
        raise ValueError(f"dim 0 must be divisible by groups (got size {sizes[0]} and "
                         f"groups={groups})")
    out_per_group = sizes[0] // groups
    host = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            host[(g * out_per_group + d, d) + centre] = 1
    return _write(tensor, host)


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """Fill a 2-D tensor from N(0, std²), then zero ``ceil(sparsity * rows)`` random entries of
    every column (Martens, 2010)."""
    if tensor.ndim != 2:
        raise ValueError(f"Only tensors with 2 dimensions are supported (got shape "
                         f"{tuple(tensor.shape)})")
    rows, cols = tuple(tensor.shape)
    zeros_per_column = int(math.ceil(sparsity * rows))
    host = std * _normal_draws(rows * cols, generator).reshape(rows, cols)
    for col in range(cols):
        host[randperm(rows, generator=generator).numpy()[:zeros_per_column], col] = 0
    return _write(tensor, host)


def constant_(tensor: Tensor, val: float) -> Tensor:
    with grad_mode.no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std²) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015). ``a`` is the leaky slope;
    ``a=sqrt(5)`` is what Linear and Conv layers use by default."""
    if 0 in tuple(tensor.shape):
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """N(0, std²) with std = gain / sqrt(fan)."""
    if 0 in tuple(tensor.shape):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)
