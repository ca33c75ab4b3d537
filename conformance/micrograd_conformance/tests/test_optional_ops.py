"""Every optional fast op a backend offers, against the core's own decomposition of it on the
same backend, for every dtype its declaration allows and the backend declares and every option
it takes (nesterov, dampening, amsgrad, maximize, weight decay, strides, groups, ignore_index...),
comparing everything observable: the results and every array the op may write in place. Calls
go through the core's dispatch, so a case the backend declines (returns ``NotImplemented``) is
checked too: it must leave its arguments untouched for the decomposition that then runs. And
proof that each offered op really runs natively, and takes the parameters its declaration does.

Training end to end would hide a fused step that ignores one option (amsgrad's running max,
dampening): only the configurations it trains with are exercised. Here each one is.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass

import numpy as np
import pytest

import micrograd as mg
from micrograd.decompositions import OPTIONAL_OPS, call_optional, counts
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.oracle import random_values
from micrograd_conformance.tolerances import EXACT, tolerance

FLOATS = (mg.float16, mg.bfloat16, mg.float32, mg.float64)
ARITHMETIC = ("add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum", "minimum",
              "atan2", "bitwise_and", "bitwise_or", "bitwise_xor")


def _put(backend, values, dtype):
    return mg.tensor(values, dtype=dtype, device=backend)._data


def _sgd_cases(backend, dtype, rng):
    grid = itertools.product((0.0, 0.9), (0.0, 0.3), (False, True), (0.0, 0.1), (False, True),
                             (False, True))
    for momentum, dampening, nesterov, weight_decay, maximize, first_step in grid:
        if nesterov and (not momentum or dampening) or (first_step and not momentum):
            continue
        values = [random_values(rng, dtype, (3, 7)) for _ in range(3)]
        options = dict(lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov,
                       weight_decay=weight_decay, maximize=maximize, first_step=first_step)

        def make(values=values, momentum=momentum):
            p, g, buf = (_put(backend, v, dtype) for v in values)
            return (p, g, buf if momentum else None), {}
        yield str(options), make, options


def _adam_cases(backend, dtype, rng):
    grid = itertools.product((0.0, 0.1), (False, True), (False, True), (False, True), (1, 4))
    for weight_decay, decoupled, amsgrad, maximize, step in grid:
        if decoupled and not weight_decay:
            continue
        p, g, m = (random_values(rng, dtype, (3, 7)) for _ in range(3))
        v = np.abs(random_values(rng, dtype, (3, 7)))
        # A running max above the new second moment in some places, below it in others.
        vmax = v * rng.choice([0.5, 4.0], size=v.shape)
        options = dict(step=step, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-3,
                       weight_decay=weight_decay, decoupled_weight_decay=decoupled,
                       amsgrad=amsgrad, maximize=maximize)

        def make(arrays=(p, g, m, v, vmax), amsgrad=amsgrad):
            p_, g_, m_, v_, vmax_ = (_put(backend, a, dtype) for a in arrays)
            return (p_, g_, m_, v_, vmax_ if amsgrad else None), {}
        yield str(options), make, options


def _unary_cases(op, **option_grid):
    def cases(backend, dtype, rng):
        x = random_values(rng, dtype, (4, 33)) * 4
        x.reshape(-1)[:3] = [0.0, -0.0, 30.0]
        keys = list(option_grid)
        for values in itertools.product(*option_grid.values()):
            options = dict(zip(keys, values))
            yield str(options), (lambda: ((_put(backend, x, dtype),), {})), options
    return cases


def _axis_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (3, 5, 7)) * 3
    for axis in (0, 1, 2):
        yield f"axis={axis}", (lambda: ((_put(backend, x, dtype), axis), {})), {}


def _softmax_backward_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (3, 5, 7)) * 3
    gy = random_values(rng, dtype, x.shape)
    for axis in (0, 1, 2):
        y = host(mg.Tensor._make(OPTIONAL_OPS["softmax"].decompose(
            backend, dtype, _put(backend, x, dtype), axis), dtype, backend))
        yield (f"axis={axis}", (lambda y=y, axis=axis: ((_put(backend, gy, dtype),
                                                        _put(backend, y, dtype), axis), {})), {})


def _cross_entropy_cases(backend, dtype, rng):
    logits = random_values(rng, dtype, (6, 5)) * 3
    target = np.array([0, 4, 2, 2, 1, 3])
    for ignore_index in (-100, 2):
        yield (f"ignore_index={ignore_index}",
               lambda: ((_put(backend, logits, dtype), _put(backend, target, mg.int64),
                         ignore_index), {}), {})


_CONV_GEOMETRIES = [  # (in channels, out channels, groups, stride, padding, dilation)
    (3, 4, 1, (1, 1), (0, 0), (1, 1)), (4, 6, 2, (2, 1), (1, 2), (1, 1)),
    (3, 2, 1, (1, 2), (1, 0), (2, 1)), (4, 4, 4, (1, 1), (1, 1), (1, 2)),
]


def _conv_cases(backward):
    def cases(backend, dtype, rng):
        for c, o, groups, stride, padding, dilation in _CONV_GEOMETRIES:
            x = random_values(rng, dtype, (2, c, 7, 6))
            w = random_values(rng, dtype, (o, c // groups, 3, 2))
            geometry = (stride, padding, dilation, groups)
            if backward:
                out = OPTIONAL_OPS["conv2d"].decompose(
                    backend, dtype, _put(backend, x, dtype), _put(backend, w, dtype), *geometry)
                gy = random_values(rng, dtype, tuple(out.shape))
                make = (lambda x=x, w=w, gy=gy, geometry=geometry:
                        ((_put(backend, gy, dtype), _put(backend, x, dtype),
                          _put(backend, w, dtype), *geometry), {}))
            else:
                make = (lambda x=x, w=w, geometry=geometry:
                        ((_put(backend, x, dtype), _put(backend, w, dtype), *geometry), {}))
            yield str(geometry), make, {}
    return cases


_POOL_GEOMETRIES = [((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 2), (1, 2), (1, 1), (1, 1)),
                    ((2, 3), (2, 1), (1, 1), (2, 1))]   # kernel, stride, padding, dilation


_CONV_TRANSPOSE_GEOMETRIES = [  # (in, out, groups, stride, padding, output_padding, dilation)
    (3, 4, 1, (1, 1), (0, 0), (0, 0), (1, 1)), (4, 6, 2, (2, 1), (1, 0), (1, 0), (1, 1)),
    (2, 3, 1, (2, 2), (1, 1), (0, 1), (1, 2)),
]


def _conv_transpose_cases(backward):
    def cases(backend, dtype, rng):
        for c, o, groups, stride, padding, output_padding, dilation in \
                _CONV_TRANSPOSE_GEOMETRIES:
            x = random_values(rng, dtype, (2, c, 5, 4))
            w = random_values(rng, dtype, (c, o // groups, 3, 2))
            geometry = (stride, padding, output_padding, dilation, groups)
            args = [x, w]
            if backward:
                out = OPTIONAL_OPS["conv_transpose2d"].decompose(
                    backend, dtype, _put(backend, x, dtype), _put(backend, w, dtype), *geometry)
                args.insert(0, random_values(rng, dtype, tuple(out.shape)))
            make = (lambda args=args, geometry=geometry:
                    (tuple(_put(backend, a, dtype) for a in args) + geometry, {}))
            yield str(geometry), make, {}
    return cases


def _argsort_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (4, 9))
    x[:, ::3] = x[:, :1]                     # ties: a stable sort keeps their order
    for axis, descending in itertools.product((0, 1), (False, True)):
        yield (f"axis={axis} descending={descending}",
               lambda axis=axis, d=descending: ((_put(backend, x, dtype), axis, d), {}), {})


def _topk_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (4, 40))
    x[:, ::3] = x[:, :1]                     # ties: they keep their order
    if dtype.is_floating_point:
        x[1, [5, 17, 30]] = np.nan           # nan counts as the largest value
    for axis, k, largest in itertools.product((0, 1), (0, 1, 3, 20), (False, True)):
        if k > x.shape[axis]:
            continue
        yield (f"axis={axis} k={k} largest={largest}",
               lambda axis=axis, k=k, largest=largest: ((_put(backend, x, dtype), k, axis,
                                                         largest), {}), {})


def _searchsorted_cases(backend, dtype, rng):
    seq = np.sort(random_values(rng, dtype, (3, 8)), axis=1)
    values = np.concatenate([random_values(rng, dtype, (3, 5)), seq[:, 2:4]], axis=1)
    for right in (False, True):
        yield (f"right={right}", lambda right=right: (
            (_put(backend, seq, dtype), _put(backend, values, dtype), right), {}), {})


def _max_pool_cases(backward):
    def cases(backend, dtype, rng):
        for kernel, stride, padding, dilation in _POOL_GEOMETRIES:
            x = rng.permutation(2 * 3 * 7 * 8).reshape(2, 3, 7, 8) / 8.0 - 20   # no ties
            geometry = (kernel, stride, padding, dilation)
            if backward:
                y, idx = OPTIONAL_OPS["max_pool2d"].decompose(
                    backend, dtype, _put(backend, x, dtype), *geometry)
                gy, idx = random_values(rng, dtype, tuple(y.shape)), host(
                    mg.Tensor._make(idx, mg.int64, backend))
                make = (lambda gy=gy, idx=idx: ((_put(backend, gy, dtype),
                                                 _put(backend, idx, mg.int64), (2, 3, 7, 8)), {}))
            else:
                make = lambda x=x, geometry=geometry: ((_put(backend, x, dtype), *geometry), {})
            yield str(geometry), make, {}
    return cases


def _avg_pool_cases(backward):
    def cases(backend, dtype, rng):
        for (kernel, stride, padding, _), include in itertools.product(_POOL_GEOMETRIES,
                                                                       (False, True)):
            padding = tuple(min(p, k // 2) for p, k in zip(padding, kernel))
            geometry = (kernel, stride, padding, include)
            x = random_values(rng, dtype, (2, 3, 7, 8))
            if backward:
                y = OPTIONAL_OPS["avg_pool2d"].decompose(backend, dtype,
                                                         _put(backend, x, dtype), *geometry)
                gy = random_values(rng, dtype, tuple(y.shape))
                make = (lambda gy=gy, geometry=geometry:
                        ((_put(backend, gy, dtype), (2, 3, 7, 8), *geometry), {}))
            else:
                make = lambda x=x, geometry=geometry: ((_put(backend, x, dtype), *geometry), {})
            yield str(geometry), make, {}
    return cases


def _batch_norm_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (4, 3, 5, 2)) * 2 + 1
    weight, bias = random_values(rng, dtype, (3,)), random_values(rng, dtype, (3,))
    mean, var = random_values(rng, dtype, (3,)), np.abs(random_values(rng, dtype, (3,))) + 0.5
    for affine, running, training in itertools.product((False, True), repeat=3):
        if not (running or training):
            continue            # inference needs running statistics

        def make(affine=affine, running=running, training=training):
            opt = (lambda v: _put(backend, v, dtype) if affine else None)
            stat = (lambda v: _put(backend, v, dtype) if running else None)
            return (_put(backend, x, dtype), opt(weight), opt(bias), stat(mean), stat(var),
                    training, 0.1, 1e-5), {}
        yield f"affine={affine} running={running} training={training}", make, {}


def _batch_norm_backward_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (4, 3, 5, 2)) * 2 + 1
    gy, weight = random_values(rng, dtype, x.shape), random_values(rng, dtype, (3,))
    mean = x.mean(axis=(0, 2, 3))
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3)) + 1e-5)
    for affine, training in itertools.product((False, True), repeat=2):
        def make(affine=affine, training=training):
            return (_put(backend, gy, dtype), _put(backend, x, dtype),
                    _put(backend, weight, dtype) if affine else None, _put(backend, mean, dtype),
                    _put(backend, invstd, dtype), training), {}
        yield f"affine={affine} training={training}", make, {}


def _layer_norm_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (3, 4, 6)) * 2 + 1
    for k, affine in itertools.product((1, 2), (False, True)):
        weight, bias = (random_values(rng, dtype, x.shape[3 - k:]) for _ in range(2))

        def make(k=k, affine=affine, weight=weight, bias=bias):
            opt = (lambda v: _put(backend, v, dtype) if affine else None)
            return (_put(backend, x, dtype), opt(weight), opt(bias), k, 1e-5), {}
        yield f"normalized_ndim={k} affine={affine}", make, {}


def _layer_norm_backward_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (3, 4, 6)) * 2 + 1
    gy = random_values(rng, dtype, x.shape)
    for k, affine in itertools.product((1, 2), (False, True)):
        axes = tuple(range(3 - k, 3))
        mean = x.mean(axis=axes, keepdims=True)
        rstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
        weight = random_values(rng, dtype, x.shape[3 - k:])

        def make(k=k, affine=affine, weight=weight, mean=mean, rstd=rstd):
            return (_put(backend, gy, dtype), _put(backend, x, dtype),
                    _put(backend, weight, dtype) if affine else None, _put(backend, mean, dtype),
                    _put(backend, rstd, dtype), k), {}
        yield f"normalized_ndim={k} affine={affine}", make, {}


def _lstm_inputs(rng, dtype, steps):
    """xw (T, N, 4H), h0, c0 (N, H), w_hh (4H, H) at N = 2, H = 5."""
    return (random_values(rng, dtype, (steps, 2, 20)), random_values(rng, dtype, (2, 5)),
            random_values(rng, dtype, (2, 5)), random_values(rng, dtype, (20, 5)) * 0.5)


def _lstm_sequence_cases(backend, dtype, rng):
    for steps, reverse in itertools.product((1, 4), (False, True)):
        values = _lstm_inputs(rng, dtype, steps)

        def make(values=values, reverse=reverse):
            return tuple(_put(backend, v, dtype) for v in values) + (reverse,), {}
        yield f"T={steps} reverse={reverse}", make, {}


def _lstm_sequence_backward_cases(backend, dtype, rng):
    # packed, gates and cells as the core's decomposition of lstm_sequence makes them
    forward = OPTIONAL_OPS["lstm_sequence"].decompose
    for steps, reverse in itertools.product((1, 4), (False, True)):
        values = _lstm_inputs(rng, dtype, steps)
        grad = random_values(rng, dtype, (steps + 2, 2, 5))

        def make(values=values, grad=grad, reverse=reverse):
            xw, h0, c0, w_hh = (_put(backend, v, dtype) for v in values)
            saved = forward(backend, dtype, xw, h0, c0, w_hh, reverse)
            return (_put(backend, grad, dtype), c0, w_hh, *saved, reverse), {}
        yield f"T={steps} reverse={reverse}", make, {}


def _binary_inplace_cases(backend, dtype, rng):
    for op in ARITHMETIC:
        if op.startswith("bitwise") != (dtype.kind in "iub") or \
                (dtype is mg.bool and not op.startswith("bitwise")):
            continue
        if op in ("div", "atan2") and not dtype.is_floating_point:
            continue
        if op == "pow" and dtype.kind == "i":
            continue
        domain = "positive" if op == "pow" else "small"
        a = random_values(rng, dtype, (5, 17), domain)
        b = random_values(rng, dtype, (5, 17), "nonzero" if op in ("floordiv", "mod")
                          else domain)
        if op == "pow" and not dtype.is_floating_point:
            b = np.minimum(b, 3).astype(b.dtype)
        for alias in ("fresh out", "out is a", "out is b"):
            def make(op=op, a=a, b=b, alias=alias):
                ta, tb = _put(backend, a, dtype), _put(backend, b, dtype)
                out = {"fresh out": _put(backend, np.zeros(a.shape), dtype), "out is a": ta,
                       "out is b": tb}[alias]
                return (op, out, ta, tb), {}
            yield f"{op}, {alias}", make, {}


def _arange_cases(backend, dtype, rng):
    for start, stop, step in ((0, 10, 1), (3, -7, -2), (1, 2, 5)):
        if step < 0 and dtype.kind in "ub":
            continue
        yield f"{(start, stop, step)}", (lambda s=(start, stop, step): ((*s, dtype), {})), {}


def _clone_cases(backend, dtype, rng):
    x = random_values(rng, dtype, (5, 7))
    views = {"contiguous": lambda a: a, "transposed": lambda a: backend.permute(a, (1, 0)),
             "flipped": lambda a: backend.flip(a, (1,)),
             "strided": lambda a: backend.slice(a, (slice(0, 5, 2), slice(1, 7, 3))),
             "broadcast": lambda a: backend.expand(backend.slice(a, (slice(0, 1, 1),
                                                                    slice(0, 7, 1))), (4, 7))}
    for name, view in views.items():
        yield name, (lambda view=view: ((view(_put(backend, x, dtype)),), {})), {}


def _attention_cases(backward):
    # Causal and not, odd lengths, more and fewer queries than keys, heads as strided views of
    # one projection (as nanoGPT splits them).
    def cases(backend, dtype, rng):
        for (lead, L, S, E, Ev), causal, strided in itertools.product(
                (((), 5, 5, 4, 4), ((2, 3), 7, 4, 5, 3), ((3,), 4, 9, 8, 6)), (False, True),
                (False, True)):
            q, k, v = (random_values(rng, dtype, lead + s)
                       for s in ((L, E), (S, E), (S, Ev)))
            grad = random_values(rng, dtype, lead + (L, Ev))

            def make(q=q, k=k, v=v, grad=grad, causal=causal, strided=strided):
                arrays = [_put(backend, a, dtype) for a in (q, k, v)]
                if strided:
                    # each operand the middle third of a wider buffer along its last axis
                    arrays = [backend.slice(_put(backend, np.concatenate([a, a, a], -1), dtype),
                                            tuple(slice(0, n, 1) for n in a.shape[:-1]) +
                                            (slice(a.shape[-1], 2 * a.shape[-1], 1),))
                              for a in (q, k, v)]
                first = [_put(backend, grad, dtype)] if backward else []
                return (*first, *arrays, 0.4, causal), {}
            yield f"{lead + (L, S, E, Ev)} causal={causal} strided={strided}", make, {}
    return cases


CASES = {
    "relu": _unary_cases("relu"),
    "sigmoid": _unary_cases("sigmoid"),
    "gelu": _unary_cases("gelu"),
    "gelu_tanh": _unary_cases("gelu_tanh"),
    "silu": _unary_cases("silu"),
    "softplus": _unary_cases("softplus", beta=(1.0, 2.5), threshold=(20.0, 1.0)),
    "softmax": _axis_cases,
    "log_softmax": _axis_cases,
    "softmax_backward": _softmax_backward_cases,
    "cross_entropy": _cross_entropy_cases,
    "conv2d": _conv_cases(False),
    "conv2d_backward": _conv_cases(True),
    "conv_transpose2d": _conv_transpose_cases(False),
    "conv_transpose2d_backward": _conv_transpose_cases(True),
    "max_pool2d": _max_pool_cases(False),
    "max_pool2d_backward": _max_pool_cases(True),
    "avg_pool2d": _avg_pool_cases(False),
    "avg_pool2d_backward": _avg_pool_cases(True),
    "batch_norm": _batch_norm_cases,
    "batch_norm_backward": _batch_norm_backward_cases,
    "layer_norm": _layer_norm_cases,
    "layer_norm_backward": _layer_norm_backward_cases,
    "lstm_sequence": _lstm_sequence_cases,
    "lstm_sequence_backward": _lstm_sequence_backward_cases,
    "sgd_step_": _sgd_cases,
    "adam_step_": _adam_cases,
    "binary_": _binary_inplace_cases,
    "arange": _arange_cases,
    "clone": _clone_cases,
    "argsort": _argsort_cases,
    "topk": _topk_cases,
    "searchsorted": _searchsorted_cases,
    "scaled_dot_product_attention": _attention_cases(False),
    "scaled_dot_product_attention_backward": _attention_cases(True),
}
"""op -> cases(backend, dtype, rng) yielding (label, make, options), for each dtype of the op's
declaration (``OPTIONAL_OPS[op].dtypes``). ``make()`` returns fresh ``(args, kwargs)`` on the
backend, the same values on every call. The contract version an op needs is its ``added_in``."""
UNCHECKED = {"from_dlpack": "needs a DLPack producer on the device; test_memory_device covers "
                            "the host path",
             "compile_elementwise": "a family of its own: test_fusion checks fused kernels "
                                    "against ir.evaluate on random expressions"}


def test_every_optional_op_has_cases():
    assert set(CASES) | set(UNCHECKED) == set(OPTIONAL_OPS), \
        sorted(set(OPTIONAL_OPS) ^ (set(CASES) | set(UNCHECKED)))


def _arrays(value):
    """The arrays an op's result holds (None, one array, or a tuple of them)."""
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [value] if hasattr(value, "shape") and not isinstance(value, tuple) else []


