"""``LazyModuleMixin``: modules whose parameter shapes are read from their first input
(``nn.LazyLinear(10)`` learns ``in_features`` from the first batch), as ``torch.nn.modules.lazy``.

A lazy module holds :class:`~micrograd.nn.parameter.UninitializedParameter` placeholders; a
forward pre-hook calls ``initialize_parameters(*inputs)`` once, which materializes them (the same
objects, so an optimizer built before the first forward still holds them) and runs
``reset_parameters``. Then the module becomes ``cls_to_become`` (``LazyLinear`` becomes
``Linear``). Loading a state dict into a lazy module materializes its placeholders to the
loaded shapes instead.

>>> layer = micrograd.nn.LazyLinear(2)
>>> layer(micrograd.ones(3, 5)).shape, type(layer).__name__, layer.in_features
(micrograd.Size([3, 2]), 'Linear', 5)
"""

from __future__ import annotations

from ...autograd import grad_mode
from ..parameter import is_lazy

__all__ = ["LazyModuleMixin"]


class LazyModuleMixin:
    """Put first in a lazy module's bases, before the class it becomes (``cls_to_become``);
    the module defines ``initialize_parameters(*inputs)``, which materializes every
    placeholder from the first inputs."""

    cls_to_become: type | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer of this module (not its children) has no shape yet."""
        return any(is_lazy(t) for t in (*self._parameters.values(), *self._buffers.values()))

    def initialize_parameters(self, *args, **kwargs) -> None:
        """Materialize the placeholders from the first inputs (subclasses define it)."""
        raise NotImplementedError(f"initialize_parameters is not implemented for "
                                  f"{type(self).__name__}")


def _infer_parameters(module, args) -> None:
    """The forward pre-hook: initialize from the inputs, then become the eager class."""
    with grad_mode.no_grad():
        module.initialize_parameters(*args)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {type(module).__name__} has not been fully initialized")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become
