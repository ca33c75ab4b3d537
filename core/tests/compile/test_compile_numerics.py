"""Compiled functions equal eager ones and PyTorch float64 (values and gradients), with
elementwise regions actually fused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import micrograd as mg
from micrograd import compiler

K = math.sqrt(2 / math.pi)


def gelu_tanh(lib, x, b):
    return 0.5 * x * (1 + (K * (x + 0.044715 * x ** 3)).tanh())


def bias_silu(lib, x, b):
    z = x + b                                  # b (5,) broadcasts over x (4, 5)
    return z * (1 / (1 + (-z).exp()))


def scalar_left_operands(lib, x, b):
    return (2 - x) * 3 / (1 + x * x) - 0.5 ** x.abs()


def where_and_compare(lib, x, b):
    return lib.where(x > b, x * b, -x) + lib.maximum(x, b * 0.5)


def activations_inlined(lib, x, b):
    z = x * b + 0.5
    return lib.nn.functional.gelu(z, approximate="tanh") * lib.sigmoid(z) \
        + lib.nn.functional.softplus(z * 2, beta=2.0, threshold=1.0) - lib.nn.functional.silu(z)


def clamp_and_casts(lib, x, b):
    y = (x * 2).clamp(-1.0, 1.5)
    mask = (y > 0).to(x.dtype)                 # a bool -> float cast inside the region
    return y * mask + y.sigmoid() * 0 + (x.exp() - 1).log1p()


def opaque_in_the_middle(lib, x, b):
    h = (x * 1.5 + b).tanh()                   # region 1
    s = h.sum(1, keepdim=True)                 # an opaque op reads region 1
    return (h - s / 5) * h                     # region 2 reads region 1's output and s


def matmul_block(lib, x, b):
    h = x @ x.transpose(0, 1)                  # (4, 4)
    return (h * 0.1 + 1).sqrt() - h.cos() * b[:4]


def two_outputs(lib, x, b):
    y = x * b
    return y.exp(), (y - 1) * (y + 1)


def intermediate_used_twice(lib, x, b):
    y = x.sin() * b
    z = y.sum()                                # y leaves region 1 and is also used after
    return y * y + z, y


def broadcast_column(lib, x, b):
    col = x[:, :1]                             # a (4, 1) view, non-contiguous
    return (x - col) ** 2 * b + col.abs()


def relu_in_regions(lib, x, b):
    z = x * b + 0.5
    return lib.relu(z) * x - lib.nn.functional.relu(x - b).exp()


FUNCTIONS = [gelu_tanh, relu_in_regions, bias_silu, scalar_left_operands, where_and_compare, activations_inlined,
             clamp_and_casts,
             opaque_in_the_middle, matmul_block, two_outputs, intermediate_used_twice,
             broadcast_column]


def _grad(t, like):
    """A leaf's gradient as numpy; zeros for an input the function does not use."""
    return np.zeros_like(like) if t.grad is None else t.grad.numpy()


def _torch_reference(fn, x, b):
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    outs = fn(torch, tx, tb)
    outs = outs if isinstance(outs, tuple) else (outs,)
    sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
    return [o.detach().numpy() for o in outs], _grad(tx, np.asarray(x)), _grad(tb, np.asarray(b))


