"""Fused elementwise kernels (contract 1.3, ``compile_elementwise``): a kernel must equal the
reference evaluation of its expression (``ir.evaluate``, op by op on this backend's own
primitives, which the rest of the suite holds to the float64 oracle) within the dtype's
tolerance: every op and dtype the backend declares, hypothesis-generated random expressions
with broadcast, non-contiguous, 0-d and empty inputs and runtime scalars, outputs written in
place over their inputs, one compile per key, and results that do not depend on the number of
threads. Skipped where the backend does not offer the hook.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import micrograd as mg
from micrograd import fusion
from micrograd.backend import BINARY_OPS, UNARY_OPS
from micrograd.fusion import ir
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.oracle import random_values
from micrograd_conformance.tolerances import tolerance

ADDED_IN = (1, 3)
# A kernel may keep intermediates in registers, and float16/bfloat16 may compute in float32:
# each op may then differ by about an ulp of the dtype from the op-by-op reference. The bound
# is per op of the expression, against the largest intermediate magnitude at that element
# (expressions are built so that no op amplifies an error by more than a small factor).
ULPS_PER_OP = 4.0
# Ops whose result jumps for a tiny change of the operand: they only ever read exact values
# (inputs, constants, integer results), so rounding differences upstream cannot flip them.
DISCONTINUOUS = {"sign", "floor", "ceil", "round", "trunc", "isnan", "floordiv", "mod", "eq",
                 "ne", "lt", "le", "gt", "ge"}


@pytest.fixture
def fuser(backend, conformance_target):
    """The backend's compile_elementwise, or a skip naming why there is none."""
    if not conformance_target.promises(ADDED_IN):
        pytest.skip(f"compile_elementwise came with contract 1.3; {conformance_target.name} "
                    f"declares {conformance_target.contract[0]}.{conformance_target.contract[1]}")
    if not backend.offers("compile_elementwise"):
        pytest.skip(f"{backend.name} does not offer compile_elementwise (the core evaluates "
                    f"expressions op by op)")
    return backend.compile_elementwise


# ------------------------------------------------------------------ helpers


def _put(backend, values, dtype):
    # np.array, not np.ascontiguousarray: that one makes a 0-d array 1-d.
    values = np.asarray(values)
    return backend.from_host(np.array(
        values.astype(np.float32) if dtype is mg.bfloat16 else values.astype(dtype.numpy),
        order="C"), dtype)


def _tensor(backend, array, dtype):
    return mg.Tensor._make(array, dtype, backend)


def _compare(backend, expr, got, want, scale, context):
    """Each fused output against the reference, within ULPS_PER_OP ulps per op of ``scale``."""
    assert len(got) == len(want) == len(expr.outputs), \
        f"backend {backend.name!r}: kernel returned {len(got)} outputs for {len(expr.outputs)}"
    ops = max(1, sum(1 for n in expr.nodes if not isinstance(n, (ir.Input, ir.Const, ir.Scalar))))
    for k, (g, w, node) in enumerate(zip(got, want, expr.outputs)):
        tol = tolerance(node.dtype).scaled(ULPS_PER_OP * ops)
        expected = host(_tensor(backend, w, node.dtype))
        assert_close(_tensor(backend, g, node.dtype),
                     expected.astype(np.float64) if node.dtype.is_floating_point else expected,
                     backend=backend.name, op="compile_elementwise", dtype=node.dtype, tol=tol,
                     scale=None if scale is None or not node.dtype.is_floating_point else scale,
                     context=f"{context}, output {k} of {expr.key[:300]}")


def _magnitude(backend, expr, inputs, scalars):
    """Elementwise, the largest magnitude any floating intermediate of ``expr`` reaches (what
    a rounding difference in a kernel is relative to)."""
    floating = [n for n in expr.nodes if n.dtype.is_floating_point]
    if not floating:
        return None
    probe = ir.Expr(expr.inputs, expr.scalars, tuple(floating), expr.shape)
    values = ir.evaluate(backend, probe, inputs, scalars)
    with np.errstate(all="ignore"):
        parts = [np.abs(host(_tensor(backend, v, n.dtype)).astype(np.float64))
                 for v, n in zip(values, floating)]
        return np.maximum.reduce([np.broadcast_to(p, expr.shape) for p in parts])


def _check(backend, fuser, expr, inputs, scalars=(), context=""):
    kernel = fuser(expr)
    if kernel is NotImplemented:
        return False
    want = ir.evaluate(backend, expr, inputs, scalars)
    got = kernel(inputs, scalars)
    for k, (array, node) in enumerate(zip(got, expr.outputs)):
        assert tuple(array.shape) == expr.shape, (
            f"backend {backend.name!r}: kernel output {k} has shape {tuple(array.shape)}, "
            f"expected {expr.shape} ({expr.key[:200]})")
    _compare(backend, expr, got, want, _magnitude(backend, expr, inputs, scalars), context)
    return True


