"""``micrograd.nn.utils.parametrize``: a parameter or buffer re-expressed as a function of other
tensors, PyTorch's ``torch.nn.utils.parametrize``.

``register_parametrization(module, "weight", P())`` moves the weight to
``module.parametrizations.weight.original`` and turns ``module.weight`` into a property that
computes ``P()(original)`` on every read; assigning to ``module.weight`` stores
``P().right_inverse(value)`` in the original. Further parametrizations of the same name chain
(``P2(P1(original))``). A ``right_inverse`` that returns a sequence splits the original into
``original0``, ``original1``... (weight normalisation's magnitude and direction). The originals
are ordinary parameters of the ``ParametrizationList``, so ``parameters()``, ``state_dict()``
(``parametrizations.weight.original``), ``to()`` and optimizers see them.

To hold the property, the module's class becomes a subclass made for it,
``Parametrized<Class>``; ``type_before_parametrizations`` gives the class it had.

>>> class Symmetric(micrograd.nn.Module):
...     def forward(self, X):
...         return X.triu() + X.triu(1).mT
>>> layer = register_parametrization(micrograd.nn.Linear(3, 3), "weight", Symmetric())
>>> bool((layer.weight == layer.weight.T).all())
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import contextmanager

from ...autograd import grad_mode
from ...tensor import Tensor
from ..module import Module
from ..modules.container import ModuleDict, ModuleList
from ..parameter import Parameter

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations", "transfer_parametrizations_and_params",
           "type_before_parametrizations"]

# The values computed inside ``cached()``, by (id(module), tensor name); emptied on leaving the
# outermost ``cached()``.
_cache: dict = {}
_cache_depth = 0


@contextmanager
def cached():
    """Compute each parametrized tensor once inside the block and reuse it on every read (a
    recurrent layer reading its parametrized weight at every step).

    >>> with cached():
    ...     out = layer(x) + layer(x)        # doctest: +SKIP
    """
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if not _cache_depth:
            _cache.clear()


def _set_storage(target: Tensor, value: Tensor) -> None:
    """PyTorch's ``target.set_(value)``: ``target`` (the same object, so optimizers that hold it
    keep working) takes ``value``'s data, shape and dtype."""
    target.data = value.detach()
    target._version[0] += 1


