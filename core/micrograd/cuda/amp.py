"""``torch.cuda.amp``: the older spellings of ``micrograd.amp`` with ``device_type="cuda"``."""

from ..amp._device_bound import device_bound

autocast, GradScaler = device_bound("cuda")
