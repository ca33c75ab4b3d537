"""Autograd on the backend: every differentiable op's gradient against central finite
differences of the float64 oracle (and PyTorch's gradient where installed), accumulation, and
double backward of every differentiable op (Hessian-vector products against PyTorch)."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance.compare import assert_close
from micrograd_conformance.operands import on_backend
from micrograd_conformance.opspecs import ELEMENTWISE, FLOAT, INDEXING, MOVEMENT, NN, REDUCTIONS
from micrograd_conformance.oracle import finite_difference_gradient, random_values
from micrograd_conformance.tolerances import GRADIENT_SLACK, GRADIENT_VS_FINITE_DIFFERENCES, \
    Tolerance, tolerance

GRAD_DTYPES = (mg.float32, mg.float64)
DIFFERENTIABLE = [s for s in ELEMENTWISE + REDUCTIONS + MOVEMENT + INDEXING + NN if s.grad]
_BLOCK_OPS = {id(s) for s in MOVEMENT + INDEXING}
_REDUCTION_OPS = {id(s) for s in REDUCTIONS}


def _shapes(spec):
    if "shapes" in spec.extra:
        return spec.extra["shapes"]
    return [_shape(spec)] * spec.arity


def _shape(spec):
    if id(spec) in _BLOCK_OPS:
        return (4, 6, 5)
    if id(spec) in _REDUCTION_OPS:
        return (2, 3, 4)
    return (3, 4)


def _gradient_tolerance(dtype):
    own = tolerance(dtype).scaled(GRADIENT_SLACK)
    fd = GRADIENT_VS_FINITE_DIFFERENCES
    return Tolerance(max(own.rtol, fd.rtol), max(own.atol, fd.atol))


def _backend_gradients(spec, values, weight, dtype, backend):
    leaves = [on_backend(v, dtype, backend).requires_grad_() for v in values]
    out = spec.run(*leaves)
    w = mg.tensor(weight, dtype=dtype, device=backend)
    (out * w).sum().backward()
    return leaves, out


def _torch_gradients(spec, values, weight):
    torch = pytest.importorskip("torch")
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = spec.run(*leaves)
    (out * torch.tensor(weight)).sum().backward()
    return [leaf.grad.numpy() if leaf.grad is not None else np.zeros(leaf.shape)
            for leaf in leaves]


@pytest.mark.conformance_dtypes(GRAD_DTYPES)
@pytest.mark.conformance_specs(DIFFERENTIABLE)
def test_gradient(spec, dtype, backend, rng):
    if dtype not in GRAD_DTYPES:
        pytest.skip("gradients are checked in float32 and float64")
    values = [np.asarray(random_values(rng, dtype, shape, d), np.float64)
              for d, shape in zip(spec.domains, _shapes(spec))]
    with np.errstate(all="ignore"):
        reference_out = np.asarray(spec.oracle(*values))
    weight = rng.uniform(-1.0, 1.0, reference_out.shape)
    leaves, _ = _backend_gradients(spec, values, weight, dtype, backend)
    expected = finite_difference_gradient(spec.oracle, values, weight)
    tol = _gradient_tolerance(dtype)
    for i, (leaf, fd) in enumerate(zip(leaves, expected)):
        grad = leaf.grad if leaf.grad is not None else mg.zeros_like(leaf)
        scale = np.full(fd.shape, np.abs(fd).max() if fd.size else 0.0)
        assert_close(grad, fd, backend=backend.name, op=spec.id, dtype=dtype, tol=tol,
                     scale=scale, context=f"gradient of input {i} vs finite differences")
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    for i, (leaf, want) in enumerate(zip(leaves, _torch_gradients(spec, values, weight))):
        grad = leaf.grad if leaf.grad is not None else mg.zeros_like(leaf)
        scale = np.full(want.shape, np.abs(want).max() if want.size else 0.0)
        assert_close(grad, want, backend=backend.name, op=spec.id, dtype=dtype, tol=tol,
                     scale=scale, context=f"gradient of input {i} vs PyTorch")


@pytest.mark.conformance_dtypes(FLOAT)
def test_gradients_accumulate(dtype, backend):
    values = np.array([0.5, -1.0, 2.0])
    x = mg.tensor(values, dtype=dtype, device=backend, requires_grad=True)
    y = (x * x + x.exp()).sum()          # x used twice: the two paths add up
    y.backward(retain_graph=True)
    once = 2 * values + np.exp(values)
    assert_close(x.grad, once, backend=backend.name, op="backward", context="two paths")
    y.backward()                          # a second backward accumulates into .grad
    assert_close(x.grad, 2 * once, backend=backend.name, op="backward",
                 context="second backward accumulates")
    z = mg.tensor(values, dtype=dtype, device=backend, requires_grad=True)
    z.expand(4, 3).sum().backward()       # broadcast gradients sum over the broadcast dim
    assert_close(z.grad, np.full(3, 4.0), backend=backend.name, op="expand",
                 context="gradient of a broadcast")


# Double backward: f(x) elementwise, first derivative known in closed form.
SECOND_ORDER = {
    "tanh": (lambda x: x.tanh(), lambda x: 1 - np.tanh(x) ** 2),
    "exp": (lambda x: x.exp(), np.exp),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "mul": (lambda x: x * x * x, lambda x: 3 * x * x),
    "sin": (lambda x: x.sin(), np.cos),
    "log_softmax": (lambda x: x.log_softmax(-1), None),
}


@pytest.mark.conformance_dtypes((mg.float64,))
@pytest.mark.parametrize("op", sorted(SECOND_ORDER))
def test_double_backward(op, dtype, backend, rng):
    run, derivative = SECOND_ORDER[op]
    values = rng.uniform(-1.5, 1.5, (3, 5))
    v = rng.uniform(-1, 1, values.shape)
    x = mg.tensor(values, dtype=dtype, device=backend, requires_grad=True)
    (g,) = mg.autograd.grad(run(x).sum(), x, create_graph=True)
    (g * mg.tensor(v, dtype=dtype, device=backend)).sum().backward()
    if derivative is not None:
        assert_close(g, derivative(values), backend=backend.name, op=op, tol=_tol2(),
                     context="first derivative with create_graph")
        fd = finite_difference_gradient(derivative, [values], v)[0]
    else:
        torch = pytest.importorskip("torch")
        t = torch.tensor(values, requires_grad=True)
        (tg,) = torch.autograd.grad(run(t).sum(), t, create_graph=True)
        (tg * torch.tensor(v)).sum().backward()
        fd = t.grad.numpy()
    assert_close(x.grad, fd, backend=backend.name, op=op, tol=_tol2(),
                 scale=np.full(fd.shape, np.abs(fd).max()), context="double backward (Hv)")


def _tol2():
    return GRADIENT_VS_FINITE_DIFFERENCES


@pytest.mark.conformance_dtypes((mg.float64,))
def test_double_backward_matmul(dtype, backend, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    w, v = rng.standard_normal((3, 2)), rng.standard_normal((3, 4))
    ta = mg.tensor(a, dtype=dtype, device=backend, requires_grad=True)
    tb = mg.tensor(b, dtype=dtype, device=backend, requires_grad=True)
    loss = (ta @ tb * mg.tensor(w, dtype=dtype, device=backend)).sum()
    (ga,) = mg.autograd.grad(loss, ta, create_graph=True)
    assert_close(ga, w @ b.T, backend=backend.name, op="matmul", context="d/dA")
    (ga * mg.tensor(v, dtype=dtype, device=backend)).sum().backward()
    assert_close(tb.grad, v.T @ w, backend=backend.name, op="matmul",
                 context="d/dB of <d/dA, V>")


@pytest.mark.conformance_dtypes((mg.float64,))
@pytest.mark.conformance_specs(DIFFERENTIABLE)
def test_double_backward_of_every_op(spec, dtype, backend, rng, torch_oracle):
    """Hessian-vector products through every differentiable op: the gradient built with
    ``create_graph=True``, weighted by ``v`` and differentiated again, against PyTorch doing
    the same in float64."""
    torch = torch_oracle
    values = [np.asarray(random_values(rng, dtype, shape, d), np.float64)
              for d, shape in zip(spec.domains, _shapes(spec))]
    with np.errstate(all="ignore"):
        weight = rng.uniform(-1.0, 1.0, np.shape(spec.oracle(*values)))
    vs = [rng.uniform(-1.0, 1.0, np.shape(v)) for v in values]

    def hvp(leaf, constant, grad):
        """Leaves after backward of <grad(<f(x), weight>), v>, for one library."""
        leaves = [leaf(v) for v in values]
        grads = grad((spec.run(*leaves) * constant(weight)).sum(), leaves)
        pairs = [(g, constant(v)) for g, v in zip(grads, vs) if g is not None]
        total = sum((g * v).sum() for g, v in pairs) if pairs else None
        # Linear in x: no graph, and the Hessian is 0. (Whether a first gradient carries a graph
        # is an implementation detail: PyTorch keeps one through avg_pool2d's linear backward.)
        if total is not None and total.requires_grad:
            total.backward()
        return leaves

    leaves = hvp(lambda v: on_backend(v, dtype, backend).requires_grad_(),
                 lambda v: mg.tensor(v, dtype=dtype, device=backend),
                 lambda y, xs: mg.autograd.grad(y, xs, create_graph=True, allow_unused=True))
    reference = hvp(lambda v: torch.tensor(v, requires_grad=True), torch.tensor,
                    lambda y, xs: torch.autograd.grad(y, xs, create_graph=True,
                                                      allow_unused=True))
    tol = _gradient_tolerance(dtype)
    for i, (leaf, ref) in enumerate(zip(leaves, reference)):
        want = ref.grad.numpy(force=True) if ref.grad is not None else np.zeros(ref.shape)
        got = leaf.grad if leaf.grad is not None else mg.zeros_like(leaf)
        assert_close(got, want, backend=backend.name, op=spec.id, dtype=dtype, tol=tol,
                     scale=np.full(want.shape, np.abs(want).max() if want.size else 0.0),
                     context=f"double backward (Hessian-vector product) of input {i}")
