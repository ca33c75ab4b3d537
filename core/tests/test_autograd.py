"""The autograd engine: higher order, deep graphs, hooks, grad modes, custom Functions, safety."""

import sys
import threading

import numpy as np
import pytest

import micrograd as mg
from micrograd.autograd import Function


def leaf(values, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, requires_grad=True)


# ------------------------------------------------------------ higher order
def test_create_graph_third_derivative():
    x = leaf([0.5, -1.0, 2.0])
    y = (x ** 4).sum()
    (g1,) = mg.autograd.grad(y, x, create_graph=True)
    (g2,) = mg.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = mg.autograd.grad(g2.sum(), x)
    xs = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(g1.detach().numpy(), 4 * xs ** 3)
    np.testing.assert_allclose(g2.detach().numpy(), 12 * xs ** 2)
    np.testing.assert_allclose(g3.numpy(), 24 * xs)
    assert g1.requires_grad and not g3.requires_grad


def test_backward_create_graph_makes_grad_differentiable():
    x = leaf([1.0, 2.0])
    (x.exp() * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    xs = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(xs) * (xs + 2))


def test_hessian_vector_product_through_matmul():
    w = leaf(np.random.default_rng(0).normal(size=(3, 3)))
    x = leaf([1.0, -2.0, 0.5])
    y = ((w @ x).tanh() ** 2).sum()
    (gx,) = mg.autograd.grad(y, x, create_graph=True)
    (hv,) = mg.autograd.grad((gx * mg.tensor([1.0, 0.0, 0.0])).sum(), w)
    assert hv.shape == (3, 3)
    # finite difference of gx[0] with respect to w
    eps = 1e-6
    base = w.detach().numpy()
    want = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            for sign in (1, -1):
                wp = base.copy()
                wp[i, j] += sign * eps
                wt = leaf(wp)
                xt = leaf([1.0, -2.0, 0.5])
                (g,) = mg.autograd.grad(((wt @ xt).tanh() ** 2).sum(), xt)
                want[i, j] += sign * g.numpy()[0] / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), want, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------ deep graphs
def test_hundred_thousand_op_chain_has_no_recursion_limit():
    x = leaf([1.0], dtype=mg.float32)
    y = x
    for _ in range(100_000):
        y = y + 1e-5
    limit = sys.getrecursionlimit()
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    assert x.grad.tolist() == [1.0]
    assert abs(y.item() - 2.0) < 1e-2


def test_diamond_graph_accumulates_each_path():
    x = leaf([3.0])
    a = x * 2
    b = x * x
    (a + b + a * b).sum().backward()       # d/dx (2x + x^2 + 2x^3) = 2 + 2x + 6x^2
    assert x.grad.tolist() == [2 + 6 + 54]


# ------------------------------------------------------------ accumulation, retain_graph
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_grad_is_not_aliased_between_leaves():
    a, b = leaf([1.0]), leaf([1.0])
    (a + b).sum().backward()
    a.grad.mul_(10)
    assert b.grad.tolist() == [1.0]


def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert np.allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]) * (np.array([1.0, 2.0]) + 1))
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


# ------------------------------------------------------------ grad modes
def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @mg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and mg.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0])
    with mg.no_grad():
        with mg.enable_grad():
            assert (x * 2).requires_grad

        @mg.enable_grad()
        def f(t):
            return t * 2
        assert f(x).requires_grad
        assert not (x * 2).requires_grad


def test_set_grad_enabled_context_decorator_and_call():
    x = leaf([1.0])
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @mg.set_grad_enabled(False)
    def f(t):
        return t * 2
    assert mg.is_grad_enabled()
    assert not f(x).requires_grad
    mg.set_grad_enabled(False)
    try:
        assert not mg.is_grad_enabled()
    finally:
        mg.set_grad_enabled(True)
    assert mg.is_grad_enabled()


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with mg.no_grad():
            raise ValueError
    assert mg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = []
    with mg.no_grad():
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# ------------------------------------------------------------ detach, hooks, retain_grad
def test_detach_shares_storage_and_blocks_gradient():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    assert x.grad.tolist() == [1.0, 2.0]
    d2 = x.detach()
    d2[0] = 7.0
    assert x[0].item() == 7.0