def _register_tensor(module: Module, name: str, tensor: Tensor) -> None:
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the original tensor(s) they
    start from (``original``, or ``original0``, ``original1``... when the last
    ``right_inverse`` splits it). Made by :func:`register_parametrization`, not by hand."""

    def __init__(self, modules, original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype = tuple(original.shape), original.dtype
        with grad_mode.no_grad():
            new = original
            for module in reversed(self):
                # A missing right_inverse, or one that raises NotImplementedError, is taken for
                # the identity, as in PyTorch.
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass
        if not isinstance(new, (Tensor, Sequence)):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors "
                             f"(list, tuple...). Got {type(new).__name__}")
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if new.dtype is not original.dtype:
                raise ValueError(f"When `right_inverse` outputs one tensor, it may not change "
                                 f"the dtype.\noriginal.dtype: {original.dtype}\n"
                                 f"right_inverse(original).dtype: {new.dtype}")
            if new._backend is not original._backend:
                raise ValueError(f"When `right_inverse` outputs one tensor, it may not change "
                                 f"the device.\noriginal.device: {original.device}\n"
                                 f"right_inverse(original).device: {new.device}")
            if new is not original:
                _set_storage(original, new)
            _register_tensor(self, "original", original)
        else:
            for i, part in enumerate(new):
                if not isinstance(part, Tensor):
                    raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of "
                                     f"tensors (list, tuple...). Got element {i} of the "
                                     f"sequence with type {type(part).__name__}.")
                part = part.detach()
                if isinstance(original, Parameter):
                    part = Parameter(part, original.requires_grad)
                else:
                    part.requires_grad_(original.requires_grad)
                _register_tensor(self, f"original{i}", part)
        if not self.unsafe:
            value = self()
            if not isinstance(value, Tensor):
                raise ValueError(f"A parametrization must return a tensor. Got "
                                 f"{type(value).__name__}.")
            if value.dtype is not dtype:
                raise ValueError(f"Registering a parametrization may not change the dtype of "
                                 f"the tensor, unless `unsafe` flag is enabled.\nunparametrized "
                                 f"dtype: {dtype}\nparametrized dtype: {value.dtype}")
            if tuple(value.shape) != shape:
                raise ValueError(f"Registering a parametrization may not change the shape of "
                                 f"the tensor, unless `unsafe` flag is enabled.\nunparametrized "
                                 f"shape: {shape}\nparametrized shape: {tuple(value.shape)}")

    def right_inverse(self, value) -> None:
        """Store ``value`` in the original(s): every parametrization's ``right_inverse``, last
        first, under ``no_grad``; each must define one."""
        with grad_mode.no_grad():
            for module in reversed(self):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       f"implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got "
                                     f"{type(value).__name__}")
                if value.dtype is not self.original.dtype:
                    raise ValueError(f"The tensor returned by `right_inverse` has dtype "
                                     f"{value.dtype} while `original` has dtype "
                                     f"{self.original.dtype}")
                _set_storage(self.original, value)
                return
            if not isinstance(value, Sequence):
                raise ValueError(f"'right_inverse' must return a sequence of tensors. Got "
                                 f"{type(value).__name__}.")
            if len(value) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of tensors of length "
                                 f"{self.ntensors}. Got a sequence of length {len(value)}.")
            for i, part in enumerate(value):
                original = getattr(self, f"original{i}")
                if not isinstance(part, Tensor):
                    raise ValueError(f"`right_inverse` must return a sequence of tensors. Got "
                                     f"element {i} of type {type(part).__name__}")
                if part.dtype is not original.dtype:
                    raise ValueError(f"Tensor {i} returned by `right_inverse` has dtype "
                                     f"{part.dtype} while `original{i}` has dtype "
                                     f"{original.dtype}")
                _set_storage(original, part)

    def forward(self):
        if self.is_tensor:
            x = self[0](self.original)
        else:
            x = self[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in list(self)[1:]:
            x = module(x)
        return x


# ------------------------------------------------------------------ the module's new class

def _parametrized_class(cls: type) -> type:
    """``Parametrized<cls>``: a subclass to hang the properties on, so that other instances of
    ``cls`` are untouched. Pickling it is refused (PyTorch supports only ``state_dict``)."""

    def __getstate__(self):
        raise RuntimeError("Serialization of parametrized modules is only supported through "
                           "state_dict(); save module.state_dict() and load it into a module "
                           "parametrized the same way.")

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        replica = object.__new__(type(self))
        memo[id(self)] = replica
        replica.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return replica

    namespace = {"__getstate__": __getstate__}
    if not hasattr(cls, "__deepcopy__"):
        namespace["__deepcopy__"] = __deepcopy__
    return type(f"Parametrized{cls.__name__}", (cls,), namespace)


def _parametrized_property(tensor_name: str) -> property:
    def get(module):
        parametrization = module.parametrizations[tensor_name]
        if not _cache_depth:
            return parametrization()
        key = (id(module), tensor_name)
        if key not in _cache:
            _cache[key] = parametrization()
        return _cache[key]

    def set(module, value):
        module.parametrizations[tensor_name].right_inverse(value)

    return property(get, set, doc=f"``{tensor_name}``, computed by module.parametrizations."
                                  f"{tensor_name} from its original(s).")


def register_parametrization(module: Module, tensor_name: str, parametrization: Module,
                             *, unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` (a parameter, a buffer, or an already parametrized name)
    the output of ``parametrization``; returns ``module``.

    ``parametrization.forward`` maps the original tensor(s) to the value. If it defines
    ``right_inverse(value)``, that is used to initialise the original from the current tensor
    and on every assignment ``module.<tensor_name> = value``; it may return a sequence of
    tensors, which become ``original0``, ``original1``.... Unless ``unsafe``, the parametrized
    tensor must keep the original's shape and dtype (checked now).

    >>> class Positive(micrograd.nn.Module):
    ...     def forward(self, X):
    ...         return X.exp()
    ...     def right_inverse(self, Y):
    ...         return Y.log()
    >>> m = register_parametrization(micrograd.nn.Linear(2, 2), "bias", Positive())
    >>> m.bias = micrograd.ones(2)
    >>> m.parametrizations.bias.original
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    """
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization expects the parametrization to be an "
                        f"nn.Module, got {type(parametrization).__name__}")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            current = getattr(module, tensor_name)
            value = parametrization(current)
            _check_keeps(value, current, "parametrization(module.{0})", tensor_name)
            if hasattr(parametrization, "right_inverse"):
                back = parametrization.right_inverse(value)
                _check_keeps(back, current, "parametrization.right_inverse(X)", tensor_name)
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
    elif tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            module.__class__ = _parametrized_class(module.__class__)
            module.parametrizations = ModuleDict()
        setattr(module.__class__, tensor_name, _parametrized_property(tensor_name))
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a "
                         f"parametrized element with name '{tensor_name}'")
    return module