def _run(compiled, x, b):
    mx = mg.tensor(x, requires_grad=True)
    mb = mg.tensor(b, requires_grad=True)
    outs = compiled(mx, mb)
    outs = outs if isinstance(outs, tuple) else (outs,)
    sum(o.sum() * (i + 1) for i, o in enumerate(outs)).backward()
    return [o.detach().numpy() for o in outs], _grad(mx, x), _grad(mb, b)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_compiled_values_and_grads_match_torch_float64(backend, fn):
    rng = np.random.default_rng(0)
    compiled = mg.compile(lambda x, b: fn(mg, x, b))
    for call in range(3):                      # the trace (eager), then two replays
        x = rng.standard_normal((4, 5)).astype(np.float32)
        b = rng.standard_normal(5).astype(np.float32)
        outs, gx, gb = _run(compiled, x, b)
        t_outs, t_gx, t_gb = _torch_reference(fn, x, b)
        for o, t in zip(outs, t_outs):
            np.testing.assert_allclose(o, t, rtol=2e-5, atol=2e-5, err_msg=f"call {call}")
        np.testing.assert_allclose(gx, t_gx, rtol=1e-4, atol=1e-4, err_msg=f"call {call}")
        np.testing.assert_allclose(gb, t_gb, rtol=1e-4, atol=1e-4, err_msg=f"call {call}")
    stats = compiler.stats(compiled)
    assert stats["compiles"] == 1 and stats["cache_hits"] == 2 and stats["eager_calls"] == 0
    assert stats["fused_regions"] >= 1 and stats["fused_ops"] >= 2


def test_gelu_is_one_region_with_one_fused_backward(backend):
    compiled = mg.compile(lambda x: gelu_tanh(mg, x, None))
    x = mg.randn(64, requires_grad=True)
    compiled(x)
    y = compiled(x)
    stats = compiler.stats(compiled)
    assert (stats["fused_regions"], stats["fused_ops"], stats["traced_ops"]) == (1, 8, 8)
    if backend == "numpy":     # no native fused kernel: the region saves what eager saves
        assert y.grad_fn.name() != "FusedBackward0"
        return
    assert y.grad_fn.name() == "FusedBackward0"
    assert all(edge is None or type(edge).__name__ == "AccumulateGrad"
               for edge in y.grad_fn.next_functions)   # nothing between x and the region


def test_a_fused_region_without_grad_records_no_graph(backend):
    compiled = mg.compile(lambda x: (x * 2 + 1).exp())
    x = mg.randn(8)
    compiled(x)
    y = compiled(x)
    assert y.grad_fn is None and not y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.exp(x.numpy() * 2 + 1), rtol=1e-6)


def test_integer_and_bool_regions_fuse_and_match_numpy(backend):
    compiled = mg.compile(lambda a, b: ((a * 3 + b) % 7 - (a > b).to(mg.int32)) * 2)
    a_np = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    b_np = np.arange(12, dtype=np.int32).reshape(3, 4) // 3
    expected = ((a_np * 3 + b_np) % 7 - (a_np > b_np).astype(np.int32)) * 2
    for _ in range(2):
        out = compiled(mg.tensor(a_np), mg.tensor(b_np))
        assert out.dtype is mg.int32
        np.testing.assert_array_equal(out.numpy(), expected)
    assert compiler.stats(compiled)["fused_regions"] >= 1


def test_float16_inputs_promoted_by_a_python_float(backend):
    compiled = mg.compile(lambda x: (x * 0.5 + 1).tanh())
    x = mg.tensor(np.linspace(-2, 2, 9, dtype=np.float16))
    eager = (x * 0.5 + 1).tanh()
    compiled(x)
    out = compiled(x)
    assert out.dtype is mg.float16
    np.testing.assert_allclose(out.numpy().astype(np.float32),
                               eager.numpy().astype(np.float32), rtol=2e-3, atol=2e-3)


def test_empty_and_zero_d_inputs(backend):
    compiled = mg.compile(lambda x, s: (x - s).exp() * s)
    for shape in ((0, 3), ()):
        x = mg.randn(*shape)
        s = mg.tensor(0.5)
        for _ in range(2):
            out = compiled(x, s)
            np.testing.assert_allclose(out.numpy(), np.exp(x.numpy() - 0.5) * 0.5, rtol=1e-6)
            assert tuple(out.shape) == shape