def test_register_hook_on_leaf_replaces_gradient():
    x = leaf([1.0, 2.0])
    calls = []
    handle = x.register_hook(lambda g: calls.append(g.tolist()) or g * 10)
    (x * 3).sum().backward()
    assert calls == [[3.0, 3.0]] and x.grad.tolist() == [30.0, 30.0]
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0] and len(calls) == 1


def test_register_hook_on_non_leaf():
    x = leaf([1.0, 2.0])
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.register_hook(lambda g: g + 1)
    (y * y).sum().backward()
    assert seen == [[4.0, 8.0]]
    assert x.grad.tolist() == [10.0, 18.0]      # (2y + 1) * 2
    assert y.grad is None


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mg.ones(2).register_hook(lambda g: g)


def test_retain_grad():
    x = leaf([1.0, 2.0])
    y = x * x
    y.retain_grad()
    assert y.retains_grad
    z = (y * 3).sum()
    z.backward()
    assert y.grad.tolist() == [3.0, 3.0] and x.grad.tolist() == [6.0, 12.0]


# ------------------------------------------------------------ autograd.grad
def test_autograd_grad_returns_without_accumulating():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    gx, gw = mg.autograd.grad((x * w).sum(), (x, w))
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None


def test_autograd_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        mg.autograd.grad((x * 2).sum(), (x, unused))
    gx, gu = mg.autograd.grad((x * 2).sum(), (x, unused), allow_unused=True)
    assert gx.tolist() == [2.0] and gu is None


def test_autograd_grad_with_grad_outputs():
    x = leaf([1.0, 2.0, 3.0])
    (g,) = mg.autograd.grad(x * x, x, grad_outputs=mg.tensor([1.0, 0.5, 0.0], dtype=mg.float64))
    assert g.tolist() == [2.0, 2.0, 0.0]
    with pytest.raises(RuntimeError, match=r"\(2,\).*\(3,\)"):
        mg.autograd.grad(x * x, x, grad_outputs=mg.ones(2, dtype=mg.float64))


def test_backward_inputs_argument_only_fills_those():
    x, w = leaf([1.0]), leaf([2.0])
    (x * w).sum().backward(inputs=[w])
    assert w.grad.tolist() == [1.0] and x.grad is None


def test_non_scalar_backward_raises_naming_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()
    (x * 2).backward(mg.tensor([1.0, 1.0], dtype=mg.float64))
    assert x.grad.tolist() == [2.0, 2.0]


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(2).sum().backward()


def test_broadcast_gradient_reduced_to_input_shape():
    a = leaf(np.ones((3, 1)))
    b = leaf(np.ones((4,)))
    c = leaf(2.0)
    (a * b * c).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.tolist() == [[8.0]] * 3
    assert b.grad.shape == (4,) and b.grad.tolist() == [6.0] * 4
    assert c.grad.shape == () and c.grad.item() == 12.0


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        mg.tensor([1, 2], requires_grad=True)
    x = leaf([1.0, 2.0])
    assert not x.argmax().requires_grad and not (x > 1).requires_grad


# ------------------------------------------------------------ custom Function
class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x ** 3 * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2 * ctx.scale, None


def test_custom_function_save_for_backward():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    assert y.tolist() == [2.0, 16.0]
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 24.0]


def test_custom_function_composes_and_supports_double_backward():
    x = leaf([1.0, 2.0])
    (g,) = mg.autograd.grad(Cube.apply(x.sin(), 1.0).sum(), x, create_graph=True)
    xs = np.array([1.0, 2.0])
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.sin(xs) ** 2 * np.cos(xs))
    (g2,) = mg.autograd.grad(g.sum(), x)
    want = 6 * np.sin(xs) * np.cos(xs) ** 2 - 3 * np.sin(xs) ** 3
    np.testing.assert_allclose(g2.numpy(), want)