def _declared(target, kinds="biuf"):
    return [d for d in target.dtypes if d.kind in kinds]


# ------------------------------------------------------------------ every op, every dtype

def _operand_domain(op):
    if op in ("log", "log1p", "sqrt", "pow"):
        return "positive"
    return "small"


@pytest.mark.conformance_op("compile_elementwise")
def test_every_op_fused_equals_its_evaluation(dtype, backend, fuser, rng, conformance_target):
    """One op per kernel, operands broadcast ((3, 1) against (4,)): a wrong op is named."""
    fused = declined = 0
    for op in UNARY_OPS + BINARY_OPS:
        if not ir.accepts(op, dtype):
            continue
        a_vals = random_values(rng, dtype, (3, 1), _operand_domain(op))
        b_vals = random_values(rng, dtype, (4,), "nonzero" if op in ("floordiv", "mod", "div")
                               else _operand_domain(op))
        if op == "pow" and dtype.kind in "iu":
            b_vals = np.minimum(np.abs(b_vals), 3).astype(b_vals.dtype)
        a, b = ir.Input(0, dtype, (3, 1)), ir.Input(1, dtype, (4,))
        node = ir.Unary(op, a) if op in UNARY_OPS else ir.Binary(op, a, b)
        inputs = [a, b] if op in BINARY_OPS else [a]
        expr = ir.Expr(tuple(inputs), (), (node,), (3, 4))
        arrays = [_put(backend, a_vals, dtype), _put(backend, b_vals, dtype)][:len(inputs)]
        if _check(backend, fuser, expr, arrays, context=f"op {op}"):
            fused += 1
        else:
            declined += 1
    x = ir.Input(0, dtype, (5,))
    # |x|: a float converts to every integer type defined (negative to unsigned is not).
    source = _put(backend, np.abs(random_values(rng, dtype, (5,), "small")), dtype)
    cond = x if dtype is mg.bool else x > ir.Const(1, dtype)
    outputs = (ir.where(cond, x, ir.Const(0, dtype)),) + tuple(
        ir.cast(x, other) for other in conformance_target.dtypes if other is not dtype)
    expr = ir.Expr((x,), (), outputs, (5,))
    fused += _check(backend, fuser, expr, [source], context="where, and casts to every dtype")
    assert fused, f"backend {backend.name!r} declines every {dtype.name} expression " \
                  f"({declined} declined); do not declare {dtype.name} then"


# ------------------------------------------------------------------ random expressions
# A random DAG over a few inputs, constants and scalars of one dtype (plus casts of an input of
# a second dtype). Domain-restricted ops get operands made safe the way the core's own
# decompositions do (log of |x| + 0.5, a divisor of |x| + 1, exp of tanh(x) * 2): errors stay
# within a few ulps per op, so a wrong op stands out by orders of magnitude.

_SAFE_UNARY = {
    "log": lambda x: ir.abs(x) + 0.5, "sqrt": lambda x: ir.abs(x) + 0.5,
    "log1p": lambda x: ir.abs(x), "exp": lambda x: ir.tanh(x) * 2.0,
    "expm1": lambda x: ir.tanh(x) * 2.0,
}


def _is_exact(node):
    return isinstance(node, (ir.Input, ir.Const, ir.Scalar)) or not node.dtype.is_floating_point


@st.composite
def expressions(draw, dtypes):
    """(expr, input values as numpy, scalar values, non-contiguous flags)."""
    dtype = draw(st.sampled_from(dtypes))
    shapes = draw(mutually_broadcastable_shapes(num_shapes=draw(st.integers(1, 3)), min_dims=0,
                                                max_dims=3, min_side=0, max_side=4))
    shape = tuple(shapes.result_shape)
    inputs = [ir.Input(i, dtype, tuple(s)) for i, s in enumerate(shapes.input_shapes)]
    # A float converts to an unsigned type only where it is non-negative: not from these.
    others = [d for d in dtypes if d is not dtype
              and not (d.is_floating_point and dtype.kind == "u")]
    if others and draw(st.booleans()):              # one operand of another dtype, cast in
        inputs.append(ir.Input(len(inputs), draw(st.sampled_from(others)),
                               tuple(draw(st.sampled_from(shapes.input_shapes)))))
    scalars = [ir.Scalar(i, dtype) for i in range(draw(st.integers(0, 2)))]
    pool = [ir.cast(x, dtype) if x.dtype is not dtype else x for x in inputs] + list(scalars)
    pool.append(ir.Const(draw(_values(dtype)), dtype))
    bools, made = [], []
    for _ in range(draw(st.integers(3, 12))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "where"]))
        if kind == "unary":
            op = draw(st.sampled_from([o for o in UNARY_OPS if ir.accepts(o, dtype)]))
            x = _recent(draw, _candidates(pool, op))
            node = ir.Unary(op, _SAFE_UNARY[op](x) if op in _SAFE_UNARY else x)
        elif kind == "binary":
            op = draw(st.sampled_from([o for o in BINARY_OPS if ir.accepts(o, dtype)]))
            a, b = (_recent(draw, _candidates(pool, op)) for _ in range(2))
            node = _safe_binary(op, a, b)
        else:
            if not bools:
                continue
            node = ir.where(_recent(draw, bools), _recent(draw, pool), _recent(draw, pool))
        (bools if node.dtype is mg.bool and dtype is not mg.bool else pool).append(node)
        made.append(node)
    # The last node made, and maybe one more: most of what was built is reachable.
    outputs = made[-1:] or pool[:1]
    if made and draw(st.booleans()):
        outputs.append(draw(st.sampled_from(made)))
    expr = ir.Expr(tuple(inputs), tuple(scalars), tuple(outputs), shape)
    values = [draw(_arrays(x.dtype, x.shape)) for x in inputs]
    scalar_values = [draw(_values(dtype)) for _ in scalars]
    strided = [draw(st.booleans()) for _ in inputs]
    return expr, values, scalar_values, strided


