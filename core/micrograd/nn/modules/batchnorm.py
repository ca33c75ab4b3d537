"""PyTorch's module path ``torch.nn.modules.batchnorm``; the classes live in
:mod:`micrograd.nn.modules.normalization`."""

from .normalization import (
    BatchNorm1d, BatchNorm2d, BatchNorm3d, LazyBatchNorm1d, LazyBatchNorm2d,
    LazyBatchNorm3d,
)

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
           "LazyBatchNorm3d"]