def _observable(result, args):
    """What an op leaves behind: its results, then every array argument (written in place)."""
    return _arrays(result) + [a for a in args if hasattr(a, "shape")]


def _tolerance(op, dtype):
    """(tolerance, whether errors are measured against the result's largest magnitude)."""
    if op in ("binary_", "arange"):
        return EXACT, False     # binary_ must be bit-identical to binary (aliasing included)
    if OPTIONAL_OPS[op].family == "activation":
        # Elementwise: a few ulp of each element, the same as the oracle asks of a primitive
        # (a wrong formula, say gelu's tanh approximation for its erf form, is off by 1e-4).
        return tolerance(dtype).scaled(4), False
    return tolerance(dtype).accumulating(64).scaled(4), True


def _check_op(backend, op, dtype, rng, *, count_native):
    """Run every case of ``op`` through the core's dispatch and compare all it leaves behind
    with the decomposition's; with ``count_native``, return the (native, decomposed) calls of
    the first case instead."""
    decomposition = OPTIONAL_OPS[op].decompose
    for label, make, options in CASES[op](backend, dtype, rng):
        args, _ = make()
        with mg.no_grad():
            before = list(counts.get((backend.name, op), (0, 0)))
            got = call_optional(backend, op, dtype, *args, **options)
            after = counts.get((backend.name, op), (0, 0))
            ref_args, _ = make()
            want = decomposition(backend, dtype, *ref_args, **options)
        native, declined = after[0] - before[0], after[1] - before[1]
        if count_native:
            return native, declined
        how = "the fast op" if native else "declined (NotImplemented), then decomposed"
        for i, (a, b) in enumerate(zip(_observable(got, args), _observable(want, ref_args))):
            result_dtype = _result_dtype(backend, dtype, a)
            expected = host(mg.Tensor._make(b, result_dtype, backend))
            actual = mg.Tensor._make(a, result_dtype, backend)
            tol, accumulating = _tolerance(op, actual.dtype)
            assert_close(actual, expected.astype(np.float64) if actual.dtype.is_floating_point
                         else expected, backend=backend.name, op=op, dtype=actual.dtype, tol=tol,
                         scale=np.max(np.abs(expected), initial=1.0) if accumulating else None,
                         context=f"{how} vs the core's decomposition, {label}, array {i}")
    return None