def test_custom_function_saved_tensor_modified_raises():
    x = leaf([1.0, 2.0])
    h = x * 1
    y = Cube.apply(h, 1.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ------------------------------------------------------------ in-place safety
def test_modifying_a_saved_tensor_raises_at_backward():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = h.exp()            # exp saves its output or input
    z = h * h              # mul saves both operands
    h.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1"):
        z.sum().backward()
    del y


def test_modifying_saved_output_raises():
    x = leaf([0.5])
    y = x.sigmoid()
    y.add_(1)
    with pytest.raises(RuntimeError, match="inplace"):
        y.sum().backward()


def test_setitem_on_non_leaf_is_differentiable():
    x = leaf([1.0, 2.0, 3.0])
    h = x * 2
    h[1] = x[0] * 5
    h.sum().backward()
    assert h.tolist() == [2.0, 5.0, 6.0] and x.grad.tolist() == [7.0, 0.0, 2.0]


def _same_in_micrograd_and_torch(scenario):
    """Run ``scenario(lib)`` with micrograd and with torch; their results must be equal."""
    torch = pytest.importorskip("torch")
    ours, theirs = scenario(mg), scenario(torch)
    assert ours == theirs


def test_in_place_through_an_index_view_of_a_graph_tensor_like_torch():
    # PyTorch records such writes on the base (CopySlices); micrograd assigns base[key] = new.
    def scenario(lib):
        x = lib.arange(12.0).reshape(3, 4).requires_grad_()
        y = x * 1
        y[1] += 5                       # the idiom: y.__setitem__(1, y[1].__iadd__(5))
        y[:, 0] *= 2
        v = y[0, 1:]
        v.mul_(x[0, :3])                # a named view, then a nested view
        v[1:].sub_(1)
        (y * lib.arange(12.0).reshape(3, 4)).sum().backward()
        return y.tolist(), v.tolist(), x.grad.tolist()
    _same_in_micrograd_and_torch(scenario)


def test_in_place_on_views_autograd_cannot_follow_is_refused_clearly():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[1:].add_(1)
    y = x * 1
    with pytest.raises(RuntimeError, match="reshape\\(\\) may copy, use view\\(\\)"):
        y.reshape(2, 2).add_(1)
    with pytest.raises(RuntimeError, match="only of views made by indexing"):
        y.expand(2, 4).add_(1)


def test_in_place_through_view_permute_and_unsqueeze_like_torch():
    def scenario(lib):
        x = lib.arange(6.0).reshape(2, 3).requires_grad_()
        y = x * 1
        v = y.view(3, 2)
        v.add_(1)
        v[1] *= x[0, :2]
        t = y.T
        t[0] += 10
        t.mul_(2)
        y.unsqueeze(0)[0, 1, 1:] -= 3
        (y * lib.arange(6.0).reshape(2, 3)).sum().backward()
        return y.tolist(), v.tolist(), t.tolist(), x.grad.tolist()
    _same_in_micrograd_and_torch(scenario)


def test_in_place_on_a_plain_view_bumps_the_shared_version():
    base = mg.tensor([1.0, 2.0, 3.0])
    x = leaf([1.0, 1.0, 1.0], dtype=mg.float32)
    y = x * base                 # saves base (same dtype, so not a cast copy)
    base[1:].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_in_place_on_leaf_requiring_grad_raises():
    x = leaf([1.0, 2.0])
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(),
               lambda t: t.fill_(3), lambda t: t.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op(x)
    with mg.no_grad():
        x.add_(1)              # allowed, like an optimizer step
    assert x.tolist() == [2.0, 3.0]


def test_in_place_on_non_leaf_is_differentiable():
    x = leaf([1.0, 2.0])
    y = x * 2
    y.mul_(x)               # y = 2x^2
    y.add_(1)
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    assert y.tolist() == [3.0, 9.0]


def test_in_place_dtype_rule():
    x = mg.tensor([1, 2])
    with pytest.raises(RuntimeError, match="float32 can't be cast.*int64"):
        x.add_(0.5)
    y = mg.tensor([1.0, 2.0])
    y.add_(mg.tensor([1, 1]))
    assert y.dtype is mg.float32 and y.tolist() == [2.0, 3.0]


def test_in_place_shape_rule():
    x = mg.zeros(2, 3)
    x.add_(mg.ones(3))
    with pytest.raises(RuntimeError, match=r"\[3\].*\[2, 3\]|\[2, 3\]"):
        mg.zeros(3).add_(mg.ones(2, 3))


def test_version_counter_increments():
    x = mg.zeros(3)
    v0 = x._version[0]
    x.add_(1)
    x[0] = 2.0
    assert x._version[0] == v0 + 2


def test_requires_grad_on_non_leaf_rules():
    x = leaf([1.0])
    y = x * 2
    assert not y.is_leaf and y.grad_fn is not None
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad_(False)
    assert y.grad is None


def test_zero_norm_and_constant_std_have_zero_gradient_like_torch():
    for fn in (lambda t: t.norm(), lambda t: t.std(), lambda t: t.std(0, correction=0),
               lambda t: t.norm(dim=0)):
        x = leaf([2.0, 2.0, 2.0])
        fn(x - 2.0).sum().backward()          # a zero vector, and a constant one for std
        assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = leaf([3.0, 4.0])
    x.norm().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.6, 0.8])


