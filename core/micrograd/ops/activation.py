"""Activations: relu, sigmoid, silu, gelu, softplus.

Each is an optional op of the contract: the backend's fused kernel when it offers one, else its
decomposition in ``micrograd.decompositions`` (the IR of ``fusion.formulas``); the derivative
stands beside the forward in ``fusion.formulas``, one fused kernel too.
"""

from __future__ import annotations

from ..fusion import formulas
from ..tensor import Tensor, surface
from ..decompositions import call_optional
from .base import Op
from .binary import maximum
from .fused import fused
from .unary import _float_input


class Activation(Op):
    """The forward is the backend's fast op or the IR of ``fusion.formulas`` (one fused kernel
    on a backend with compile_elementwise); the backward is that activation's derivative from
    ``fusion.formulas``, one fused kernel too, differentiable again through ``ir.vjp``."""

    op_name = ""

    def forward(self, x, **attrs):
        if formulas.ACTIVATIONS[self.op_name][2] == "x":
            self.save_for_backward(x)
        self.attrs = attrs
        return call_optional(x._backend, self.op_name, x._dtype, x._data, **attrs)

    def backward(self, grad):
        saved = self.output if self.saves_output else self.saved_tensors[0]
        expr = formulas.activation_backward(self.op_name, saved._dtype, tuple(saved.shape),
                                            tuple(self.attrs.values()))
        return fused(expr, saved, grad)


class Relu(Activation):
    op_name = "relu"


class Sigmoid(Activation):
    op_name, saves_output = "sigmoid", True


class Silu(Activation):
    op_name = "silu"


class Gelu(Activation):
    op_name = "gelu"


class GeluTanh(Activation):
    op_name = "gelu_tanh"


class Softplus(Activation):
    op_name = "softplus"


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