def _check_keeps(value, reference: Tensor, what: str, tensor_name: str) -> None:
    what = what.format(tensor_name)
    if not isinstance(value, Tensor):
        raise ValueError(f"Output of '{what}' must be a tensor. Got {type(value).__name__}")
    if value.dtype is not reference.dtype:
        raise ValueError(f"Calling '{what}' should preserve module.{tensor_name}.dtype: "
                         f"module.{tensor_name}.dtype: {reference.dtype}, {what}.dtype: "
                         f"{value.dtype}; pass unsafe=True to allow it")
    if tuple(value.shape) != tuple(reference.shape):
        raise ValueError(f"Calling '{what}' should preserve module.{tensor_name}.shape: "
                         f"module.{tensor_name}.shape: {tuple(reference.shape)}, {what}.shape: "
                         f"{tuple(value.shape)}; pass unsafe=True to allow it")


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has any parametrization, or one on ``tensor_name``."""
    parametrizations = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo every parametrization of ``tensor_name``: it is a plain parameter (or buffer) again,
    holding the parametrized value (``leave_parametrized=True``) or the original. A tensor
    held as one original keeps its object, so an optimizer built on it still works."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with grad_mode.no_grad():
                _set_storage(original, getattr(module, tensor_name))
    elif leave_parametrized:
        value = getattr(module, tensor_name)        # with grad: does any original require it?
        original = Parameter(value.detach(), value.requires_grad) if value.requires_grad \
            else value.detach()
    else:
        raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                         "that is parametrized in terms of a sequence of tensors.")
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_tensor(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The class ``module`` had before its first parametrization (its class if it has none)."""
    return module.__class__.__bases__[0] if is_parametrized(module) else type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Give ``to_module`` the parametrizations of ``from_module`` (of ``tensor_name``, or of
    all its parametrized tensors), the same parametrization objects, and originals that share
    ``from_module``'s storage; returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        source = from_module.parametrizations[name]
        if not hasattr(to_module, name):
            placeholder = getattr(from_module, name)
            to_module.register_parameter(name, Parameter(placeholder.detach().clone(),
                                                         placeholder.requires_grad))
        if not is_parametrized(to_module, name):
            for parametrization in source:
                register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        with grad_mode.no_grad():      # shared storage, as PyTorch's set_
            if source.is_tensor:
                _set_storage(target.original, source.original)
            else:
                for i in range(source.ntensors):
                    _set_storage(getattr(target, f"original{i}"), getattr(source, f"original{i}"))
    return to_module
