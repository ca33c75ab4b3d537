"""``weight_norm`` and ``remove_weight_norm``: a weight re-expressed as a magnitude ``g`` times a
direction ``v / ||v||``, each a parameter (``weight_g``, ``weight_v``); a forward pre-hook
rebuilds ``weight`` from them before every call. PyTorch's classic hook-based API, with its
state_dict keys; PyTorch deprecates it for ``parametrizations.weight_norm``, and so it warns
as PyTorch does.

>>> layer = micrograd.nn.utils.weight_norm(micrograd.nn.Linear(20, 40))
>>> layer.weight_g.shape, layer.weight_v.shape
(micrograd.Size([40, 1]), micrograd.Size([40, 20]))
"""

from __future__ import annotations

import warnings

from ...autograd import grad_mode
from ..parameter import Parameter

__all__ = ["WeightNorm", "remove_weight_norm", "weight_norm"]


def _norm_except_dim(v, dim: int):
    """The 2-norm of ``v`` over every dimension but ``dim``, kept as size-1 dimensions; over
    the whole tensor (a 0-d result) for ``dim=-1``, PyTorch's reading of ``dim=None``."""
    if dim == -1:
        return v.norm()
    dim %= v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    return v.norm(2, dim=others, keepdim=True) if others else v.abs()


class WeightNorm:
    """The forward pre-hook: ``weight = g * v / ||v||``, the norm over every dimension but
    ``dim``."""

    def __init__(self, name: str, dim: int | None):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module, name: str, dim: int | None) -> "WeightNorm":
        for hook in module._forward_pre_hooks:
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter "
                                   f"{name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g",
                                  Parameter(_norm_except_dim(weight, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        with grad_mode.no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int | None = 0):
    """Split ``module``'s parameter ``name`` into ``name_g`` (its norm over every dimension
    but ``dim``; the whole tensor's with ``dim=None``) and ``name_v`` (the weight itself);
    returns the module.

    >>> conv = micrograd.nn.utils.weight_norm(micrograd.nn.Conv1d(4, 8, 3), dim=0)
    """
    warnings.warn("`micrograd.nn.utils.weight_norm` is deprecated in favor of "
                  "`micrograd.nn.utils.parametrizations.weight_norm`, as "
                  "`torch.nn.utils.weight_norm` is.",
                  FutureWarning, stacklevel=2)
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo ``weight_norm``: ``name`` is one parameter again, holding the current weight."""
    return remove_reparametrization(module, WeightNorm, name, "weight_norm")


def remove_reparametrization(module, kind: type, name: str, what: str):
    """Take the ``kind`` hook of parameter ``name`` off ``module`` (its ``remove`` restores the
    plain parameter); ValueError naming ``what`` when there is none."""
    for hook in module._forward_pre_hooks:
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            module._forward_pre_hooks.remove(hook)
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