def _recent(draw, nodes):
    """One of ``nodes``, the most recent first as hypothesis simplifies (so chains grow deep)."""
    return nodes[-1 - draw(st.integers(0, len(nodes) - 1))]


def _candidates(pool, op):
    if op in DISCONTINUOUS:
        exact = [n for n in pool if _is_exact(n)]
        return exact or pool[:1]
    return pool


def _safe_binary(op, a, b):
    dtype = a.dtype
    if op in ("div", "atan2") and dtype.is_floating_point:
        b = ir.abs(b) + 1.0
    elif op in ("floordiv", "mod"):
        b = ir.abs(b) + 1 if dtype.is_floating_point or dtype.kind == "u" else \
            ir.where(ir.eq(b, 0), ir.Const(1, dtype), b)
    elif op == "pow":
        if dtype.is_floating_point:
            a, b = ir.abs(a) + 0.5, ir.tanh(b) * 2.0
        else:
            b = ir.bitwise_and(b, 3)
    return ir.Binary(op, a, b)


def _values(dtype):
    if dtype is mg.bool:
        return st.booleans()
    if dtype.is_floating_point:     # quarters: exact in every floating dtype, bfloat16 too
        return st.integers(-8, 8).map(lambda i: i / 4)
    info = np.iinfo(dtype.numpy)
    return st.integers(max(info.min, -9), min(info.max, 9))


@st.composite
def _arrays(draw, dtype, shape):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return random_values(np.random.default_rng(seed), dtype, shape, "small")


def _strided(backend, values, dtype, strided):
    """``values`` on the backend, as a non-contiguous view when ``strided``: a transposed view
    of the transposed values (2-d and up), or every other element of a twice longer array."""
    if not strided or values.ndim == 0 or values.size == 0:
        return _put(backend, values, dtype)
    if values.ndim >= 2:
        axes = tuple(reversed(range(values.ndim)))          # its own inverse
        return backend.permute(_put(backend, np.ascontiguousarray(values.transpose(axes)),
                                    dtype), axes)
    spread = np.repeat(values, 2)
    return backend.slice(_put(backend, spread, dtype), (slice(0, spread.size, 2),))


@pytest.mark.conformance_op("compile_elementwise")
@given(data=st.data())
def test_random_expressions_fused_equal_their_evaluation(backend, data, conformance_target):
    if not conformance_target.promises(ADDED_IN) or not backend.offers("compile_elementwise"):
        pytest.skip(f"{backend.name} does not offer compile_elementwise")
    expr, values, scalar_values, strided = data.draw(expressions(list(conformance_target.dtypes)))
    inputs = [_strided(backend, v, x.dtype, s)
              for v, x, s in zip(values, expr.inputs, strided)]
    for array, x in zip(inputs, expr.inputs):
        assert tuple(array.shape) == x.shape
    _check(backend, backend.compile_elementwise, expr, inputs, scalar_values,
           context="random expression")


# ------------------------------------------------------------------ in place, scalars, cache


