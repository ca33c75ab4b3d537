"""Flattening parameters to one vector and back: ``parameters_to_vector``,
``vector_to_parameters``."""

from __future__ import annotations

from ...autograd import grad_mode
from ...ops.movement import cat
from ...tensor import Tensor


def parameters_to_vector(parameters) -> Tensor:
    """Every parameter flattened and concatenated into one 1-D tensor (differentiable)."""
    flat = [p.reshape(-1) for p in parameters]
    if not flat:
        raise RuntimeError("parameters_to_vector: got no parameters")
    for p in flat[1:]:
        if p._backend is not flat[0]._backend:
            raise TypeError(f"parameters_to_vector: parameters are on different devices "
                            f"({flat[0].device} and {p.device}); move them to one first")
    return cat(flat)


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no graph)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() != total:
        raise RuntimeError(f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the "
                           f"parameters hold {total} values; pass a 1-D vector of that length")
    offset = 0
    with grad_mode.no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(tuple(p.shape)))
            offset += n
