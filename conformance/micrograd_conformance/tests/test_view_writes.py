"""In-place writes through every kind of view, checked element by element in the base.

Reads through a view can be right while writes land in the wrong elements (a ``permute`` that
forgets to permute the strides gives right values and wrong writes), so every view kind meets
every writer: ``copy_``, index assignment, the in-place arithmetic that runs as ``binary_``,
and the other in-place Tensor methods. On ``views_share_memory=False`` backends the core writes
views back itself, so the same expectations hold there. The oracle is numpy on a float64 (or
exact integer) base, where each of these is a view exactly when it is one in PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.oracle import exact_values, random_values
from micrograd_conformance.tolerances import EXACT

BASE_SHAPE = (4, 6, 5)

# view kind -> (micrograd view of the base, numpy view of the base). Each is a view in PyTorch
# except flip, which copies: a write into a flipped tensor must never reach the base.
VIEWS = {
    "permute": (lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda t: t.transpose(0, 2)[1:3], lambda a: a.swapaxes(0, 2)[1:3]),
    "slice": (lambda t: t[1::2, ::3, 1:4], lambda a: a[1::2, ::3, 1:4]),
    "slice_of_permute": (lambda t: t.permute(1, 2, 0)[::2, 1:],
                         lambda a: a.transpose(1, 2, 0)[::2, 1:]),
    "permute_of_slice": (lambda t: t[:, 1:5:2].permute(1, 0, 2), lambda a: a[:, 1:5:2]
                         .transpose(1, 0, 2)),
    "select": (lambda t: t[2], lambda a: a[2]),
    "select_inner": (lambda t: t.select(2, 3), lambda a: a[:, :, 3]),
    "narrow": (lambda t: t.narrow(1, 2, 3), lambda a: a[:, 2:5]),
    "unbind": (lambda t: t.unbind(1)[4], lambda a: a[:, 4]),
    "chunk": (lambda t: t.chunk(2, 0)[1], lambda a: a[2:]),
    "reshape": (lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    "flatten": (lambda t: t.flatten(1), lambda a: a.reshape(4, 30)),
    "unflatten": (lambda t: t.unflatten(1, (2, 3)), lambda a: a.reshape(4, 2, 3, 5)),
    "view": (lambda t: t.view(24, 5), lambda a: a.reshape(24, 5)),
    "reshape_of_select": (lambda t: t[1].reshape(3, 10), lambda a: a[1].reshape(3, 10)),
    "unsqueeze_of_slice": (lambda t: t[:, ::2].unsqueeze(1), lambda a: a[:, None, ::2]),
    "squeeze": (lambda t: t[:, 2:3].squeeze(1), lambda a: a[:, 2]),
    "flip": (lambda t: t.flip(1), lambda a: np.flip(a, 1).copy()),
    "t_of_select": (lambda t: t[0].t(), lambda a: a[0].T),
}


def _writers(dtype, rng):
    """writer name -> (apply to a micrograd view, apply to a numpy view) for one dtype."""
    integral = not dtype.is_floating_point
    three = True if dtype is mg.bool else 3

    def patch(shape):
        return random_values(rng, dtype, shape)

    writers = {
        "copy_": (lambda v, p: v.copy_(mg.tensor(p, dtype=dtype, device=v._backend)),
                  lambda a, p: a.__setitem__(..., p)),
        "setitem": (lambda v, p: v.__setitem__(0, mg.tensor(p[0], dtype=dtype, device=v._backend)),
                    lambda a, p: a.__setitem__(0, p[0])),
        "setitem_scalar": (lambda v, p: v.__setitem__(-1, three),
                           lambda a, p: a.__setitem__(-1, three)),
        "fill_": (lambda v, p: v.fill_(three), lambda a, p: a.fill(three)),
        "zero_": (lambda v, p: v.zero_(), lambda a, p: a.fill(0)),
    }
    if dtype is not mg.bool:
        writers.update({
            "add_": (lambda v, p: v.add_(mg.tensor(p, dtype=dtype, device=v._backend)),
                     lambda a, p: np.add(a, p, out=a, casting="unsafe")),
            "mul_scalar": (lambda v, p: v.mul_(3), lambda a, p: np.multiply(a, 3, out=a,
                                                                           casting="unsafe")),
            "sub_broadcast": (lambda v, p: v.sub_(mg.tensor(p[..., :1], dtype=dtype,
                                                             device=v._backend)),
                              lambda a, p: np.subtract(a, p[..., :1], out=a, casting="unsafe")),
            "clamp_": (lambda v, p: v.clamp_(-1, 1), lambda a, p: np.clip(a, -1, 1, out=a)),
        })
    if not integral:
        writers["div_"] = (lambda v, p: v.div_(4), lambda a, p: np.divide(a, 4, out=a))
    return writers, patch


def _oracle_base(rng, dtype):
    values = exact_values(random_values(rng, dtype, BASE_SHAPE), dtype)
    return values.astype(np.float64) if dtype.is_floating_point else values.copy()


@pytest.mark.conformance_dtypes((mg.float32, mg.int32, mg.bool))
@pytest.mark.parametrize("op", list(VIEWS))
def test_writes_through_views_reach_the_base(op, dtype, backend, rng):
    make_view, numpy_view = VIEWS[op]
    writers, patch = _writers(dtype, rng)
    wrong = []
    for name, (write, numpy_write) in writers.items():
        start = _oracle_base(rng, dtype)
        base = mg.tensor(start, dtype=dtype, device=backend)
        view = make_view(base)
        values = exact_values(patch(tuple(view.shape)), dtype)
        expected = start.copy()
        target = numpy_view(expected)
        numpy_write(target, values)
        with mg.no_grad():
            write(view, values)
        try:
            assert_close(view, target, tol=EXACT, backend=backend.name, op=op,
                         context=f"{name} through {op}: the view itself")
            assert_close(base, expected, tol=EXACT, backend=backend.name, op=op,
                         context=f"{name} through {op}: the base, element by element")
        except AssertionError as exc:
            wrong.append(str(exc))
    assert not wrong, "\n".join(wrong)


@pytest.mark.conformance_op("views")
def test_primitive_writes_through_views(backend, rng):
    """The primitives themselves, on a backend whose views share memory: ``copy_``,
    ``setitem_`` and ``binary_`` into ``permute``/``slice`` views reach the base array."""
    if not backend.capabilities.views_share_memory:
        pytest.skip(f"{backend.name} declares views_share_memory=False: the core writes back")
    dtype = mg.float32
    start = random_values(rng, dtype, (3, 4))
    views = {
        "permute": (lambda a: backend.permute(a, (1, 0)), lambda a: a.T),
        "slice": (lambda a: backend.slice(a, (slice(0, 3, 2), slice(1, 4, 2))),
                  lambda a: a[0:3:2, 1:4:2]),
        "slice_of_permute": (lambda a: backend.slice(backend.permute(a, (1, 0)),
                                                     (slice(1, 4, 1), slice(0, 3, 2))),
                             lambda a: a.T[1:4, 0:3:2]),
    }
    wrong = []
    for kind, (view_of, numpy_view) in views.items():
        shape = numpy_view(start).shape
        value = random_values(rng, dtype, shape)
        writes = {
            "copy_": (lambda v: backend.copy_(v, _put(backend, value)),
                      lambda a: a.__setitem__(..., value)),
            "setitem_": (lambda v: backend.setitem_(v, (slice(0, 1, 1),) + tuple(
                slice(0, n, 1) for n in shape[1:]), _put(backend, value[:1])),
                lambda a: a.__setitem__(slice(0, 1), value[:1])),
        }
        if backend.offers("binary_"):
            writes["binary_"] = (lambda v: backend.binary_("add", v, v, _put(backend, value)),
                                 lambda a: np.add(a, value, out=a))
        for name, (write, numpy_write) in writes.items():
            base = _put(backend, start)
            write(view_of(base))
            expected = start.astype(np.float64)
            numpy_write(numpy_view(expected))
            try:
                assert_close(mg.Tensor._make(base, dtype, backend), expected, tol=EXACT,
                             backend=backend.name, op=f"{name} into {kind}",
                             context="primitive, the base array after the write")
            except AssertionError as exc:
                wrong.append(str(exc))
    assert not wrong, "\n".join(wrong)


def _put(backend, values):
    return backend.from_host(np.ascontiguousarray(values, dtype=np.float32), mg.float32)


def test_writes_into_broadcast_views_are_refused(backend):
    """Several elements of an expanded (stride-0) view are one memory location: PyTorch refuses
    in-place writes into it, and so must the core, whatever the backend does."""
    base = mg.zeros(3, 1, device=backend)
    view = base.expand(3, 4)
    with pytest.raises(RuntimeError, match="single memory location|expand"):
        view.add_(1)
    assert host(base).tolist() == [[0.0]] * 3


@pytest.mark.conformance_dtypes((mg.float32, mg.int64))
def test_overlapping_writes_read_the_source_first(dtype, backend):
    """A write whose source overlaps its destination (``x[1:].copy_(x[:-1])``) gives the
    answer of reading the whole source first, as if it were cloned; PyTorch refuses these, and
    a backend copying front to back in place would smear one value along the tensor."""
    start = np.arange(12).reshape(3, 4)
    cases = {
        "copy_": (lambda x: x[1:].copy_(x[:-1]), lambda a: a[1:].__setitem__(..., a[:-1].copy())),
        "setitem": (lambda x: x.__setitem__((slice(None), slice(1, None)), x[:, :-1]),
                    lambda a: a[:, 1:].__setitem__(..., a[:, :-1].copy())),
        "add_": (lambda x: x[:, 1:].add_(x[:, :-1]), lambda a: np.add(a[:, 1:], a[:, :-1].copy(),
                                                                    out=a[:, 1:])),
        "copy_ flipped": (lambda x: x[:, :3].copy_(x[:, 1:].flip(1)),
                             lambda a: a[:, :3].__setitem__(..., a[:, 1:][:, ::-1].copy())),
    }
    wrong = []
    for name, (write, numpy_write) in cases.items():
        x = mg.tensor(start, dtype=dtype, device=backend)
        with mg.no_grad():
            write(x)
        expected = start.copy()
        numpy_write(expected)
        try:
            assert_close(x, expected, tol=EXACT, backend=backend.name, op=name.split()[0],
                         context=f"{name} with overlapping source and destination")
        except AssertionError as exc:
            wrong.append(str(exc))
    assert not wrong, "\n".join(wrong)
