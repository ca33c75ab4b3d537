"""Activations: relu, sigmoid, silu, gelu, softplus.

Each is an optional op of the contract: the backend's fused kernel when it offers one, else its
decomposition in ``ops/fallbacks.py``; forward and backward side by side.
"""

from __future__ import annotations

import math

from ..tensor import Tensor, surface
from . import fallbacks
from .base import Op, scalar_tensor
from .binary import Gt, maximum
from .unary import _float_input, erf
from .where import Where, where, zeros_scalar


class Activation(Op):
    op_name = ""

    def forward(self, x, **attrs):
        self.save_for_backward(x)
        self.attrs = attrs
        return fallbacks.run(x._backend, self.op_name, x._dtype, x._data, **attrs)


class Relu(Activation):
    op_name = "relu"

    def backward(self, grad):
        (x,) = self.saved_tensors
        # Two backend calls (compare, select) where grad * (x > 0) takes three (the mask is cast
        # to grad's dtype first); also PyTorch's threshold_backward exactly: an inf or nan
        # gradient stays out of the zeroed positions.
        return Where.apply(Gt.apply(x, scalar_tensor(0, x)), grad, zeros_scalar(grad))


class Sigmoid(Activation):
    op_name, saves_output = "sigmoid", True

    def backward(self, grad):
        y = self.output
        return grad * y * (1 - y)


class Silu(Activation):
    op_name = "silu"

    def backward(self, grad):
        (x,) = self.saved_tensors
        s = sigmoid(x)
        return grad * s * (1 + x * (1 - s))


class Gelu(Activation):
    op_name = "gelu"

    def backward(self, grad):
        (x,) = self.saved_tensors
        cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
        pdf = (-0.5 * x * x).exp() * (1 / math.sqrt(2 * math.pi))
        return grad * (cdf + x * pdf)


class GeluTanh(Activation):
    op_name = "gelu_tanh"

    def backward(self, grad):
        (x,) = self.saved_tensors
        k = math.sqrt(2 / math.pi)
        inner = k * (x + 0.044715 * x * x * x)
        t = inner.tanh()
        dinner = k * (1 + 3 * 0.044715 * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dinner)


class Softplus(Activation):
    op_name = "softplus"

    def backward(self, grad):
        (x,) = self.saved_tensors
        beta, threshold = self.attrs["beta"], self.attrs["threshold"]
        z = x * beta
        return grad * where(z > threshold, 1.0, sigmoid(z))


def _activation(cls):
    def fn(x: Tensor, **attrs) -> Tensor:
        return cls.apply(_float_input(x, cls.op_name), **attrs)
    fn.__name__ = cls.op_name
    return fn


sigmoid, silu = _activation(Sigmoid), _activation(Silu)
surface(inplace=True)(sigmoid)
surface(method=False, inplace=True)(silu)


@surface(inplace=True)
def relu(x: Tensor) -> Tensor:
    if x._dtype.kind != "f":
        return maximum(x, 0)
    return Relu.apply(x)


@surface(method=False)
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "tanh":
        return GeluTanh.apply(_float_input(x, "gelu"))
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_input(x, "gelu"))


@surface(method=False)
def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus.apply(_float_input(x, "softplus"), beta=float(beta), threshold=float(threshold))
