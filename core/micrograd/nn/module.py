"""``Module``: the base class of every layer and model, with PyTorch's registration rules.

Assigning a :class:`Parameter`, a ``Module`` or (through :meth:`Module.register_buffer`) a
buffer to an attribute registers it, so ``parameters()``, ``state_dict()``, ``to()`` and
``train()``/``eval()`` reach every part of a model without the model listing them.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import RemovableHandle
from ..ops.creation import empty
from ..ops.layout import CHANNELS_LAST_ORDER
from ..ops.transfer import parse_to_args
from ..tensor import Tensor
from .parameter import Parameter, is_lazy

class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys the model had and the checkpoint lacked, and
    the reverse (printed as PyTorch prints a clean load)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class Module:
    """Base class of layers and models: subclass it, create sub-modules and parameters in
    ``__init__`` and compute in ``forward``.

    >>> class Net(micrograd.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = micrograd.nn.Linear(4, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    """

    training: bool

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments; "
                            f"Module.__init__ takes none")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = []
        d["_forward_pre_hooks"] = []

    def forward(self, *args, **kwargs):
        """The computation; subclasses override it and callers use ``module(x)``."""
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required "
                                  f"\"forward\" function")

    def __call__(self, *args, **kwargs):
        for hook in tuple(self._forward_pre_hooks):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call; call "
                                 f"super().__init__() first in {type(self).__name__}.__init__")
        for table in (d["_parameters"], d["_buffers"], d["_modules"]):
            if name in table and not self._fits(table, value, name):
                del table[name]
        if isinstance(value, Parameter):
            d.pop(name, None)
            if name not in d["_parameters"] and hasattr(type(self), name):
                # a property (a parametrized tensor), method or class attribute: PyTorch's
                # register_parameter refuses the name rather than hide the Parameter under it
                _check_name(self, name, "parameter", d["_parameters"])
            d["_parameters"][name] = value
        elif isinstance(value, Module):
            d.pop(name, None)
            d["_modules"][name] = value
        elif name in d["_parameters"]:
            d["_parameters"][name] = value          # None clears a parameter slot
        elif name in d["_buffers"]:
            d["_buffers"][name] = value
        elif name in d["_modules"]:
            d["_modules"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _fits(self, table, value, name) -> bool:
        if table is self._parameters:
            if value is not None and not isinstance(value, Parameter):
                if isinstance(value, Tensor):
                    raise TypeError(f"cannot assign a plain Tensor to parameter {name!r}; wrap "
                                    f"it in nn.Parameter(...) or assign to .data")
                return False
        if table is self._buffers:
            return value is None or isinstance(value, Tensor)
        if table is self._modules:
            return value is None or isinstance(value, Module)
        return True

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                return d[table][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or an empty ``None`` slot) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (nn.Parameter or None required)")
        _check_name(self, name, "parameter", self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that is state but not a parameter (BatchNorm's running mean): moved by
        ``to()`` and saved in ``state_dict`` unless ``persistent=False``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            f"(Tensor or None required)")
        _check_name(self, name, "buffer", self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as a child called ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(self, name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """``(dotted name, module)`` for this module and every descendant, depth first."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, table).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """``(dotted name, parameter)`` pairs; a shared parameter appears once.

        >>> [name for name, _ in micrograd.nn.Linear(2, 3).named_parameters()]
        ['weight', 'bias']
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (what an optimizer takes)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        """``(dotted name, buffer)`` pairs, persistent or not."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            module = module._modules[part]
        return module

    def get_parameter(self, target: str) -> Parameter:
        owner, _, name = target.rpartition(".")
        module = self.get_submodule(owner)
        if name not in module._parameters:
            raise AttributeError(f"{type(module).__name__} has no parameter {name!r}")
        return module._parameters[name]

    # ------------------------------------------------------------------ modes and hooks
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) here and below."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        """``train(False)``: Dropout is the identity, BatchNorm uses running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad`` (to ``None``, or to zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.zero_()

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every sub-module (children first) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a returned value replaces args."""
        return RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a returned value replaces
        the output."""
        return RemovableHandle(self._forward_hooks, hook)

    def register_load_state_dict_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` runs when ``load_state_dict`` reaches this module,
        before any key is matched; it may rename or convert this module's entries (those
        starting with ``prefix``) in ``state_dict``, a copy of the caller's. A message it adds
        to ``error_msgs`` fails the load."""
        if "_load_state_dict_pre_hooks" not in self.__dict__:
            self.__dict__["_load_state_dict_pre_hooks"] = []
        return RemovableHandle(self.__dict__["_load_state_dict_pre_hooks"], hook)

    def _register_load_state_dict_pre_hook(self, hook, with_module: bool = False):
        """PyTorch's older spelling: without ``with_module`` the hook is not given the module."""
        if with_module:
            return self.register_load_state_dict_pre_hook(hook)
        return self.register_load_state_dict_pre_hook(lambda module, *args: hook(*args))

    # ------------------------------------------------------------------ device and dtype
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> "Module":
        """Replace every parameter's and buffer's storage with ``fn(tensor)``, keeping the
        Parameter objects (so optimizers built before ``to()`` still hold them)."""
        for module in self.modules():
            for p in module._parameters.values():
                if p is None:
                    continue
                with grad_mode.no_grad():
                    new = fn(p)
                    p.data = new
                    if p.grad is not None:
                        p.grad = fn(p.grad)
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast parameters and buffers: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)``, ``to(memory_format=...)``. Only floating tensors change dtype,
        and only 4-D and 5-D ones take a memory format, as in PyTorch."""
        probe = empty(0)
        backend, dtype, _, memory_format = parse_to_args(probe, args, kwargs)
        rank, _ = CHANNELS_LAST_ORDER.get(memory_format, (None, None))
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got "
                            f"desired dtype={dtype}")

        def convert(t: Tensor) -> Tensor:
            out = t if backend is None else t.to(backend)
            if dtype is not None and t._dtype.is_floating_point:
                out = out.to(dtype)
            if rank is not None and out.ndim == rank:
                out = out.contiguous(memory_format=memory_format)
            return out.detach()
        return self._apply(convert)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, index: int | None = None) -> "Module":
        return self.to("cuda" if index is None else f"cuda:{index}")

    def float(self) -> "Module":
        return self.to(dtypes.float32)

    def double(self) -> "Module":
        return self.to(dtypes.float64)

    def half(self) -> "Module":
        return self.to(dtypes.float16)

    def bfloat16(self) -> "Module":
        return self.to(dtypes.bfloat16)

    # ------------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> dict:
        """Every parameter and persistent buffer by dotted name, detached (sharing storage)."""
        out = OrderedDict() if destination is None else destination
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            dot = f"{module_prefix}." if module_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s tensors into this module's parameters and buffers
        (materializing a lazy module's placeholders to the shapes loaded).

        A key whose shape or dtype differs raises, naming the key; with ``strict`` missing and
        unexpected keys raise too (otherwise they are returned). Each module's load pre-hooks
        (:meth:`register_load_state_dict_pre_hook`) first see a copy of ``state_dict``."""
        state_dict, errors = self._run_load_pre_hooks(state_dict, strict)
        own = self.state_dict(keep_vars=True)
        with grad_mode.no_grad():    # a lazy module's placeholders take the loaded shapes
            for key, target in own.items():
                value = state_dict.get(key)
                if is_lazy(target) and isinstance(value, Tensor) and not is_lazy(value):
                    target.materialize(value.shape)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                errors.append(f"for {key!r}: expected a Tensor, got {type(value).__name__}")
            elif tuple(value.shape) != tuple(target.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(value.shape)} from checkpoint, the shape in current "
                              f"model is {tuple(target.shape)}")
            elif value._dtype is not target._dtype:
                errors.append(f"dtype mismatch for {key}: the checkpoint has {value._dtype}, "
                              f"the model has {target._dtype}; convert one with .to(dtype)")
        if strict:
            if missing:
                errors.append(f"Missing key(s) in state_dict: {', '.join(map(repr, missing))}")
            if unexpected:
                errors.append(f"Unexpected key(s) in state_dict: "
                              f"{', '.join(map(repr, unexpected))}")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with grad_mode.no_grad():
            for key, target in own.items():
                if key in state_dict:
                    target.copy_(state_dict[key])
        return IncompatibleKeys(missing, unexpected)

    def _run_load_pre_hooks(self, state_dict: dict, strict: bool) -> tuple[dict, list]:
        """``state_dict`` as the modules' load pre-hooks leave it (a copy, when any module has
        one), and the error messages they added."""
        hooked = [(prefix, module) for prefix, module in self.named_modules()
                  if module.__dict__.get("_load_state_dict_pre_hooks")]
        errors: list[str] = []
        if not hooked:
            return state_dict, errors
        state_dict = OrderedDict(state_dict)
        for prefix, module in hooked:
            for hook in tuple(module._load_state_dict_pre_hooks):
                hook(module, state_dict, f"{prefix}." if prefix else "", {}, strict, [], [],
                     errors)
        return state_dict, errors

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """One line of this module's own settings, shown by ``repr`` (override it)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, module in self._modules.items():
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        if not self._modules:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


def _check_name(module: Module, name: str, what: str, table: dict) -> None:
    """PyTorch's rule: a name may be registered again in its own table (``None`` or a new
    value replaces the slot), but never over a plain attribute, a method or an entry of another
    table."""
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{what} name must be a non-empty string without '.', got {name!r}")
    if name not in table and hasattr(module, name):
        raise KeyError(f"attribute '{name}' already exists; register the {what} under another "
                       f"name, or register it before assigning a plain attribute '{name}'")