def test_floor_divide_is_not_differentiable_like_torch():
    x = leaf([5.5, -3.5])
    with pytest.raises(RuntimeError, match="floor_divide"):
        (x // 2).sum().backward()
    x.floor().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("overwrite", [lambda t: t.zero_(), lambda t: t.fill_(3.0),
                                       lambda t: t.copy_(mg.ones(2, dtype=mg.float64))])
def test_overwriting_a_graph_tensor_cuts_its_history(overwrite):
    x = leaf([1.0, 2.0])
    y = x * 2
    overwrite(y)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]       # torch: zeros, not the old 2.0


def test_copy_into_constant_tensor_takes_the_sources_graph():
    x = leaf([1.0, 2.0])
    y = mg.zeros(3, dtype=mg.float64)
    y[1:] = x * 5
    y.copy_(y * 2)
    y.sum().backward()
    assert x.grad.tolist() == [10.0, 10.0]


def test_fill_with_non_scalar_tensor_raises():
    with pytest.raises(RuntimeError, match="0-dimension"):
        mg.zeros(3).fill_(mg.tensor([2.5]))
    assert mg.zeros(2).fill_(mg.tensor(2.5)).tolist() == [2.5, 2.5]


class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return mg.ones(3, dtype=mg.float64)


class BroadcastGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(4, 2)       # broadcasts to x's (2,): summed down, as in torch


def test_custom_function_gradient_shape_is_validated():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"WrongShapeBackward.*index 0.*\[3\].*\[2\]"):
        (WrongShape.apply(x * 1) * 3).sum().backward()
    BroadcastGrad.apply(x * 1).backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_custom_function_needs_input_grad_and_no_grad():
    seen = []

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, y, k):
            ctx.save_for_backward(x, y)
            ctx.k = k
            return x * y * k

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensors
            seen.append(ctx.needs_input_grad)
            return grad * y * ctx.k, grad * x * ctx.k, None

    x, y = leaf([1.0, 2.0]), mg.tensor([3.0, 4.0], dtype=mg.float64)
    Scale.apply(x, y, 2.0).sum().backward()
    assert seen == [(True, False, False)] and x.grad.tolist() == [6.0, 8.0]
    with mg.no_grad():
        out = Scale.apply(x, y, 2.0)
    assert not out.requires_grad and out.grad_fn is None


def test_gradients_take_their_tensors_dtype():
    x = leaf([1.0, 2.0], dtype=mg.float32)
    (x * 2).backward(mg.ones(2, dtype=mg.float64))
    assert x.grad.dtype is mg.float32
    (g,) = mg.autograd.grad(x * 2, x, mg.ones(2, dtype=mg.float16))
    assert g.dtype is mg.float32


def test_hook_may_not_change_shape_or_dtype():
    x = leaf([1.0, 2.0], dtype=mg.float32)
    x.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="float32 \\[2\\] to float64 \\[2\\]"):
        (x * 2).sum().backward()
    y = leaf([1.0, 2.0]) * 1
    y.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match="same shape and dtype"):
        y.sum().backward()


