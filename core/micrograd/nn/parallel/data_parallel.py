"""``DataParallel`` on one device: it calls the module, as PyTorch's does without GPUs.

micrograd drives one device per process; for several devices or machines use
:class:`~micrograd.nn.parallel.DistributedDataParallel` with one process per device.
"""

from __future__ import annotations

from ..module import Module


class DataParallel(Module):
    """Wrap ``module``; ``DataParallel(m)(x)`` is ``m(x)``, and ``.module`` is ``m``.

    >>> model = DataParallel(Net())
    >>> model(x).shape == model.module(x).shape
    True
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel wraps a Module, got {type(module).__name__}")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError(f"DataParallel here runs on one device, got device_ids={device_ids}; "
                             f"for several devices start one process per device with "
                             f"`micrograd launch` and use DistributedDataParallel")
        self.module = module
        self.__dict__["device_ids"] = list(device_ids or [])
        self.__dict__["dim"] = dim

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
