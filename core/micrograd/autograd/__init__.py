"""Automatic differentiation: the graph engine, grad modes, ``grad`` and custom Functions."""

from __future__ import annotations

from ..tensor import Tensor
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .graph import Node, run_backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    >>> (gx,) = micrograd.autograd.grad((x ** 3).sum(), x, create_graph=True)
    """
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not inputs:
        raise RuntimeError("grad requires non-empty inputs; pass the tensors to differentiate "
                           "with respect to")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    if retain_graph is None:
        retain_graph = create_graph
    return run_backward(outputs, tuple(grad_outputs), retain_graph=retain_graph,
                        create_graph=create_graph, inputs=inputs, allow_unused=allow_unused,
                        accumulate=False)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False):
    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    run_backward(tensors, tuple(grad_tensors),
                 retain_graph=create_graph if retain_graph is None else retain_graph,
                 create_graph=create_graph)


__all__ = ["Function", "FunctionCtx", "Node", "backward", "enable_grad", "grad",
           "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