def _result_dtype(backend, dtype, array):
    """Results are ``dtype``, except the int64 indices of floating ops (max_pool2d)."""
    if dtype.is_floating_point and backend.to_host(array).dtype.kind == "i":
        return mg.int64
    return dtype


@dataclass(frozen=True)
class FastOp:
    """One optional op as a parametrization entry (the plugin pairs it with each dtype)."""
    op: str
    dtypes: tuple

    @property
    def id(self):
        return self.op


SPECS = [FastOp(op, OPTIONAL_OPS[op].dtypes) for op in CASES]


def _skip_unless_promised(target, op):
    version = OPTIONAL_OPS[op].added_in
    if not target.promises(version):
        pytest.skip(f"{op} came with contract {version[0]}.{version[1]}; {target.name} declares "
                    f"{target.contract[0]}.{target.contract[1]}")


@pytest.mark.conformance_specs(SPECS)
def test_fast_op_matches_its_decomposition(spec, dtype, backend, rng, conformance_target):
    _skip_unless_promised(conformance_target, spec.op)
    if not backend.offers(spec.op):
        pytest.skip(f"{backend.name} does not offer {spec.op} (the core's decomposition runs)")
    _check_op(backend, spec.op, dtype, rng, count_native=False)


@pytest.mark.parametrize("op", list(CASES))
def test_declared_fast_op_runs_natively(op, backend, conformance_target):
    """A backend that declares a fast op must run it itself for at least one declared dtype;
    one that always declines (returns ``NotImplemented``) only pretends to be fast."""
    _skip_unless_promised(conformance_target, op)
    if not backend.offers(op):
        pytest.skip(f"{backend.name} does not offer {op}")
    rng = np.random.default_rng(0)
    ran = {}
    for dtype in conformance_target.dtypes:
        if dtype in OPTIONAL_OPS[op].dtypes:
            ran[dtype.name] = _check_op(backend, op, dtype, rng, count_native=True)
    assert ran, f"{op}: none of {backend.name}'s dtypes applies"
    assert any(native and not fell_back for native, fell_back in ran.values()), (
        f"backend {backend.name!r} declares the fast op {op!r} but never runs it natively: "
        f"(native, fallback) calls per dtype {ran}")


