"""Dropout, Dropout1d, Dropout2d and AlphaDropout."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the rest by
    1/(1-p); in eval mode, the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


class Dropout1d(Dropout):
    """During training, zero whole channels of (N, C, L) or (C, L) input with probability
    ``p`` and scale the rest by 1/(1-p)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """During training, zero whole channels (feature maps) of (N, C, H, W) or (C, H, W)
    input with probability ``p`` and scale the rest by 1/(1-p)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """Dropout that keeps the self-normalising property of SELU networks."""

    def forward(self, x: Tensor) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training)
