"""Elementwise ops x declared dtypes x shape classes, contiguous and as views, and broadcasting."""

import itertools

import numpy as np
import pytest

import micrograd as mg

from micrograd_conformance import profile
from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.compare import assert_close
from micrograd_conformance.operands import LAYOUTS, broadcastable
from micrograd_conformance.opspecs import BINARY, ELEMENTWISE
from micrograd_conformance.oracle import LARGE_SHAPE, SHAPES, exact_values

# Pairs that broadcast against each other (numpy rules), including 0-d against n-d.
BROADCAST_PAIRS = [((3, 1), (1, 4)), ((5,), (2, 5)), ((), (3,)), ((2, 1, 3), (4, 1)),
                   ((4, 1, 17), (1, 33, 1)), ((0, 1), (1, 3))]
# One shape per class: 0-d, empty, a single element, a vector tail, a block.
QUICK_SHAPES = [(), (0,), (1,), (33,), (3, 5, 7)]
VIEW_SHAPE = (5, 33)
# The million-element input runs in these dtypes only: it is about grids and tiling, not types.
LARGE_DTYPES = (mg.float16, mg.float32, mg.int32)


@pytest.mark.conformance_specs(ELEMENTWISE)
def test_shape_classes(spec, dtype, backend, rng):
    for shape in profile.pick(SHAPES, QUICK_SHAPES):
        check(spec, dtype, inputs_for(spec, dtype, [shape] * spec.arity, rng), backend)


@pytest.mark.conformance_specs(ELEMENTWISE)
def test_views(spec, dtype, backend, rng):
    for layout in LAYOUTS[1:]:
        values = inputs_for(spec, dtype, [VIEW_SHAPE] * spec.arity, rng)
        if layout == "broadcast":
            values = [broadcastable(v) for v in values]
        # First operand as the view, the others contiguous, then all as views.
        if not profile.quick() or spec.arity == 1:
            check(spec, dtype, values, backend,
                  layouts=[layout] + ["contiguous"] * (spec.arity - 1))
        if spec.arity > 1:
            check(spec, dtype, values, backend, layouts=[layout] * spec.arity)


@pytest.mark.conformance_specs([s for s in ELEMENTWISE if s.arity >= 2])
def test_broadcasting(spec, dtype, backend, rng):
    for shapes in profile.pick(BROADCAST_PAIRS, BROADCAST_PAIRS[2:4]):
        shapes = list(shapes) + [shapes[-1]] * (spec.arity - 2)
        check(spec, dtype, inputs_for(spec, dtype, shapes, rng), backend)
        check(spec, dtype, inputs_for(spec, dtype, shapes[::-1], rng), backend)


@pytest.mark.conformance_dtypes(LARGE_DTYPES)
@pytest.mark.conformance_specs([s for s in ELEMENTWISE if s.large])
def test_large(spec, dtype, backend, rng):
    check(spec, dtype, inputs_for(spec, dtype, [LARGE_SHAPE] * spec.arity, rng), backend)


@pytest.mark.conformance_specs([s for s in ELEMENTWISE if s.arity == 2])
def test_scalar_operand(spec, dtype, backend, rng):
    # A Python scalar on the right: the core turns it into a 0-d operand of the tensor's dtype.
    a, b = inputs_for(spec, dtype, [(17,), ()], rng)
    scalar = b.item()
    if dtype.is_floating_point and dtype.name in ("float16", "bfloat16"):
        scalar = float(exact_values(b, dtype))
    x = mg.tensor(a, dtype=dtype, device=backend)
    with mg.no_grad():
        actual = spec.run(x, scalar)
    with np.errstate(all="ignore"):
        args = [exact_values(a, dtype), exact_values(b, dtype)]
        if dtype.is_floating_point:
            args = [np.asarray(v, np.float64) for v in args]
        expected = spec.oracle(*args)
        scale = spec.scale(*map(np.float64, args)) if spec.scale and dtype.is_floating_point \
            else None
    assert_close(actual, expected, backend=backend.name, op=spec.id, dtype=spec.out(dtype),
                 scale=scale, context=f"tensor (17,) with Python scalar {scalar!r}")


_PAIR_VALUES = {"b": ([1, 0, 1], [1, 1, 0]), "other": ([1, 2, 3], [3, 1, 2])}


@pytest.mark.parametrize("op", [s.id for s in BINARY])
def test_promotion_matrix(op, backend, torch_oracle):
    """Every pair of declared dtypes through every binary op: where PyTorch computes the pair,
    the result dtype and the values are PyTorch's. (Where PyTorch refuses a pair, micrograd may
    define it: the unsigned types promote beyond PyTorch's limited support.)"""
    torch = torch_oracle
    spec = next(s for s in BINARY if s.id == op)
    declared = backend.capabilities.dtypes
    wrong, checked = [], 0
    for a_dtype, b_dtype in itertools.product(declared, repeat=2):
        a, b = (_PAIR_VALUES["b" if d is mg.bool else "other"][i]
                for i, d in enumerate((a_dtype, b_dtype)))
        if "nonzero" in spec.domains and b_dtype is mg.bool:
            b = [1, 1, 1]
        try:
            want = spec.run(torch.tensor(a, dtype=getattr(torch, a_dtype.name)),
                            torch.tensor(b, dtype=getattr(torch, b_dtype.name)))
        except (NotImplementedError, TypeError, RuntimeError):
            continue                       # PyTorch has no kernel for this pair: no oracle
        ta, tb = (mg.tensor(v, dtype=d, device=backend) for v, d in ((a, a_dtype),
                                                                     (b, b_dtype)))
        pair = f"{a_dtype.name} {op} {b_dtype.name}"
        try:
            with mg.no_grad():
                got = spec.run(ta, tb)
        except (TypeError, RuntimeError) as exc:
            wrong.append(f"{pair} raised {type(exc).__name__}: {exc}; PyTorch gives "
                         f"{want.dtype}")
            continue
        result = mg.dtypes.dtype_from_name(str(want.dtype).rsplit(".", 1)[-1])
        if result not in declared:
            continue
        checked += 1
        try:
            assert_close(got, want.double().numpy() if result.is_floating_point else
                         want.numpy(), backend=backend.name, op=spec.op, dtype=result,
                         context=f"{pair} (operands {a} and {b})")
        except AssertionError as exc:
            wrong.append(str(exc))
    assert not wrong, f"{len(wrong)} of the dtype pairs differ from PyTorch:\n" + "\n".join(
        wrong[:12])
    assert checked, f"no dtype pair of {op} could be checked on {backend.name}"
