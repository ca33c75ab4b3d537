"""Order: sorting and binary search, staged through the host.

Sorting and binary search have no sensible decomposition into elementwise primitives, so these
stage the array through the host: to_host, numpy, from_host. A backend whose arrays live
elsewhere offers the op to avoid the round trip.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from .dispatch import call_optional
from .spec import NUMERIC, optional_op


@optional_op(added_in=(1, 2), dtypes=NUMERIC)
def argsort(be, dt, x, axis, descending):
    """int64 indices ordering ``x`` along ``axis``; stable (ties keep their order), nan sorts
    as the largest value (last ascending, first descending).

    Decomposition: staged through the host: `to_host`, `numpy.argsort(kind="stable")`,
    `from_host`.
    """
    host = be.to_host(x)
    if descending:   # stable, ties in their original order, nan first (as PyTorch)
        flipped = np.flip(host, axis)
        order = np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis)
        order = host.shape[axis] - 1 - order
    else:            # stable, nan last
        order = np.argsort(host, axis=axis, kind="stable")
    return be.from_host(np.ascontiguousarray(order, dtype=np.int64), dtypes.int64)


@optional_op(added_in=(1, 6), dtypes=NUMERIC)
def topk(be, dt, x, k, axis, largest):
    """int64 indices of the ``k`` largest elements along ``axis`` (``largest=False``: the
    smallest), best first, in an array of x's shape with ``k`` along ``axis``
    (0 <= k <= x.shape[axis]). Ties keep their order along the axis and nan counts as the
    largest value: the result is the first ``k`` of ``argsort(x, axis, descending=largest)``.

    Decomposition: the first `k` of the optional argsort, a slice.
    """
    order = call_optional(be, "argsort", dt, x, axis, largest)
    key = tuple(slice(0, k if d == axis else n, 1) for d, n in enumerate(order.shape))
    return be.contiguous(be.slice(order, key))


@optional_op(added_in=(1, 2), dtypes=NUMERIC)
def searchsorted(be, dt, sorted_sequence, values, right):
    """int64 (B, K): per row of ``sorted_sequence`` (B, M), the insertion points of ``values``
    (B, K) into it, the first position whose element is >= the value (> with ``right``).

    Decomposition: staged through the host: `numpy.searchsorted` per row.
    """
    seq, vals = be.to_host(sorted_sequence), be.to_host(values)
    side = "right" if right else "left"
    out = np.stack([np.searchsorted(row, v, side=side) for row, v in zip(seq, vals)]) \
        if len(seq) else np.zeros(vals.shape, np.int64)
    return be.from_host(np.ascontiguousarray(out, dtype=np.int64), dtypes.int64)