def _parameter_names(parameters) -> list[str]:
    names = []
    for p in parameters:
        if p.kind is p.KEYWORD_ONLY and "*" not in names:
            names.append("*")
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            names.append(p.name)
    return names


@pytest.mark.parametrize("op", list(OPTIONAL_OPS))
def test_offered_fast_op_takes_the_declared_parameters(op, backend, conformance_target):
    """The core passes some arguments by keyword (the optimizer steps' options, softplus's):
    a method whose names differ from the declaration's breaks there, or takes the wrong one."""
    _skip_unless_promised(conformance_target, op)
    if not backend.offers(op):
        pytest.skip(f"{backend.name} does not offer {op}")
    try:
        params = list(inspect.signature(getattr(backend, op)).parameters.values())
    except (TypeError, ValueError):
        pytest.skip(f"{backend.name}.{op} is not introspectable (a compiled function)")
    declared = _parameter_names(OPTIONAL_OPS[op].parameters)
    got = _parameter_names(params)
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        # **options: the names it spells out must be declared ones, in the declared order
        positions = [declared.index(n) if n in declared else -1 for n in got]
        ok = -1 not in positions and positions == sorted(positions)
    else:
        ok = got == declared
    assert ok, (f"backend {backend.name!r}: {op}({', '.join(got)}) does not take the declared "
                f"parameters {OPTIONAL_OPS[op].signature}")