@pytest.mark.conformance_op("compile_elementwise")
def test_outputs_written_over_their_inputs(dtype, backend, fuser, rng):
    """An optimizer-style update: out= the very arrays read (param, state), everything read
    before anything is written; ``out`` is what the kernel returns."""
    if not dtype.is_floating_point:
        pytest.skip("in-place updates are of floating state")
    shape = (7, 33)
    p, g, m = (ir.Input(i, dtype, shape) for i in range(3))
    lr, beta = ir.Scalar(0, dtype), ir.Scalar(1, dtype)
    new_m = m * beta + g
    expr = ir.Expr((p, g, m), (lr, beta), (p - new_m * lr, new_m, g * 0.5 + m), shape)
    kernel = fuser(expr)
    if kernel is NotImplemented:
        pytest.skip(f"{backend.name} declines this {dtype.name} expression")
    values = [random_values(rng, dtype, shape, "small") for _ in range(3)]
    scalars = [0.25, 0.875]
    want = ir.evaluate(backend, expr, [_put(backend, v, dtype) for v in values], scalars)
    param, grad, state = (_put(backend, v, dtype) for v in values)
    # outputs: param and state in place, the third into the gradient it also reads
    result = kernel([param, grad, state], scalars, [param, state, grad])
    assert result[0] is param and result[1] is state and result[2] is grad, \
        f"backend {backend.name!r}: a kernel given out= must return those arrays"
    _compare(backend, expr, [param, state, grad], want, None, "out= aliasing the inputs")


@pytest.mark.conformance_op("compile_elementwise")
def test_compiled_once_per_key_with_scalars_per_call(backend, fuser, conformance_target):
    dtype = next(iter(_declared(conformance_target, "f")), None) or \
        _declared(conformance_target)[0]
    fusion.clear_cache()
    fusion.reset_stats()
    x = _put(backend, random_values(np.random.default_rng(0), dtype, (9,), "small"), dtype)
    for step in range(4):
        node, s = ir.Input(0, dtype, (9,)), ir.Scalar(0, dtype)
        expr = ir.Expr((node,), (s,), (node * s + s,), (9,))        # rebuilt each call
        (got,) = fusion.run(backend, expr, [x], [step + 1])
        want = ir.evaluate(backend, expr, [x], [step + 1])
        _compare(backend, expr, [got], want, None, f"scalar value {step + 1}")
    stats = fusion.stats()
    declined = stats["evaluations"] == 4
    assert stats["compiles"] == 1 and (stats["hits"] == 3 or declined), (
        f"backend {backend.name!r}: one expression with a changing scalar compiled "
        f"{stats['compiles']} times ({stats}); scalars must not be part of a kernel")


@pytest.mark.conformance_op("compile_elementwise")
def test_zero_dim_and_empty_expressions(dtype, backend, fuser, rng):
    for shape in ((), (0,), (3, 0), (0, 1)):
        x = ir.Input(0, dtype, shape)
        c = ir.Input(1, dtype, ())
        node = x * c if dtype.kind != "b" else ir.logical_and(x, c)
        expr = ir.Expr((x, c), (), (node,), shape)
        _check(backend, fuser, expr, [_put(backend, random_values(rng, dtype, shape), dtype),
                                      _put(backend, random_values(rng, dtype, ()), dtype)],
               context=f"shape {shape}")


def _thread_control(backend):
    """(get, set) of the backend's thread count, where it has one (a ``set_num_threads`` on
    the backend, its module, or the module's ``_core`` extension), else None."""
    module = sys.modules.get(type(backend).__module__)
    for owner in (backend, module, getattr(module, "_core", None)):
        setter = getattr(owner, "set_num_threads", None)
        getter = getattr(owner, "num_threads", None) or getattr(owner, "get_num_threads", None)
        if callable(setter) and callable(getter):
            return getter, setter
    return None


@pytest.mark.conformance_op("compile_elementwise")
def test_results_do_not_depend_on_the_thread_count(backend, fuser, conformance_target):
    control = _thread_control(backend)
    if control is None:
        pytest.skip(f"{backend.name} has no thread count to vary")
    get, set_threads = control
    dtype = next(iter(_declared(conformance_target, "f")), None)
    if dtype is None:
        pytest.skip("no floating dtype declared")
    shape = (257, 1031)                    # big enough to be split, odd-sized tiles
    x, y = ir.Input(0, dtype, shape), ir.Input(1, dtype, (1031,))
    expr = ir.Expr((x, y), (), (ir.tanh(x * y + 1.0) * ir.exp(ir.sin(x)), x > y), shape)
    kernel = fuser(expr)
    if kernel is NotImplemented:
        pytest.skip(f"{backend.name} declines this expression")
    rng = np.random.default_rng(1)
    inputs = [_put(backend, random_values(rng, dtype, s, "small"), dtype) for s in (shape, (1031,))]
    before = get()
    results = []
    try:
        for threads in (1, max(2, before)):
            set_threads(threads)
            results.append([host(_tensor(backend, a, n.dtype)) for a, n in
                            zip(kernel(inputs, ()), expr.outputs)])
    finally:
        set_threads(before)
    for k, (one, many) in enumerate(zip(*results)):
        assert np.array_equal(one, many, equal_nan=True), (
            f"backend {backend.name!r}: compile_elementwise output {k} differs between 1 and "
            f"{max(2, before)} threads at {int((one != many).sum())} elements")
