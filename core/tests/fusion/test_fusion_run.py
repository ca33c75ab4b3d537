"""fusion.run: a backend's kernel compiled once per key and reused from a bounded LRU cache,
ir.evaluate for backends without the hook or where the hook declines, and call checks."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
from fusion_helpers import host, put
from micrograd import fusion
from micrograd.fusion import ir

F32 = mg.float32


class Fusing(type(mg.ops.creation.resolve("numpy"))):
    """The numpy backend with a compile_elementwise that records each compile; its kernel is
    the reference evaluation (these tests are about the cache, not about kernels)."""

    def __init__(self, device, decline=()):
        super().__init__(device)
        self.compiled = []
        self.decline = decline

    def compile_elementwise(self, expr):
        self.compiled.append(expr.key)
        if any(op in expr.key for op in self.decline):
            return NotImplemented

        def kernel(inputs, scalars, out=None):
            return ir.evaluate(self, expr, inputs, scalars, out)
        return kernel


@pytest.fixture(autouse=True)
def fresh_cache():
    fusion.clear_cache()
    fusion.reset_stats()
    yield
    fusion.clear_cache()


def _axpy(n):
    x, y, a = ir.Input(0, F32, (n,)), ir.Input(1, F32, (n,)), ir.Scalar(0, F32)
    return ir.Expr((x, y), (a,), (y + a * x,), (n,))


def test_a_kernel_is_compiled_once_per_key_and_reused(backend):
    be = Fusing(backend.device)
    x, y = put(be, [1, 2, 3], F32), put(be, [10, 10, 10], F32)
    for step, lr in enumerate((0.5, 1.0, 2.0)):
        (out,) = fusion.run(be, _axpy(3), [x, y], [lr])       # a new Expr object each call
        assert host(be, out).tolist() == [10 + lr, 10 + 2 * lr, 10 + 3 * lr]
    assert len(be.compiled) == 1
    assert fusion.stats() == {"compiles": 1, "hits": 2, "evaluations": 0}
    fusion.run(be, _axpy(4), [put(be, np.ones(4), F32)] * 2, [1.0])   # another shape
    assert len(be.compiled) == 2


def test_each_backend_instance_gets_its_own_kernel(backend):
    one, two = Fusing(backend.device), Fusing(backend.device)
    data = [put(one, [1, 2], F32)] * 2
    fusion.run(one, _axpy(2), data, [1.0])
    fusion.run(two, _axpy(2), data, [1.0])
    assert len(one.compiled) == len(two.compiled) == 1
    assert fusion.stats()["compiles"] == 2


def test_the_cache_is_bounded_least_recently_used_first(backend, monkeypatch):
    monkeypatch.setattr(fusion, "cache_size", 2)
    be = Fusing(backend.device)
    data = {n: [put(be, np.ones(n), F32)] * 2 for n in (1, 2, 3)}
    for n in (1, 2, 1, 3):          # 3 evicts 2, the least recently used
        fusion.run(be, _axpy(n), data[n], [1.0])
    assert len(be.compiled) == 3
    fusion.run(be, _axpy(1), data[1], [1.0])
    assert len(be.compiled) == 3    # still cached
    fusion.run(be, _axpy(2), data[2], [1.0])
    assert len(be.compiled) == 4    # was evicted, compiled again


def test_declined_expressions_and_hookless_backends_are_evaluated(backend):
    be = Fusing(backend.device, decline=("tanh",))
    x = ir.Input(0, F32, (2,))
    expr = ir.Expr((x,), (), (ir.tanh(x),), (2,))
    data = put(be, [0.0, 1.0], F32)
    for _ in range(2):
        (out,) = fusion.run(be, expr, [data])
        np.testing.assert_allclose(host(be, out), np.tanh([0.0, 1.0]), rtol=1e-6)
    assert be.compiled == [expr.key]           # declining is cached too
    assert fusion.stats() == {"compiles": 1, "hits": 1, "evaluations": 2}
    (out,) = fusion.run(backend, expr, [data])  # the plain numpy backend has no hook
    assert fusion.stats()["evaluations"] == 3


def test_out_aliasing_an_input_through_run(backend):
    be = Fusing(backend.device)
    x, y = put(be, [1, 2, 3], F32), put(be, [10, 10, 10], F32)
    result = fusion.run(be, _axpy(3), [x, y], [2.0], out=[y])
    assert result[0] is y and host(be, y).tolist() == [12, 14, 16]


def test_calls_with_the_wrong_operands_raise_naming_them(backend):
    expr = _axpy(3)
    three = put(backend, [1, 2, 3], F32)
    with pytest.raises(ir.ExprError, match="takes 2 inputs and 1 scalars, got 1 and 1"):
        fusion.run(backend, expr, [three], [1.0])
    with pytest.raises(ir.ExprError, match=r"input 1 has shape \(2,\); .* declares \(3,\)"):
        fusion.run(backend, expr, [three, put(backend, [1, 2], F32)], [1.0])
    with pytest.raises(ir.ExprError, match=r"out\[0\] has shape \(2,\)"):
        fusion.run(backend, expr, [three, three], [1.0], out=[put(backend, [1, 2], F32)])
    with pytest.raises(TypeError, match="needs an ir.Expr"):
        fusion.run(backend, "x + 1", [three])


def test_check_call_is_the_public_check_run_makes_before_any_kernel(backend):
    expr = _axpy(3)
    three = put(backend, [1, 2, 3], F32)
    fusion.check_call(expr, [three, three], [1.0])
    fusion.check_call(expr, [three, three], [1.0], out=[three])
    with pytest.raises(ir.ExprError, match="takes 2 inputs and 1 scalars, got 2 and 0"):
        fusion.check_call(expr, [three, three], [])
    with pytest.raises(ir.ExprError, match="out has 2 arrays; the expression has 1 outputs"):
        fusion.check_call(expr, [three, three], [1.0], out=[three, three])
    # a bad call never reaches the kernel (nor compiles it)
    be = Fusing(backend.device)
    with pytest.raises(ir.ExprError):
        fusion.run(be, expr, [three], [1.0])
    assert be.compiled == []


def test_a_hook_returning_a_non_kernel_is_a_type_error_naming_the_backend(backend):
    class Broken(type(backend)):
        name = "broken-fuser"

        def compile_elementwise(self, expr):
            return "not a kernel"

    with pytest.raises(TypeError, match="'broken-fuser': compile_elementwise returned str"):
        fusion.run(Broken(backend.device), _axpy(1), [put(backend, [1], F32)] * 2, [1.0])
