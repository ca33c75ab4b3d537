"""The fused layer ops (linear, batch norm, cross-entropy, relu's backward) against PyTorch and
finite differences: forward, backward, double backward, and that each is the one node (and the
few backend calls) it is meant to be."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.ops.linalg import Linear
from micrograd.tensor import Tensor
from oracle import check, gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)


def second_order(fn_mg, fn_torch, arrays, *, rtol=1e-9, atol=1e-10):
    """Differentiate ``<fn(inputs), v>`` with create_graph, then differentiate the sum of the
    squared first gradients again, with respect to the inputs and to ``v`` (the gradient an op's
    backward receives), in micrograd and in PyTorch; compare both orders."""
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = fn_mg(*ours), fn_torch(*theirs)
    v = np.random.default_rng(3).standard_normal(tuple(expected.shape))
    v_mg, v_t = mg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
    g1 = mg.autograd.grad((out * v_mg).sum(), ours, create_graph=True)
    t1 = torch.autograd.grad((expected * v_t).sum(), theirs, create_graph=True)
    for i, (a, b) in enumerate(zip(g1, t1)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"first-order gradient of input {i}")
    g2 = mg.autograd.grad(sum((g * g).sum() for g in g1), ours + [v_mg], allow_unused=True)
    t2 = torch.autograd.grad(sum((g * g).sum() for g in t1), theirs + [v_t], allow_unused=True)
    for i, (a, b) in enumerate(zip(g2, t2)):
        what = f"second-order gradient of input {i}" if i < len(ours) else "gradient of v"
        if a is None or b is None:   # no path in one graph: the other's must be zero
            other = b if a is None else a
            assert other is None or not np.any(other.detach().numpy()), f"{what}: one is None"
            continue
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol, err_msg=what)


class EqualShapesBackend(NumpyBackend):
    """The reference backend without native broadcasting: ``binary`` and ``where`` refuse
    operands of different shapes, as the contract allows a backend to."""

    native_broadcasting = False

    def binary(self, op, a, b):
        assert a.shape == b.shape, f"binary {op} got shapes {a.shape} and {b.shape}"
        return super().binary(op, a, b)

    def where(self, cond, a, b):
        assert cond.shape == a.shape == b.shape, f"where got {cond.shape}, {a.shape}, {b.shape}"
        return super().where(cond, a, b)


def on_backend(backend, array, requires_grad=False, dtype=mg.float64):
    t = Tensor._make(backend.from_host(np.asarray(array, dtype=dtype.numpy), dtype), dtype,
                     backend)
    return t.requires_grad_(requires_grad)


class BackendCalls:
    """Counts the calls into a backend (``with BackendCalls(be) as calls: ...``)."""

    def __init__(self, backend):
        self.backend = backend
        self.counts: collections.Counter = collections.Counter()

    def __enter__(self):
        be, counts = self.backend, self.counts
        self.patched = []
        for name in dir(type(be)):
            method = getattr(be, name)
            if name.startswith("_") or not callable(method) or name in ("offers",):
                continue

            def counted(*args, _method=method, _name=name, **kwargs):
                counts[_name] += 1
                return _method(*args, **kwargs)
            setattr(be, name, counted)
            self.patched.append(name)
        return self

    def __exit__(self, *exc):
        for name in self.patched:
            delattr(self.backend, name)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ------------------------------------------------------------------ linear

LINEAR_SHAPES = [(5,), (3, 5), (2, 3, 5), (0, 5)]


@pytest.mark.parametrize("x_shape", LINEAR_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias):
    shapes = [x_shape, (4, 5)] + ([(4,)] if bias else [])
    check(lambda x, w, *b: F.linear(x, w, *b), lambda x, w, *b: TF.linear(x, w, *b), shapes)


@pytest.mark.parametrize("dtype", [mg.float32, mg.float16, mg.bfloat16])
def test_linear_low_precision_matches_torch(dtype):
    check(F.linear, TF.linear, [(6, 5), (4, 5), (4,)], dtype=dtype, low=-1, high=1)


@pytest.mark.parametrize("x_shape", [(5,), (2, 3, 5)])
def test_linear_double_backward_matches_torch(x_shape):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    second_order(F.linear, TF.linear, [x, w, b])


def test_linear_gradients_match_finite_differences():
    gradcheck(F.linear, [(2, 3, 5), (4, 5), (4,)])

    def weight_grad(x, w, b):   # second order: differentiate a first gradient
        (gw,) = mg.autograd.grad((F.linear(x, w, b) ** 2).sum(), w, create_graph=True)
        return gw
    gradcheck(weight_grad, [(3, 5), (4, 5), (4,)])


def test_linear_is_one_node_and_its_weight_grad_is_contiguous():
    layer = mg.nn.Linear(5, 4)
    y = layer(mg.tensor(rng.standard_normal((3, 5)), dtype=mg.float32))
    assert isinstance(y.grad_fn, Linear)
    assert all(type(f).__name__ == "AccumulateGrad" for f in y.grad_fn.next_functions[1:])
    y.sum().backward()
    # The optimizer copies a transposed gradient every step; g.T @ x must come out dense.
    assert layer.weight.grad.numpy().flags.c_contiguous


def test_linear_without_input_grad_skips_its_matmul():
    x = mg.tensor(rng.standard_normal((3, 5)))
    w = mg.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    y = F.linear(x, w)
    with BackendCalls(x._backend) as calls:
        y.backward(mg.ones(3, 4, dtype=mg.float64))
    assert calls.counts["matmul"] == 1, calls.counts


def test_linear_with_mixed_dtypes_still_promotes():
    x = mg.tensor(rng.standard_normal((3, 5)), dtype=mg.float32)
    w = mg.tensor(rng.standard_normal((4, 5)), dtype=mg.float64)
    assert F.linear(x, w).dtype is mg.float64


# ------------------------------------------------------------------ batch norm

BN_SHAPES = [(6, 3), (4, 3, 5), (3, 2, 4, 5)]


def _bn_fns(training, affine, running):
    """F.batch_norm in micrograd and torch; running stats are fresh copies of the same arrays."""

    def call(lib, functional, x, *wb):
        c = x.shape[1]
        stats = np.linspace(-0.5, 0.5, c), np.linspace(0.5, 2.0, c)
        rm, rv = ((lib.tensor(s, dtype=x.dtype) for s in stats) if running else (None, None))
        w, b = wb if affine else (None, None)
        return functional.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)
    return (lambda *a: call(mg, F, *a)), (lambda *a: call(torch, TF, *a))


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(shape, training, affine):
    ours, theirs = _bn_fns(training, affine, running=not training or affine)
    shapes = [shape] + ([(shape[1],), (shape[1],)] if affine else [])
    check(ours, theirs, shapes)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_float32_matches_torch(training):
    ours, theirs = _bn_fns(training, True, running=True)
    check(ours, theirs, [(8, 4, 3, 3), (4,), (4,)], dtype=mg.float32, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_double_backward_matches_torch(shape, training):
    ours, theirs = _bn_fns(training, True, running=True)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    second_order(ours, theirs, [x, w, b], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_match_finite_differences(training):
    ours, _ = _bn_fns(training, True, running=True)
    gradcheck(ours, [(4, 2, 3), (2,), (2,)])

    def input_grad(x, w, b):
        (gx,) = mg.autograd.grad((ours(x, w, b) ** 3).sum(), x, create_graph=True)
        return gx
    gradcheck(input_grad, [(4, 2, 3), (2,), (2,)], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm_module_running_stats_match_torch(momentum, track):
    ours = mg.nn.BatchNorm2d(3, momentum=momentum, track_running_stats=track).double()
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum, track_running_stats=track).double()
    for step in range(4):
        x = rng.standard_normal((4, 3, 2, 5)) * (step + 1) + step
        ours.train(step < 3)
        theirs.train(step < 3)
        np.testing.assert_allclose(ours(mg.tensor(x)).detach().numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-9,
                                   atol=1e-10)
        for name, theirs_buffer in theirs.named_buffers():
            np.testing.assert_allclose(getattr(ours, name).numpy(), theirs_buffer.numpy(),
                                       rtol=1e-12, atol=1e-12, err_msg=f"{name} at step {step}")


def test_batch_norm_updates_running_stats_in_place_and_bumps_their_version():
    rm, rv = mg.zeros(3, dtype=mg.float64), mg.ones(3, dtype=mg.float64)
    before = rm._version[0], rv._version[0]
    x = rng.standard_normal((5, 3))
    F.batch_norm(mg.tensor(x), rm, rv, training=True, momentum=0.2)
    np.testing.assert_allclose(rm.numpy(), 0.2 * x.mean(0))
    np.testing.assert_allclose(rv.numpy(), 0.8 + 0.2 * x.var(0, ddof=1))
    assert rm._version[0] > before[0] and rv._version[0] > before[1]


def test_batch_norm_is_one_node_with_few_backend_calls():
    bn = mg.nn.BatchNorm2d(4).double()
    x = mg.tensor(rng.standard_normal((8, 4, 5, 5)), requires_grad=True)
    bn(x).sum().backward()          # warm the scalar caches
    with BackendCalls(x._backend) as calls:
        y = bn(x)
        assert type(y.grad_fn).__name__ == "BatchNorm"
        y.backward(mg.ones(y.shape, dtype=mg.float64))
    # Composed from primitives this took 67 calls (9 reductions). Through the decompositions of
    # the batch_norm/batch_norm_backward fast ops (the numpy backend has neither): two
    # reductions each way, per-channel arithmetic and the running statistics' in-place update.
    assert calls.counts["reduce"] == 4, calls.counts
    assert calls.total <= 48, calls.counts


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(mg.ones(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="needs running_mean"):
        F.batch_norm(mg.ones(2, 3), None, None, training=False)
    with pytest.raises(RuntimeError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(mg.ones(2, 3), None, None, mg.ones(4), training=True)


# ------------------------------------------------------------------ cross-entropy

CE_TARGETS = {"plain": [0, 3, 1, 4, 2, 3], "ignored": [0, -100, 1, 4, -100, 3],
              "all ignored": [-100] * 6}


def _ce(lib_f, target, **kw):
    return lambda logits: lib_f.cross_entropy(logits, target, **kw)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", list(CE_TARGETS.values()), ids=list(CE_TARGETS))
def test_cross_entropy_matches_torch(reduction, target):
    check(_ce(F, mg.tensor(target), reduction=reduction),
          _ce(TF, torch.tensor(target), reduction=reduction), [(6, 5)])


@pytest.mark.parametrize("target_dtype", [mg.int64, mg.int32, mg.uint8])
def test_cross_entropy_float32_and_narrow_targets(target_dtype):
    target = [0, 3, 1, 4, 2, 3]
    check(_ce(F, mg.tensor(target, dtype=target_dtype), ignore_index=4),
          _ce(TF, torch.tensor(target), ignore_index=4), [(6, 5)], dtype=mg.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", list(CE_TARGETS.values())[:2], ids=list(CE_TARGETS)[:2])
def test_cross_entropy_double_backward_matches_torch(reduction, target):
    second_order(_ce(F, mg.tensor(target), reduction=reduction),
                 _ce(TF, torch.tensor(target), reduction=reduction), [rng.standard_normal((6, 5))])


def test_cross_entropy_gradients_match_finite_differences():
    target = mg.tensor(CE_TARGETS["ignored"])
    gradcheck(_ce(F, target), [(6, 5)])
    gradcheck(lambda x: mg.autograd.grad(F.cross_entropy(x, target), x, create_graph=True)[0],
              [(6, 5)])


def test_cross_entropy_of_an_empty_batch_is_nan_like_torch():
    x = mg.zeros(0, 4, dtype=mg.float64, requires_grad=True)
    loss = F.cross_entropy(x, mg.zeros(0, dtype=mg.int64))
    assert np.isnan(loss.item())
    loss.backward()
    assert tuple(x.grad.shape) == (0, 4)


@pytest.mark.parametrize("host_limit", [1 << 16, 0], ids=["host", "device"])
def test_cross_entropy_target_checks(host_limit, monkeypatch):
    from micrograd.ops import loss
    monkeypatch.setattr(loss, "_HOST_CHECK_LIMIT", host_limit)
    x = mg.zeros(4, 3)
    with pytest.raises(IndexError, match="Target 3 is out of bounds for 3 classes"):
        F.cross_entropy(x, mg.tensor([0, 3, -100, 1]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        F.cross_entropy(x, mg.tensor([0, -1, -100, 1]))
    with pytest.raises(IndexError, match="Target -100 is out of bounds"):
        F.cross_entropy(x, mg.tensor([0, -100, 1, 1]), ignore_index=1)
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.nll_loss(x, mg.tensor([0, 5, 1, 1]))
    expected = TF.cross_entropy(torch.zeros(4, 3), torch.tensor([0, 2, -100, 1])).item()
    assert F.cross_entropy(x, mg.tensor([0, 2, -100, 1])).item() == pytest.approx(expected)


def test_cross_entropy_takes_one_host_sync_and_few_backend_calls():
    x = mg.tensor(rng.standard_normal((16, 10)), requires_grad=True)
    target = mg.tensor(rng.integers(0, 10, 16))
    F.cross_entropy(x, target).backward()          # warm the scalar caches
    with BackendCalls(x._backend) as calls:
        loss = F.cross_entropy(x, target)
        loss.backward()
    # Before: three host syncs (mask select, min, max) and 57 calls on this backend (which
    # decomposes cross_entropy and softmax); 35 on the C++ one, now 13.
    assert calls.counts["to_host"] == 1 and calls.counts["nonzero"] == 0, calls.counts
    assert calls.total <= 36, calls.counts


# ------------------------------------------------------------------ relu


def test_relu_backward_matches_torch_with_inf_and_nan_gradients():
    x = np.array([-2.0, -0.0, 0.0, 1.5, 3.0, -1.0])
    grad = np.array([np.inf, np.nan, 1.0, np.nan, -np.inf, 2.0])
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours.relu().backward(mg.tensor(grad))
    theirs.relu().backward(torch.tensor(grad))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_relu_double_backward_matches_torch():
    second_order(F.relu, TF.relu, [rng.standard_normal((3, 4))])


def test_relu_backward_is_a_compare_and_a_select():
    x = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = F.relu(x)
    g = mg.ones(3, 4, dtype=mg.float64)
    with BackendCalls(x._backend) as calls:
        y.backward(g)
    assert dict(calls.counts) == {"binary": 1, "where": 1}, calls.counts


# ------------------------------------------------------------------ every backend


def test_fused_ops_on_a_backend_without_native_broadcasting():
    strict = EqualShapesBackend(mg.device("cpu"))
    arrays = [rng.standard_normal(s) for s in ((4, 3, 2, 2), (3,), (3,), (4, 5), (3, 5))]

    def run(make):
        x, w, b, x2, w2 = (make(a, True) for a in arrays)
        stats = make(np.zeros(3), False), make(np.ones(3), False)
        losses = []
        for training in (True, False):
            losses.append(F.batch_norm(x, *stats, w, b, training=training).sum())
        losses.append(F.linear(x2, w2, b).relu().sum())
        sum(losses).backward()
        return [t.grad.numpy() for t in (x, w, b, x2, w2)] + [s.numpy() for s in stats]

    expected = run(lambda a, grad: mg.tensor(a, requires_grad=grad))
    for ours, theirs in zip(run(lambda a, grad: on_backend(strict, a, grad)), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
