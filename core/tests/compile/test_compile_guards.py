"""Guards and recompilation, eager fallback with one-time warnings, captured tensors and
closures, compiled modules, and switching compilation off."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import micrograd as mg
from micrograd import compiler, nn

Fallback = compiler.CompileFallbackWarning


def _affine(x):
    return (x * 2 + 1).tanh()


def test_shape_dtype_grad_and_grad_mode_changes_recompile(backend):
    compiled = mg.compile(_affine)
    calls = [mg.randn(3), mg.randn(3), mg.randn(4), mg.randn(4, dtype=mg.float64),
             mg.randn(4, requires_grad=True)]
    for x in calls:
        np.testing.assert_allclose(compiled(x).detach().numpy(), np.tanh(x.detach().numpy() * 2 + 1),
                                   rtol=1e-6)
    with mg.no_grad():
        x = mg.randn(4, requires_grad=True)
        out = compiled(x)
        assert not out.requires_grad
    stats = compiler.stats(compiled)
    assert (stats["compiles"], stats["recompiles"], stats["cache_hits"]) == (1, 4, 1)
    assert stats["graphs"] == 5 and stats["first_compile_seconds"] > 0


def test_python_scalar_arguments_are_guarded_by_value(backend):
    compiled = mg.compile(lambda x, alpha: x * alpha + 1)
    x = mg.ones(2)
    assert compiled(x, 2.0).tolist() == [3.0, 3.0]
    assert compiled(x, 3.0).tolist() == [4.0, 4.0]
    assert compiled(x, 3.0).tolist() == [4.0, 4.0]
    assert compiler.stats(compiled)["recompiles"] == 1


def test_the_same_tensor_passed_twice_is_not_confused_with_two_tensors(backend):
    compiled = mg.compile(lambda a, b: a * 2 - b)
    x = mg.ones(3)
    assert compiled(x, x).tolist() == [1.0] * 3
    assert compiled(mg.ones(3), mg.zeros(3)).tolist() == [2.0] * 3


def test_cache_size_limit_warns_once_then_runs_eagerly(backend, monkeypatch):
    monkeypatch.setattr(compiler, "cache_size_limit", 2)
    compiled = mg.compile(_affine)
    for n in (1, 2):
        compiled(mg.ones(n))
    with pytest.warns(Fallback, match="cache_size_limit=2"):
        out = compiled(mg.ones(3))
    np.testing.assert_allclose(out.numpy(), np.tanh(np.full(3, 3.0)), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(mg.ones(4))                   # still eager, no second warning
    stats = compiler.stats(compiled)
    assert stats["graphs"] == 2 and stats["eager_calls"] == 2


def _branchy(x):
    if (x.sum() > 0):                          # Tensor.__bool__
        return x * 2
    return x * -3


@pytest.mark.parametrize("fn, construct", [
    (_branchy, r"Tensor.__bool__"),
    (lambda x: x * x.sum().item(), r"Tensor.item"),
    (lambda x: x * len(x.tolist()), r"Tensor.tolist"),
    (lambda x: x * float(x.numpy().max()), r"Tensor.numpy"),
    (lambda x: x.add_(1) * 2, r"Tensor.add_\(\) \(an in-place op"),
])
def test_unsupported_constructs_fall_back_to_eager_with_one_warning(backend, fn, construct):
    compiled = mg.compile(fn)
    mg.manual_seed(0)
    x = mg.randn(5)
    with pytest.warns(Fallback, match=construct):
        first = compiled(x.clone())
    mg.manual_seed(0)
    assert np.array_equal(first.numpy(), fn(x.clone()).numpy())
    for sign in (1, -1):
        y = x * sign
        with warnings.catch_warnings():
            warnings.simplefilter("error")     # the warning is one-time
            mg.manual_seed(1)
            got = compiled(y.clone())
        mg.manual_seed(1)
        np.testing.assert_allclose(got.numpy(), fn(y.clone()).numpy(), rtol=1e-6)
    stats = compiler.stats(compiled)
    assert stats["compiles"] == 0 and stats["eager_calls"] >= 3


def test_backward_and_grad_reads_inside_are_refused(backend):
    w = mg.randn(3, requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        return w.grad * 2

    compiled = mg.compile(step)
    with pytest.warns(Fallback, match="backward"):
        out = compiled(mg.ones(3))
    np.testing.assert_allclose(out.numpy(), 2 * np.ones(3))


def test_inplace_update_of_a_captured_tensor_inside_is_refused(backend):
    counter = mg.zeros(2)

    def fn(x):
        counter.add_(1)
        return x + counter

    compiled = mg.compile(fn)
    with pytest.warns(Fallback, match=r"Tensor.add_\(\)"):
        compiled(mg.zeros(2))
    assert compiled(mg.zeros(2)).tolist() == [2.0, 2.0]   # eager: the update happens each call


def test_captured_tensors_are_read_at_replay_so_updates_between_calls_are_seen(backend):
    w = mg.ones(3, requires_grad=True)
    compiled = mg.compile(lambda x: (x * w + 1).relu() * w)
    x = mg.ones(3)
    compiled(x)
    with mg.no_grad():
        w.mul_(2)                              # an optimizer-like in-place update
    out = compiled(x)
    np.testing.assert_allclose(out.detach().numpy(), [6.0] * 3)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2 * 1 + 3.0] * 3)   # d/dw (xw+1)w = 2xw + 1
    assert compiler.stats(compiled)["cache_hits"] == 1


def test_a_captured_tensor_that_changes_shape_recompiles(backend):
    holder = {"w": mg.ones(3)}
    w = holder["w"]
    compiled = mg.compile(lambda x: x * w * 2)
    compiled(mg.ones(3))
    w.data = mg.ones(1)                        # same object, new shape
    assert compiled(mg.ones(3)).tolist() == [2.0] * 3
    assert compiler.stats(compiled)["recompiles"] == 1


def test_closure_and_global_python_scalars_are_guarded(backend):
    scale = 2.0
    compiled = mg.compile(lambda x: x * scale + OFFSET)
    x = mg.ones(2)
    assert compiled(x).tolist() == [3.0, 3.0]
    scale = 5.0                                # noqa: F841  (read by the lambda)
    assert compiled(x).tolist() == [6.0, 6.0]
    assert compiler.stats(compiled)["recompiles"] == 1


OFFSET = 1.0


def test_compiled_module_wraps_and_follows_train_eval(backend):
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(approximate="tanh"), nn.Dropout(0.5),
                          nn.Linear(8, 2))
    compiled = mg.compile(model)
    assert isinstance(compiled, nn.Module) and compiled._orig_mod is model
    assert [id(p) for p in compiled.parameters()] == [id(p) for p in model.parameters()]
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    x = mg.randn(3, 4)
    model.eval()
    for _ in range(2):
        np.testing.assert_allclose(compiled(x).detach().numpy(), model(x).detach().numpy(),
                                   rtol=1e-6)
    assert compiler.stats(compiled)["cache_hits"] == 1
    model.train()                              # dropout: its draws are made again each call
    for seed in (1, 2, 2):
        mg.manual_seed(seed)
        got = compiled(x)
        mg.manual_seed(seed)
        np.testing.assert_allclose(got.detach().numpy(), model(x).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    stats = compiler.stats(compiled)
    assert stats["recompiles"] == 1 and stats["graphs"] == 2 and stats["cache_hits"] == 3


def test_disable_argument_and_environment_variable(backend, monkeypatch):
    off = mg.compile(_affine, disable=True)
    off(mg.ones(2)), off(mg.ones(2))
    assert compiler.stats(off)["compiles"] == 0
    on = mg.compile(_affine)
    monkeypatch.setenv("MICROGRAD_COMPILE_DISABLE", "1")
    on(mg.ones(2)), on(mg.ones(2))
    assert compiler.stats(on)["compiles"] == 0
    monkeypatch.delenv("MICROGRAD_COMPILE_DISABLE")
    on(mg.ones(2)), on(mg.ones(2))
    assert compiler.stats(on)["compiles"] == 1 and compiler.stats(on)["cache_hits"] == 1
    assert compiler.disable(on) is _affine


def test_is_compiling_is_true_only_while_tracing(backend):
    seen = []
    compiled = mg.compile(lambda x: seen.append(compiler.is_compiling()) or x + 1)
    compiled(mg.ones(1)), compiled(mg.ones(1))
    assert seen == [True] and compiler.is_compiling() is False


def test_stats_refuses_an_uncompiled_function():
    with pytest.raises(TypeError, match="what micrograd.compile returned"):
        compiler.stats(_affine)


def test_a_no_grad_block_inside_the_function_is_replayed_under_no_grad(backend):
    w = mg.randn(3, requires_grad=True)

    def fn(x):
        with mg.no_grad():
            frozen = (w * 2 + 1).exp()       # a fused region that must not carry grad
        return (x * w + frozen).sum()

    compiled = mg.compile(fn)
    x = mg.randn(3)
    for _ in range(2):
        w.grad = None
        compiled(x).backward()
        np.testing.assert_allclose(w.grad.numpy(), x.numpy(), rtol=1e-6)
    assert compiler.stats(compiled)["cache_hits"] == 1


def test_numpy_scalar_arguments_do_not_recompile_every_call(backend):
    compiled = mg.compile(lambda x, s: x * s)
    for _ in range(3):
        compiled(mg.ones(2), np.float32(2.0))
    assert compiler.stats(compiled)["compiles"] == 1 and compiler.stats(compiled)["recompiles"] == 0


def test_hooks_registered_inside_are_refused(backend):
    compiled = mg.compile(lambda x: (x * 2).register_hook(lambda g: g * 0) or x * 3)
    with pytest.warns(Fallback, match="register_hook"):
        compiled(mg.ones(2, requires_grad=True))


def test_an_exception_inside_the_trace_propagates_and_leaves_no_hooks(backend):
    def fn(x):
        return x @ mg.ones(5, 5)            # shapes do not match

    from micrograd.ops.binary import Binary
    from micrograd.tensor import Tensor
    originals = (Binary.__dict__["apply"], Tensor.__dict__["_make"], Tensor.__dict__["item"])
    compiled = mg.compile(lambda x: fn(x) * 2)
    with pytest.raises(RuntimeError):
        compiled(mg.ones(3, 4))
    assert not compiler.is_compiling()
    assert (Binary.__dict__["apply"], Tensor.__dict__["_make"], Tensor.__dict__["item"]) \
        == originals                         # the tracer's wrappers are gone
    assert compiler.stats(compiled)["graphs"] == 0
    np.testing.assert_allclose((mg.ones(2) * 2).numpy(), [2.0, 2.0])


def test_random_draws_and_creation_inside_are_made_again_on_every_call(backend):
    def fn(x):
        noise = mg.randn(*x.shape) * 0.1 + mg.rand_like(x)
        return x * noise + mg.ones(x.shape[0]) + mg.arange(x.shape[0]) * 2

    compiled = mg.compile(fn)
    x = mg.randn(4)
    outs = []
    for seed in (0, 1, 1):
        mg.manual_seed(seed)
        got = compiled(x)
        mg.manual_seed(seed)
        np.testing.assert_allclose(got.numpy(), fn(x).numpy(), rtol=1e-6)
        outs.append(got.numpy())
    assert not np.allclose(outs[0], outs[1]) and np.allclose(outs[1], outs[2])
    assert compiler.stats(compiled)["cache_hits"] == 2


def test_a_tensor_made_by_an_untraceable_path_is_refused(backend):
    from micrograd.tensor import Tensor
    compiled = mg.compile(lambda x: x * Tensor._make(x._backend.full((), 3.0, x._dtype),
                                                    x._dtype, x._backend))
    with pytest.warns(Fallback, match="made inside the function"):
        assert compiled(mg.ones(2)).tolist() == [3.0, 3.0]


def test_batch_norm_running_statistics_fall_back_in_training_and_compile_in_eval(backend):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Tanh())
    twin = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Tanh())
    twin.load_state_dict(model.state_dict())
    compiled = mg.compile(twin)
    x = mg.randn(8, 4)
    with pytest.warns(Fallback, match="in-place"):
        got = compiled(x)
    np.testing.assert_allclose(got.detach().numpy(), model(x).detach().numpy(), rtol=1e-5)
    compiled(x), model(x)                      # eager again: the statistics keep updating
    np.testing.assert_allclose(twin[1].running_mean.numpy(), model[1].running_mean.numpy(),
                               rtol=1e-6)
    model.eval(), twin.eval()
    for _ in range(2):
        np.testing.assert_allclose(compiled(x).detach().numpy(), model(x).detach().numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert compiler.stats(compiled)["compiles"] == 1


def test_another_thread_runs_eagerly_while_one_traces(backend):
    import threading
    inside, release = threading.Event(), threading.Event()

    def slow(x):
        y = x * 2 + 1
        inside.set()
        release.wait(10)
        return y.exp()

    slow_compiled, other = mg.compile(slow), mg.compile(lambda x: (x - 1) * 3)
    x = mg.ones(3)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("y", slow_compiled(x)))
    worker.start()
    try:
        assert inside.wait(10)
        assert other(x).tolist() == [0.0] * 3        # traced nothing: the tracer is busy
        assert compiler.stats(other)["eager_calls"] == 1
    finally:
        release.set()
        worker.join(10)
    np.testing.assert_allclose(result["y"].numpy(), np.exp(np.full(3, 3.0)), rtol=1e-6)
    np.testing.assert_allclose(slow_compiled(x).numpy(), np.exp(np.full(3, 3.0)), rtol=1e-6)
    assert compiler.stats(slow_compiled)["fused_ops"] == 3   # only its own ops were recorded
    assert other(x).tolist() == [0.0] * 3 and compiler.stats(other)["compiles"] == 1


def test_fullgraph_raises_on_an_unsupported_construct(backend):
    compiled = mg.compile(_branchy, fullgraph=True)
    with pytest.raises(compiler.Unsupported, match=r"fullgraph=True.*Tensor.__bool__"):
        compiled(mg.ones(3))
    ok = mg.compile(_affine, fullgraph=True)
    ok(mg.ones(2)), ok(mg.ones(2))
    assert compiler.stats(ok)["cache_hits"] == 1


class _Positives(mg.autograd.Function):
    """A custom op whose output's shape depends on the data (replayed as a whole)."""

    @staticmethod
    def forward(ctx, x):
        return mg.masked_select(x, x > 0)

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError


def test_a_data_dependent_shape_upstream_of_a_region_runs_that_region_unfused(backend):
    compiled = mg.compile(lambda x: (_Positives.apply(x) * 2 + 1).exp())
    for values in ([1.0, -1.0, 2.0], [1.0, 2.0, 3.0], [-1.0, -2.0, 0.5]):
        x = mg.tensor(values)
        expected = np.exp(np.array([v for v in values if v > 0]) * 2 + 1)
        np.testing.assert_allclose(compiled(x).numpy(), expected, rtol=1e-6)
    assert compiler.stats(compiled)["compiles"] == 1
    assert compiler.stats(compiled)["fused_ops"] == 3      # mul, add, exp: one region


def test_integer_division_by_a_tensor_keeps_its_zero_check_by_running_eagerly(backend):
    compiled = mg.compile(lambda a, b: a // b + 1)
    a, b = mg.tensor([7, 8], dtype=mg.int32), mg.tensor([2, 3], dtype=mg.int32)
    with pytest.warns(Fallback, match="integer floordiv by a tensor"):
        assert compiled(a, b).tolist() == [4, 3]
    with pytest.raises(ZeroDivisionError):
        compiled(a, mg.tensor([2, 0], dtype=mg.int32))
    by_constant = mg.compile(lambda a: a // 2 + 1)
    by_constant(a), by_constant(a)
    assert compiler.stats(by_constant)["cache_hits"] == 1