def test_double_backward_through_a_fused_region_matches_torch(backend):
    compiled = mg.compile(lambda x: (x * x).exp() * 2 + x.sigmoid() * x)
    x_np = np.random.default_rng(1).standard_normal(4).astype(np.float32)
    x = mg.tensor(x_np, requires_grad=True)
    compiled(x)
    (g,) = mg.autograd.grad(compiled(x).sum(), x, create_graph=True)
    (gg,) = mg.autograd.grad(g.sum(), x)
    tx = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(((tx * tx).exp() * 2 + tx.sigmoid() * tx).sum(), tx,
                                create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-4)
    assert compiler.stats(compiled)["fused_ops"] == 6       # the sigmoid is inlined too


def test_nested_compiled_functions_are_inlined(backend):
    inner = mg.compile(lambda x: x * 2 + 1)
    outer = mg.compile(lambda x: inner(x).tanh() * 3)
    x = mg.randn(5)
    for _ in range(3):
        np.testing.assert_allclose(outer(x).numpy(), np.tanh(x.numpy() * 2 + 1) * 3, rtol=1e-6)
    assert compiler.stats(outer)["fused_ops"] == 4
    assert compiler.stats(inner)["compiles"] == 0


def test_outputs_keep_their_identity_when_the_function_returns_an_input(backend):
    compiled = mg.compile(lambda x, y: (x, y * 2))
    x, y = mg.randn(2), mg.randn(2)
    compiled(x, y)
    a, b = compiled(x, y)
    assert a is x
    np.testing.assert_allclose(b.numpy(), y.numpy() * 2)


def _has_native_kernels(backend: str) -> bool:
    from micrograd.ops.creation import default_backend
    return getattr(default_backend(), "compile_elementwise", None) is not None


def test_relu_fuses_with_eager_and_torch_subgradient_at_zero(backend):
    compiled = mg.compile(lambda x: (x * 2).relu() * 3 + 1)
    x_np = np.array([-1.0, 0.0, 0.0, 2.0, -0.0, 0.5], dtype=np.float32)
    for _ in range(2):
        x = mg.tensor(x_np, requires_grad=True)
        y = compiled(x)
        y.sum().backward()
        np.testing.assert_allclose(y.detach().numpy(), np.maximum(x_np * 2, 0) * 3 + 1)
        np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 6, 0, 6])
    x = mg.tensor([float("nan"), 0.0, 1.0], requires_grad=True)
    for f in (compiled, lambda x: (x * 2).relu() * 3 + 1):      # torch: nan passes its grad
        x.grad = None
        f(x).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [6, 0, 6])
    assert compiler.stats(compiled)["fused_ops"] == 4      # mul, relu, mul, add: one region
    nan = compiled(mg.tensor([float("nan"), -1.0]))
    assert np.isnan(nan.numpy()[0]) and nan.numpy()[1] == 1.0      # relu(nan) is nan


def test_a_multi_output_region_backward_is_one_kernel(backend):
    from micrograd import fusion
    def three_outputs(x, b):
        y = x * b
        return y.exp(), (y - 1) * (x + 1), (y > 0.5)
    compiled = mg.compile(three_outputs)
    x_np = np.random.default_rng(5).standard_normal((4, 5)).astype(np.float32)
    b_np = np.random.default_rng(6).standard_normal(5).astype(np.float32)
    native = _has_native_kernels(backend)
    compiled(mg.tensor(x_np, requires_grad=True), mg.tensor(b_np, requires_grad=True))  # trace
    for used in ((0, 1), (1,), (0, 1)):                # every output, then one of them
        x = mg.tensor(x_np, requires_grad=True)
        b = mg.tensor(b_np, requires_grad=True)
        outs = compiled(x, b)
        fusion.reset_stats()
        sum(outs[k].sum() * (k + 1) for k in used).backward()
        counts = fusion.stats()
        if native:
            assert counts["hits"] + counts["compiles"] == 1, counts
            assert counts["evaluations"] == 0
        tx = torch.tensor(x_np, dtype=torch.float64, requires_grad=True)
        tb = torch.tensor(b_np, dtype=torch.float64, requires_grad=True)
        touts = ((tx * tb).exp(), (tx * tb - 1) * (tx + 1))
        sum(touts[k].sum() * (k + 1) for k in used).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(outs[2].numpy(), x_np * b_np > 0.5)
    assert compiler.stats(compiled)["fused_regions"] == 1


