"""Device strings, PyTorch style: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"metal"``."""

from __future__ import annotations


class device:
    """Where a tensor lives: a device type and an index.

    >>> micrograd.device("cuda:1")
    device(type='cuda', index=1)
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: "str | device", index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:1', got {spec!r}")
        type_, sep, idx = spec.partition(":")
        if sep:
            if not idx.isdigit() or index is not None:
                raise ValueError(f"invalid device string {spec!r}; expected 'type' or 'type:N'")
            index = int(idx)
        if not type_ or not type_.replace("_", "").isalnum():
            raise ValueError(f"invalid device string {spec!r}; expected 'type' or 'type:N'")
        self.type, self.index = type_, index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"