def test_assigning_grad_is_checked_like_torch():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"different size.*\(1,\).*\(2,\)"):
        x.grad = mg.zeros(1, dtype=mg.float64)
    with pytest.raises(RuntimeError, match="different type.*float32.*float64"):
        x.grad = mg.zeros(2)
    with pytest.raises(TypeError, match="Tensor or None"):
        x.grad = [0.0, 0.0]
    x.grad = mg.ones(2, dtype=mg.float64)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    assert x.grad is None


# ------------------------------------------- custom Function flags, against torch
def _flag_functions(base):
    """The same custom Functions written on micrograd's and on torch's ``Function``."""

    class Double(base):
        @staticmethod
        def forward(ctx, x, materialize, seen):
            ctx.set_materialize_grads(materialize)
            ctx.seen = seen
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            ctx.seen.append(None if grad is None else grad.tolist())
            return None if grad is None else grad * 2, None, None

    class NoGradient(base):          # its backward gives its input no gradient at all
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return None

    class Marked(base):
        @staticmethod
        def forward(ctx, x, which):
            out = x.sign()
            ctx.mark_non_differentiable({"out": out, "input": x, "other": x * 3}[which])
            return x if which == "input" else out

        @staticmethod
        def backward(ctx, grad):
            return grad * 0 + 7, None

    return Double, NoGradient, Marked


def _both():
    import torch
    return ((mg, _flag_functions(Function)),
            (torch, _flag_functions(torch.autograd.Function)))


def _leaf(lib, values):
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


@pytest.mark.parametrize("materialize", [True, False])
def test_materialize_grads_decides_what_backward_gets_without_a_gradient(materialize):
    results = []
    for lib, (Double, NoGradient, _) in _both():
        seen = []
        x = _leaf(lib, [1.0, -2.0, 3.0])
        NoGradient.apply(Double.apply(x, materialize, seen)).sum().backward()
        results.append((seen, None if x.grad is None else x.grad.tolist()))
    ours, torchs = results
    assert ours == torchs
    assert ours == (([[0.0, 0.0, 0.0]], [0.0, 0.0, 0.0]) if materialize else ([None], None))


def test_materialised_grads_are_not_needed_when_a_gradient_arrives():
    for lib, (Double, _, _) in _both():
        seen = []
        x = _leaf(lib, [1.0, -2.0])
        Double.apply(x, False, seen).sum().backward()
        assert seen == [[1.0, 1.0]] and x.grad.tolist() == [2.0, 2.0], lib.__name__


@pytest.mark.parametrize("which", ["out", "input", "other"])
def test_mark_non_differentiable_matches_torch(which):
    results = []
    for lib, (_, _, Marked) in _both():
        x = _leaf(lib, [1.5, -2.0, 0.5])
        y = Marked.apply(x, which)
        record = [y.requires_grad, y.grad_fn is None, y is x]
        (y * x).sum().backward()
        record.append(x.grad.tolist())
        results.append(record)
    ours, torchs = results
    assert ours == torchs
    if which == "other":    # marking a tensor forward does not return changes nothing
        assert ours[:2] == [True, False] and ours[3] == [8.0, 6.0, 8.0]   # 7 + sign(x)
    else:                   # not differentiable: only the product's own path gives x a gradient
        assert ours[:3] == [False, True, False]


def test_leaf_grads_are_detached_and_unaliased_when_stored_without_a_copy():
    # AccumulateGrad keeps a gradient made in the pass as it is (no second Tensor): it must
    # still be outside the graph, and two leaves fed one storage (add's backward hands both
    # inputs the same tensor) must not share it.
    import numpy as np
    import micrograd as mg
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    for g in (a.grad, b.grad):
        assert g.grad_fn is None and not g.requires_grad and g._base is None
    a.grad.mul_(10)                       # an in-place update of one leaf's grad ...
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])   # ... leaves the other's alone
    # a gradient the user passes in that requires grad is detached before it is stored
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seed = mg.tensor([0.5, 0.25], requires_grad=True)
    x.backward(seed)
    assert x.grad.grad_fn is None and not x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.numpy(), [0.5, 0.25])