def test_multi_output_region_supports_retain_graph_and_double_backward(backend):
    compiled = mg.compile(lambda x: ((x * x).sin(), x.exp() * x))
    x_np = np.linspace(-1, 1, 6).astype(np.float64)
    compiled(mg.tensor(x_np))
    x = mg.tensor(x_np, requires_grad=True)
    a, c = compiled(x)
    total = a.sum() + c.sum() * 2
    (g,) = mg.autograd.grad(total, x, create_graph=True, retain_graph=True)
    (g_again,) = mg.autograd.grad(total, x, retain_graph=True)
    (gg,) = mg.autograd.grad(g.sum(), x)
    tx = torch.tensor(x_np, requires_grad=True)
    t_total = (tx * tx).sin().sum() + (tx.exp() * tx).sum() * 2
    (tg,) = torch.autograd.grad(t_total, tx, create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(g_again.numpy(), tg.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-10)


def test_without_native_kernels_a_region_saves_instead_of_recomputing(backend):
    from micrograd import fusion
    compiled = mg.compile(lambda x: (x * 2 + 1).tanh() * x)
    x = mg.randn(16, requires_grad=True)
    compiled(x)
    fusion.reset_stats()
    y = compiled(x)
    native = _has_native_kernels(backend)
    assert (y.grad_fn.name() == "FusedBackward0") is native
    with mg.no_grad():
        compiled(x)                                      # traced again (grad mode is guarded)
        fusion.reset_stats()
        compiled(x)                                      # no graph: fused on every backend
    assert fusion.stats()["hits" if native else "evaluations"] == 1


@pytest.mark.parametrize("name", ["relu", "sigmoid", "silu", "gelu", "gelu_tanh", "softplus"])
def test_each_fusible_forward_differentiates_to_its_derivative_at_the_kinks(backend, name):
    """What compile inlines (formulas.FUSIBLE_ACTIVATIONS) has, through ir.vjp, the gradient
    eager code gives (formulas.ACTIVATIONS' derivative), zero and the softplus threshold
    included; and the same values as the activation's own forward."""
    from micrograd.fusion import formulas, ir
    from micrograd.ops.creation import default_backend
    be = default_backend()
    params = (2.0, 1.0) if name == "softplus" else ()
    xv = np.concatenate([np.linspace(-4, 4, 61), [0.0, -0.0, 0.5, np.nan]])
    gv = np.random.default_rng(0).uniform(-1, 1, xv.size)
    host = be.to_host
    xv, gv = (mg.tensor(v, dtype=mg.float64)._data for v in (xv, gv))
    x_node = ir.Input(0, mg.float64, xv.shape)
    inlined = ir.Expr((x_node,), (), (formulas.FUSIBLE_ACTIVATIONS[name](x_node, *params),),
                      xv.shape)
    forward = formulas.activation(name, mg.float64, xv.shape, params)
    (y,) = ir.evaluate(be, forward, [xv])
    (y_inlined,) = ir.evaluate(be, inlined, [xv])
    np.testing.assert_array_equal(host(y_inlined), host(y))
    saved = y if formulas.ACTIVATIONS[name][2] == "y" else xv
    backward = formulas.activation_backward(name, mg.float64, xv.shape, params)
    (expected,) = ir.evaluate(be, backward, [saved, gv])
    (auto,) = ir.evaluate(be, ir.vjp(inlined, [0]), [xv, gv])
    np.testing.assert_allclose(host(auto), host(expected), rtol=1e-12, atol=1e-14)
