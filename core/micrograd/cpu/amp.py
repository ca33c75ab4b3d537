"""``torch.cpu.amp``: the older spellings of ``micrograd.amp`` with ``device_type="cpu"``."""

from ..amp._device_bound import device_bound

autocast, GradScaler = device_bound("cpu")
