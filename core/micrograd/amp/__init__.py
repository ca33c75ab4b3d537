"""``torch.amp``'s names: :class:`autocast` regions and the :class:`GradScaler`.

>>> scaler = micrograd.amp.GradScaler("cpu")
>>> with micrograd.amp.autocast("cpu", dtype=micrograd.bfloat16):
...     loss = loss_fn(model(x), y)
>>> scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
"""

from .autocast_mode import autocast, get_autocast_dtype, is_autocast_available, \
    is_autocast_enabled
from .grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_available",
           "is_autocast_enabled"]
