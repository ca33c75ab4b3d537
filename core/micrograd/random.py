"""Random numbers: ``Generator``, ``manual_seed``, ``rand``, ``randn``, ``randint``, ``randperm``.

Numbers are drawn on the host from numpy's PCG64 and copied to the device, so one seed gives the
same values on every backend (the conformance suite relies on this). The streams differ from
PyTorch's; seeds are not interchangeable with ``torch.manual_seed``.
"""

from __future__ import annotations

import numpy as np

from . import dtypes
from .autograd.grad_mode import no_grad
from .ops.creation import _size, tensor
from .ops.inplace import copy_
from .ops.sorting import check_tensor, searchsorted, topk
from .shape import INT64_MAX, as_dims
from .tensor import Tensor, surface


class Generator:
    """A seeded source of random numbers, like ``torch.Generator``.

    >>> g = micrograd.Generator().manual_seed(0)
    >>> micrograd.rand(3, generator=g)
    """

    def __init__(self, device=None):
        self.device = device
        self._seed = int(np.random.SeedSequence().entropy % (2 ** 63))
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        self.manual_seed(int(np.random.SeedSequence().entropy % (2 ** 63)))
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> "Generator":
        self._rng.bit_generator.state = state
        return self


default_generator = Generator().manual_seed(0x5EED)


@surface(method=False)
def manual_seed(seed: int) -> Generator:
    """Seed the default generator (and return it), like ``torch.manual_seed``."""
    return default_generator.manual_seed(seed)


@surface(method=False)
def seed() -> int:
    return default_generator.seed()


@surface(method=False)
def initial_seed() -> int:
    return default_generator.initial_seed()


def _rng(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator)._rng


def _float_dtype(dtype) -> dtypes.DType:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    if not target.is_floating_point:
        raise TypeError(f"expected a floating dtype for random floats, got {target}")
    return target


def _shape(size, dtype, what) -> tuple:
    return _size(size, dtype, what)


def _make(host: np.ndarray, dtype, device, requires_grad=False) -> Tensor:
    return tensor(host, dtype=dtype, device=device, requires_grad=requires_grad)


def _draw_floats(rng, kind: str, shape, dtype):
    host_dtype = np.float64 if dtype is dtypes.float64 else np.float32
    if kind == "uniform":
        return rng.random(shape, dtype=host_dtype)
    return rng.standard_normal(shape, dtype=host_dtype)


@surface(method=False)
def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples from [0, 1)."""
    target = _float_dtype(dtype)
    draws = _draw_floats(_rng(generator), "uniform", _shape(size, target, "rand"), target)
    return _make(draws, target, device, requires_grad)


@surface(method=False)
def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    target = _float_dtype(dtype)
    draws = _draw_floats(_rng(generator), "normal", _shape(size, target, "randn"), target)
    return _make(draws, target, device, requires_grad)


@surface(method=False)
def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Integers uniform in [low, high); ``randint(high, size)`` as in PyTorch."""
    if size is None and isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    low, high = as_dims((low, high), "randint", "low/high")
    if low < -INT64_MAX - 1 or high > INT64_MAX + 1:
        raise RuntimeError(f"randint(): the range [{low}, {high}) does not fit int64")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64
    shape = _shape((size,) if isinstance(size, int) else (tuple(size),), target, "randint")
    host = _rng(generator).integers(low, high, size=shape, dtype=np.int64)
    return _make(host, target, device)


@surface(method=False)
def randperm(n: int, *, generator=None, dtype=None, device=None) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64
    (n,) = _shape((n,), target, "randperm")
    return _make(_rng(generator).permutation(n).astype(np.int64), target, device)


@surface(method=False)
def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        return randn_like(like, generator=generator) * std + mean
    _check_std(std, "normal")
    return randn(*(size or ()), generator=generator, dtype=dtype, device=device) * std + mean


@surface(method=False)
def rand_like(x: Tensor, *, generator=None, dtype=None) -> Tensor:
    return rand(tuple(x.shape), generator=generator, dtype=dtype or x._dtype, device=x._backend)


@surface(method=False)
def randn_like(x: Tensor, *, generator=None, dtype=None) -> Tensor:
    return randn(tuple(x.shape), generator=generator, dtype=dtype or x._dtype, device=x._backend)


@surface(method=False)
def randint_like(x: Tensor, low, high=None, *, dtype=None) -> Tensor:
    return randint(low, high, tuple(x.shape), dtype=dtype or x._dtype, device=x._backend)


@surface(method=False)
def bernoulli(p: Tensor, *, generator=None) -> Tensor:
    """1 with probability ``p`` (elementwise), else 0; same dtype as ``p``."""
    draws = _rng(generator).random(tuple(p.shape))
    probabilities = p.detach()._host().astype(np.float64)
    if probabilities.size and not (probabilities.min() >= 0 and probabilities.max() <= 1):
        raise RuntimeError(f"bernoulli: Expected p_in >= 0 && p_in <= 1 to be true, but p holds "
                           f"values from {probabilities.min()} to {probabilities.max()}")
    host = (draws < probabilities).astype(np.float64)
    return _make(host, p._dtype, p._backend)


# ----------------------------------------------------------------- sampling

