"""``spectral_norm`` and ``remove_spectral_norm``: a weight divided by its largest singular
value, estimated by power iteration. PyTorch's classic hook-based API: the parameter becomes
``weight_orig``, the power iteration's vectors are the buffers ``weight_u`` and ``weight_v``
(updated in place, in training mode only), and a forward pre-hook sets ``weight`` before every
call.

>>> d = micrograd.nn.utils.spectral_norm(micrograd.nn.Linear(20, 40))
>>> sorted(d.state_dict())
['bias', 'weight_orig', 'weight_u', 'weight_v']
"""

from __future__ import annotations

from ...autograd import grad_mode
from ...random import randn
from .. import functional as F
from ..modules.conv import ConvTranspose2d
from ..parameter import Parameter
from .weight_norm import remove_reparametrization

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]


class SpectralNorm:
    """The forward pre-hook: ``weight = weight_orig / sigma``, ``sigma = u . (W v)`` with ``W``
    the weight as a matrix (dimension ``dim`` first, the rest flattened)."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name, self.dim = name, dim
        self.n_power_iterations, self.eps = n_power_iterations, eps

    def reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            order = [self.dim] + [d for d in range(weight.ndim) if d != self.dim]
            weight = weight.permute(*order)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration: bool):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        matrix = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with grad_mode.no_grad():
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(matrix.t().mv(u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(matrix.mv(v), dim=0, eps=self.eps))
            # copies for the graph: the buffers change in place at the next training call,
            # and backward must see the vectors of this one
            u, v = u.clone(), v.clone()
        sigma = u.dot(matrix.mv(v))
        return weight / sigma

    def remove(self, module) -> None:
        with grad_mode.no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))

    @staticmethod
    def apply(module, name: str, n_power_iterations: int, dim: int, eps: float) -> "SpectralNorm":
        for hook in module._forward_pre_hooks:
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same "
                                   f"parameter {name}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters[name]
        with grad_mode.no_grad():
            rows, cols = fn.reshape_weight_to_matrix(weight).shape
            u = F.normalize(randn(rows, dtype=weight.dtype, device=weight._backend), dim=0,
                            eps=eps)
            v = F.normalize(randn(cols, dtype=weight.dtype, device=weight._backend), dim=0,
                            eps=eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12,
                  dim: int | None = None):
    """Divide ``module``'s parameter ``name`` by its spectral norm before every call; ``dim``
    is the output dimension (1 for transposed convolutions, 0 otherwise, by default). Returns
    the module.

    >>> critic = micrograd.nn.utils.spectral_norm(micrograd.nn.Conv2d(3, 64, 4))
    """
    if dim is None:
        # ConvTranspose1d is a ConvTranspose2d here; both hold (in, out, ...) weights
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo ``spectral_norm``: ``name`` is one parameter again, holding the normalised weight."""
    return remove_reparametrization(module, SpectralNorm, name, "spectral_norm")
