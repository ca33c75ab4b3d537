"""``torch.backends.cuda``: flags PyTorch programs set for CUDA matmuls.

``matmul.allow_tf32`` and the reduced-precision flags are accepted and read back, but change
nothing: micrograd's CUDA backend computes float32 matmuls in float32 (cuBLAS's default math
mode) whatever they say. Use ``micrograd.autocast`` for reduced-precision matmuls.

>>> micrograd.backends.cuda.matmul.allow_tf32 = True
"""

from __future__ import annotations

from ._flags import Flags

matmul = Flags("micrograd.backends.cuda.matmul", allow_tf32=False,
               allow_fp16_reduced_precision_reduction=True,
               allow_bf16_reduced_precision_reduction=True)


_PRECISIONS = ("highest", "high", "medium")


def set_float32_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: accepted and read back, changes nothing (float32
    matmuls stay float32); like PyTorch, ``"high"``/``"medium"`` set ``matmul.allow_tf32``."""
    if precision not in _PRECISIONS:
        raise RuntimeError(f"Invalid precision {precision!r}; expected one of "
                           f"{', '.join(_PRECISIONS)}")
    _precision[0] = precision
    matmul.allow_tf32 = precision != "highest"


def get_float32_matmul_precision() -> str:
    """The precision last set, as ``matmul.allow_tf32`` has since left it."""
    if matmul.allow_tf32 == (_precision[0] != "highest"):
        return _precision[0]
    return "high" if matmul.allow_tf32 else "highest"


_precision = ["highest"]


def is_built() -> bool:
    """Whether a backend serving device type ``cuda`` is installed (it may still be
    unavailable on this machine; see ``micrograd.cuda.is_available()``)."""
    from ..registry import registry
    registry.load()
    return any(spec.device_type == "cuda" for spec in registry.specs.values())
