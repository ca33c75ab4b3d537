"""The ``Distribution`` base class and the helpers every distribution shares: parameters
broadcast to one batch shape, validation with torch's messages, and probabilities <-> logits.

A distribution's numbers are composed of differentiable micrograd ops, so ``log_prob``,
``entropy`` and ``rsample`` carry gradients back to the parameters on every backend.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..ops.creation import tensor
from ..ops.movement import broadcast_tensors
from ..tensor import Size, Tensor

__all__ = ["Distribution"]


class lazy_property:
    """A value computed on first access and then kept in the instance's ``__dict__`` (so a
    distribution given ``logits`` makes ``probs`` only when asked, and validation skips it)."""

    def __init__(self, method):
        self.method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = self.method(instance)
        instance.__dict__[self.method.__name__] = value
        return value


def broadcast_all(*values):
    """Tensors of one broadcast shape from tensors and numbers; numbers take the dtype and
    device of the tensors given (the default dtype where there are none)."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = like.dtype if like is not None else dtypes.get_default_dtype()
    device = like._backend if like is not None else None
    for v in values:
        if not isinstance(v, (Tensor, numbers.Number)):
            raise ValueError(f"Input arguments must all be instances of numbers.Number or "
                             f"Tensor, got {type(v).__name__}")
    as_tensors = [v if isinstance(v, Tensor) else tensor(float(v), dtype=dtype, device=device)
                  for v in values]
    return broadcast_tensors(*as_tensors)


def finfo(dtype):
    return np.finfo(dtype.numpy)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities kept a machine epsilon inside (0, 1), so their logarithms stay finite."""
    eps = float(finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    clamped = clamp_probs(probs)
    return clamped.log() - (-clamped).log1p() if is_binary else clamped.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def _shown(value) -> str:
    """How torch's messages show a parameter: a 0-d tensor as its number."""
    if isinstance(value, Tensor) and value.ndim == 0:
        return str(value.detach().item())
    return str(value)


class Distribution:
    """A probability distribution over values of shape ``batch_shape + event_shape``.

    >>> from micrograd.distributions import Normal
    >>> Normal(0.0, 1.0).log_prob(micrograd.tensor(0.0))
    tensor(-0.9189)
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__         # torch validates by default too

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects True or False, got {value!r}")
        Distribution._validate_args = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = Size(batch_shape)
        self._event_shape = Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if not self._validate_args:
            return
        for name, constraint in self.arg_constraints.items():
            if isinstance(type(self).__dict__.get(name), lazy_property) \
                    and name not in self.__dict__:
                continue                  # derived from the parameter that was given
            value = getattr(self, name)
            if not bool(constraint.check(value).all().item()):
                raise ValueError(f"Expected parameter {name} ({type(value).__name__} of shape "
                                 f"{tuple(value.shape)}) of distribution {self!r} to satisfy "
                                 f"the constraint {constraint!r}, but found invalid values:\n"
                                 f"{_shown(value)}")

    # ------------------------------------------------------------ shapes

    @property
    def batch_shape(self) -> Size:
        return self._batch_shape

    @property
    def event_shape(self) -> Size:
        return self._event_shape

    @property
    def arg_constraints(self) -> dict:
        return {}

    @property
    def support(self):
        raise NotImplementedError(f"{type(self).__name__} does not declare its support")

    def _extended_shape(self, sample_shape=()) -> Size:
        return Size(tuple(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape))

    def expand(self, batch_shape, _instance=None):
        """The same distribution repeated over a larger ``batch_shape`` (parameters expanded,
        not copied)."""
        batch_shape = Size(batch_shape)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        kept = len(self._batch_shape)
        for name in self.arg_constraints:
            value = self.__dict__.get(name)
            if isinstance(value, Tensor):
                new.__dict__[name] = value.expand(tuple(batch_shape) + tuple(value.shape[kept:]))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    # ------------------------------------------------------------ moments

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    # ------------------------------------------------------------ draws and densities

    def sample(self, sample_shape=()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape + event_shape``, without gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sampler "
                                  f"(has_rsample is False); use sample()")

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no log_prob")

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no cdf")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no icdf")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no entropy")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its support")

    def _validate_sample(self, value) -> None:
        """torch's checks of a ``log_prob`` argument: a Tensor, its event dims, broadcastable
        with the batch, and inside the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_start = value.ndim - len(self._event_shape)
        if tuple(value.shape[event_start:]) != tuple(self._event_shape):
            raise ValueError(f"The right-most size of value must match event_shape: "
                             f"{value.shape} vs {self._event_shape}.")
        expected = self._extended_shape()
        for have, want in zip(reversed(tuple(value.shape)), reversed(tuple(expected))):
            if have != 1 and want != 1 and have != want:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{value.shape} vs {expected}.")
        support = self.support
        if not bool(support.check(value).all().item()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape "
                             f"{tuple(value.shape)}) to be within the support ({support!r}) of "
                             f"the distribution {self!r}, but found invalid values:\n"
                             f"{_shown(value)}")

    def __repr__(self) -> str:
        names = [name for name in self.arg_constraints if name in self.__dict__]
        shown = ", ".join(f"{name}: " + (_shown(self.__dict__[name])
                                         if self.__dict__[name].numel() == 1
                                         else str(self.__dict__[name].shape))
                          for name in names)
        return f"{type(self).__name__}({shown})"

