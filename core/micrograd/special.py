"""``micrograd.special``: PyTorch's ``torch.special`` names for the special functions micrograd
has, most of them the top-level ops under another name, plus the few that are one line from
them (``ndtr``, ``ndtri``, ``entr``, ``xlog1py``).

>>> import micrograd.special
>>> micrograd.special.expit(micrograd.tensor([0.0]))
tensor([0.5000])
"""

from __future__ import annotations

import math

from .ops.activation import sigmoid as expit
from .ops.composite import exp2, logit, xlogy
from .ops.elementwise import sinc
from .ops.reduction import log_softmax, logsumexp, softmax
from .ops.special_functions import digamma, erfc, erfinv, lgamma as gammaln
from .ops.unary import erf, expm1, log1p, round
from .ops.where import where
from .tensor import Tensor

psi = digamma

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln",
           "log1p", "log_softmax", "logit", "logsumexp", "ndtr", "ndtri", "psi", "round",
           "sinc", "softmax", "xlog1py", "xlogy"]


def ndtr(x: Tensor) -> Tensor:
    """The standard normal distribution function, ``erfc(-x / sqrt(2)) / 2`` (accurate in the
    lower tail, where ``(1 + erf(x / sqrt(2))) / 2`` would cancel)."""
    return erfc(-x / math.sqrt(2)) / 2


def ndtri(p: Tensor) -> Tensor:
    """The inverse of :func:`ndtr`, ``sqrt(2) * erfinv(2p - 1)``: -inf at 0, inf at 1. Forming
    ``2p - 1`` costs relative accuracy for ``p`` within about 1e-6 of 0."""
    return erfinv(2 * p - 1) * math.sqrt(2)


def entr(x: Tensor) -> Tensor:
    """The elementwise entropy ``-x log x``: 0 at 0, -inf below it. Its gradient at 0 is 0
    (the log is taken at a safe point there), where PyTorch's is the one-sided limit, inf."""
    positive = x > 0
    safe = where(positive, x, 1.0)
    outside = where(x == 0, 0.0, -math.inf)
    return where(positive, -safe * safe.log(), where(x.isnan(), x, outside))


def xlog1py(x: Tensor, y) -> Tensor:
    """``x * log1p(y)``, 0 where ``x`` is 0 (unless ``y`` is nan)."""
    y = y if isinstance(y, Tensor) else x.new_tensor(y)
    safe = where(x == 0, 0.0, y)
    out = where(x == 0, 0.0, x * log1p(safe))
    return where(y.isnan(), math.nan, out)
