"""``Parameter``: a tensor that a :class:`~micrograd.nn.Module` registers as learnable."""

from __future__ import annotations

from ..ops.creation import empty
from ..tensor import Tensor, copy_grad_into


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and that modules collect automatically.

    It shares storage with the tensor it wraps, like ``torch.nn.Parameter``.

    >>> w = micrograd.nn.Parameter(micrograd.zeros(3))
    >>> w.requires_grad
    True
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a Tensor, got {type(data).__name__}; wrap it "
                            f"with micrograd.tensor(...) first")
        p = object.__new__(cls)
        p._data, p._dtype, p._backend = data._data, data._dtype, data._backend
        p._strides = data._strides
        p.grad = p.grad_fn = p._accumulator = p._base = p._writeback = None
        p._version = [0]
        p.requires_grad = False
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        pass   # all set in __new__; Tensor.__init__ would refuse

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (Parameter, (self.detach().clone(), self.requires_grad))

    def __deepcopy__(self, memo):
        """A Parameter with a copy of this one's values on the same backend (``copy.deepcopy``
        of a model keeps it where it is)."""
        if id(self) not in memo:
            copy = Parameter(self.detach().clone(), self.requires_grad)
            copy_grad_into(self, copy, memo)
            memo[id(self)] = copy
        return memo[id(self)]