@surface()
def multinomial(weights: Tensor, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """``num_samples`` category indices per row of the non-negative ``weights`` (1-D or 2-D),
    drawn in proportion to the weights, with or without replacement.

    >>> micrograd.multinomial(micrograd.tensor([0., 1., 0.]), 2, replacement=True)
    tensor([1, 1])
    """
    check_tensor(weights, "multinomial")
    if weights.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): prob_dist must be 1 or 2 dim, got shape "
                           f"{tuple(weights.shape)}")
    if weights._dtype.kind != "f":
        raise RuntimeError(f"multinomial(): expected a floating point probability tensor, got "
                           f"{weights._dtype}; convert it with .float()")
    p = weights.detach() if weights.ndim == 2 else weights.detach().unsqueeze(0)
    rows, categories = p.shape
    if num_samples <= 0:
        raise RuntimeError(f"multinomial(): cannot sample {num_samples} <= 0 samples")
    if not replacement and num_samples > categories:
        raise RuntimeError(f"multinomial(): cannot sample n_sample > prob_dist.size(-1) "
                           f"samples without replacement ({num_samples} > {categories})")
    bad = (p < 0) | p.isnan() | p.isinf()
    if bool(bad.any().item()):
        raise RuntimeError("multinomial(): probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    positive = (p > 0).sum(1)
    if bool((positive == 0).any().item()):
        raise RuntimeError("multinomial(): invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
    if not replacement and bool((positive < num_samples).any().item()):
        raise RuntimeError(f"multinomial(): invalid multinomial distribution: a row has fewer "
                           f"than {num_samples} categories of nonzero weight, so that many "
                           f"cannot be drawn without replacement")
    p64 = p.to(dtypes.float64)
    if replacement:
        cdf = p64.cumsum(1)
        cdf = cdf / cdf[:, -1:]
        u = rand(rows, num_samples, generator=generator, dtype=dtypes.float64, device=p._backend)
        out = searchsorted(cdf, u, right=True).clamp(max=categories - 1)
    else:
        # An exponential race: category i finishes at E_i / p_i with E_i ~ Exp(1); the first
        # num_samples to finish are a draw without replacement in proportion to the weights.
        u = rand(rows, categories, generator=generator, dtype=dtypes.float64, device=p._backend)
        finish = (-(1 - u).log() / p64).masked_fill(p64 == 0, float("inf"))
        out = topk(finish, num_samples, 1, largest=False).indices
    return out if weights.ndim == 2 else out.squeeze(0)


# ----------------------------------------------------------------- in-place fills (nn.init)

@surface(function=False)
def uniform_(x: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    return fill_uniform_(x, a, b, generator)


@surface(function=False)
def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    return fill_normal_(x, mean, std, generator)


@surface(function=False)
def bernoulli_(x: Tensor, p=0.5, *, generator=None) -> Tensor:
    """1 with probability ``p`` (a number, or a tensor broadcast to ``x``), else 0."""
    if isinstance(p, Tensor):
        probabilities = np.broadcast_to(p.detach()._host().astype(np.float64), tuple(x.shape))
    else:
        probabilities = float(p)
    values = np.asarray(probabilities)
    if values.size and not (values.min() >= 0 and values.max() <= 1):    # nan fails too
        raise RuntimeError(f"bernoulli_: expected 0 <= p <= 1, but p holds values from "
                           f"{values.min()} to {values.max()}")
    return _fill(x, _rng(generator).random(tuple(x.shape)) < probabilities)


# The largest integer random_() draws by default: every integer up to it is exact in the dtype
# (2 ** mantissa bits for floats), else the dtype's maximum.
_RANDOM_TOP = {"float16": 2 ** 11, "bfloat16": 2 ** 8, "float32": 2 ** 24, "float64": 2 ** 53,
               "bool": 1}


@surface(function=False)
def random_(x: Tensor, *bounds, generator=None, **named) -> Tensor:
    """Integers drawn uniformly: ``random_(to)`` from [0, to), ``random_(from, to)`` from
    [from, to), ``random_()`` from [0, the dtype's largest exactly representable integer]."""
    if "from" in named:
        bounds = (named.pop("from"),) + bounds
    if "to" in named:
        bounds = bounds + (named.pop("to"),)
    if named:
        raise TypeError(f"random_() got unexpected keyword arguments {sorted(named)}")
    if len(bounds) > 2:
        raise TypeError(f"random_() takes at most 2 bounds (from, to), got {len(bounds)}")
    low, high = (0, None) if not bounds else (0, bounds[0]) if len(bounds) == 1 else bounds
    if high is None:
        top = _RANDOM_TOP.get(x._dtype.name)
        high = (top if top is not None else int(np.iinfo(x._dtype.numpy).max)) + 1
    if not low < high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return _fill(x, _rng(generator).integers(int(low), int(high), tuple(x.shape)))


@surface(function=False)
def exponential_(x: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill(x, _rng(generator).exponential(1.0 / lambd, tuple(x.shape)))


@surface(function=False)
def geometric_(x: Tensor, p: float, *, generator=None) -> Tensor:
    """The number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill(x, _rng(generator).geometric(p, tuple(x.shape)))


@surface(function=False)
def log_normal_(x: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """exp of normal draws with ``mean`` and ``std`` (those of the logarithm)."""
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill(x, _rng(generator).lognormal(mean, std, tuple(x.shape)))


@surface(function=False)
def cauchy_(x: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill(x, median + sigma * _rng(generator).standard_cauchy(tuple(x.shape)))


def fill_uniform_(x: Tensor, low: float, high: float, generator=None) -> Tensor:
    if not low <= high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} "
                           f"> to={high}")
    draws = _rng(generator).uniform(low, high, tuple(x.shape))
    return _fill(x, draws)


def fill_normal_(x: Tensor, mean: float, std: float, generator=None) -> Tensor:
    _check_std(std, "normal_")
    draws = _rng(generator).normal(mean, std, tuple(x.shape))
    return _fill(x, draws)


def _check_std(std, what: str) -> None:
    if not std >= 0:
        raise RuntimeError(f"{what} expects std >= 0.0, but found std {std}")


def _fill(x: Tensor, host: np.ndarray) -> Tensor:
    with no_grad():
        return copy_(x, _make(host, x._dtype, x._backend))
