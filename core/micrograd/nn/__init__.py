"""Neural-network building blocks with PyTorch's names and semantics: ``Module``,
``Parameter``, layers, losses, ``functional``, ``init`` and ``utils``.

>>> import micrograd.nn as nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> model(micrograd.ones(3, 4)).shape
micrograd.Size([3, 2])
"""

from . import functional, init, utils
from . import parallel
from .module import Module
from .modules import *  # noqa: F401,F403  (the layer classes, listed in modules.__all__)
from .modules import __all__ as _layer_names
from .parameter import Parameter, UninitializedBuffer, UninitializedParameter

__all__ = ["Module", "Parameter", "UninitializedBuffer", "UninitializedParameter", "functional",
           "init", "parallel", "utils", *_layer_names]
