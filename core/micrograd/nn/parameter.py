"""``Parameter``: a tensor that a :class:`~micrograd.nn.Module` registers as learnable; and the
placeholders of the lazy modules, ``UninitializedParameter`` and ``UninitializedBuffer``, which
have no shape until ``materialize`` gives them one."""

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


# ------------------------------------------------------------------ uninitialized placeholders

# What may be asked of a tensor with no shape yet: its dtype, device and autograd flags (so
# modules, Module.to and optimizers can hold it); everything else, and its storage (``_data``,
# which every op reads), is refused until it is materialized.
_USABLE_UNINITIALIZED = frozenset({
    "materialize", "cls_to_become", "dtype", "device", "requires_grad", "requires_grad_",
    "grad", "grad_fn", "is_leaf", "is_floating_point", "is_complex", "to", "cpu", "cuda",
    "float", "double", "half", "bfloat16", "detach", "data",
})


class UninitializedTensorMixin:
    """A tensor without a shape (a lazy module's parameter before its first forward).
    ``materialize(shape)`` gives it storage and turns it into ``cls_to_become``, the same
    object, so optimizers and modules that hold it keep it."""

    __slots__ = ()
    cls_to_become: type = Tensor

    def __getattribute__(self, name: str):
        if (name[0] == "_" and name != "_data") or name in _USABLE_UNINITIALIZED:
            return object.__getattribute__(self, name)
        if name == "shape":
            raise RuntimeError("Can't access the shape of an uninitialized parameter or buffer. "
                               "This error usually happens in `load_state_dict` when trying to "
                               "load an uninitialized parameter into an initialized one. Call "
                               "`forward` to initialize the parameters before accessing their "
                               "attributes.")
        kind = type(self).__name__
        where = "an op" if name == "_data" else repr(name)
        raise ValueError(f"Attempted to use an uninitialized parameter in {where}. This error "
                         f"happens when you are using a `LazyModule` or explicitly manipulating "
                         f"`micrograd.nn.parameter.{kind}` objects. When using LazyModules Call "
                         f"`forward` with a dummy batch to initialize the parameters before "
                         f"calling micrograd functions")

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give this tensor uninitialised storage of ``shape`` (on its device, in its dtype
        unless given) and make it a ``cls_to_become``."""
        device = self._backend if device is None else device
        dtype = self._dtype if dtype is None else dtype
        self.data = empty(tuple(shape), device=device, dtype=dtype)
        self.__class__ = self.cls_to_become

    def _take_storage(self, value: Tensor) -> None:
        """``data = value`` for ``Module.to`` and ``materialize``: ``value`` may be a
        placeholder itself, whose storage only this may read."""
        get = object.__getattribute__
        self._data, self._dtype, self._backend, self._strides = (
            get(value, slot) for slot in ("_data", "_dtype", "_backend", "_strides"))

    data = property(lambda self: self.detach(), _take_storage)

    def to(self, *args, **kwargs):
        """Another placeholder, on the device and of the dtype asked for (``Module.to`` before
        the first forward)."""
        from ..ops.transfer import parse_to_args      # (the op families stand below nn)
        backend, dtype, _, _ = parse_to_args(self, args, kwargs)
        return type(self)(self.requires_grad, device=backend or self._backend,
                          dtype=dtype or self._dtype)

    def detach(self):
        return type(self)(False, device=self._backend, dtype=self._dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = type(self)(self.requires_grad, device=self._backend,
                                        dtype=self._dtype)
        return memo[id(self)]

    def __reduce_ex__(self, protocol):
        return (type(self), (self.requires_grad, None, self._dtype))


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter with no shape yet: a lazy module's ``weight`` before its first forward.

    >>> w = micrograd.nn.parameter.UninitializedParameter()
    >>> w.materialize((2, 3)); type(w).__name__, w.shape
    ('Parameter', micrograd.Size([2, 3]))
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        return Parameter.__new__(cls, empty(0, device=device, dtype=dtype), requires_grad)

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        pass


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer with no shape yet (a lazy BatchNorm's running statistics)."""

    __slots__ = ()
    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None):
        buffer = empty(0, device=device, dtype=dtype)
        buffer.__class__ = cls
        if requires_grad:
            buffer.requires_grad_(True)
        return buffer

    def __init__(self, requires_grad: bool = False, device=None, dtype=None):
        pass


def is_lazy(tensor) -> bool:
    """Whether ``tensor`` is an uninitialized placeholder (has no shape yet)."""
    return isinstance(tensor, UninitializedTensorMixin)
