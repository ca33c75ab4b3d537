"""``default_collate``: a list of samples becomes one batch, field by field."""

from __future__ import annotations

import numbers

import numpy as np

from ...ops.creation import tensor
from ...ops.movement import stack
from ...tensor import Tensor


def default_collate(batch: list):
    """Stack a list of samples: tensors are stacked, numbers become a tensor, and tuples,
    lists and dicts are collated field by field.

    >>> default_collate([(micrograd.ones(2), 0), (micrograd.zeros(2), 1)])
    [tensor([[1., 1.], [0., 0.]]), tensor([0, 1])]
    """
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, (bool, numbers.Number)):
        return tensor(batch)
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(group)) for group in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: batch must contain tensors, numbers, numpy arrays, "
                    f"dicts or sequences; found {type(first).__name__}")


def default_convert(data):
    """What the loader does without batching: numpy arrays become tensors, the rest stays."""
    if isinstance(data, np.ndarray):
        return tensor(data)
    if isinstance(data, dict):
        return {k: default_convert(v) for k, v in data.items()}
    if type(data) in (list, tuple):
        return type(data)(default_convert(v) for v in data)
    return data
