"""The oracles core/tests compare micrograd against: PyTorch, numpy float64, finite differences.

``check`` is the tinygrad-style helper: it runs the same expression in micrograd and PyTorch on
the same seeded inputs, compares the values, then backpropagates the same random upstream
gradient through both and compares the gradients. On a mismatch it prints both shapes.
``gradcheck`` needs nothing but numpy: central differences in float64.
"""

from __future__ import annotations

import numpy as np

import micrograd as mg

# One place for tolerances: float64 must agree closely, float32 to single precision.
TOLERANCES = {
    mg.float64: dict(rtol=1e-7, atol=1e-9),
    mg.float32: dict(rtol=2e-5, atol=1e-5),
    mg.float16: dict(rtol=2e-3, atol=2e-3),
    mg.bfloat16: dict(rtol=2e-2, atol=2e-2),
}


def random_inputs(shapes, *, seed=0, low=-2.0, high=2.0, dtype=np.float64):
    """Seeded host arrays; ``shapes`` may contain ready arrays, which are passed through."""
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if isinstance(s, np.ndarray):
            out.append(s)
        else:
            out.append(rng.uniform(low, high, size=s).astype(dtype))
    return out


def assert_close(actual, expected, what: str, *, rtol, atol):
    """Compare host arrays; the message names both shapes and the largest difference."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape mismatch, micrograd {actual.shape} vs oracle "
                             f"{expected.shape}")
    if actual.size and not np.allclose(actual.astype(np.float64), expected.astype(np.float64),
                                       rtol=rtol, atol=atol, equal_nan=True):
        diff = np.nanmax(np.abs(actual.astype(np.float64) - expected.astype(np.float64)))
        raise AssertionError(f"{what}: values differ (max abs diff {diff:g}, shape "
                             f"{actual.shape}, rtol={rtol}, atol={atol})\nmicrograd:\n{actual}\n"
                             f"oracle:\n{expected}")


def _to_host(x):
    if isinstance(x, mg.Tensor):
        return x.detach().float().numpy() if x.dtype is mg.bfloat16 else x.detach().numpy()
    return x.detach().float().numpy() if str(x.dtype) == "torch.bfloat16" else x.detach().numpy()


def check(fn_mg, fn_torch, shapes, *, dtype=mg.float64, seed=0, low=-2.0, high=2.0, grad=True,
          rtol=None, atol=None, grad_rtol=None, grad_atol=None):
    """Run ``fn_mg`` on micrograd tensors and ``fn_torch`` on torch tensors made from the same
    seeded inputs; compare outputs and (with ``grad``) gradients of every input."""
    import torch

    tol = TOLERANCES[dtype]
    rtol = tol["rtol"] if rtol is None else rtol
    atol = tol["atol"] if atol is None else atol
    hosts = random_inputs(shapes, seed=seed, low=low, high=high)
    torch_dtype = getattr(torch, dtype.name)
    xs_mg = [mg.tensor(h, dtype=dtype, requires_grad=grad) for h in hosts]
    xs_t = [torch.tensor(h, dtype=torch_dtype, requires_grad=grad) for h in hosts]
    out_mg = fn_mg(*xs_mg)
    out_t = fn_torch(*xs_t)
    assert out_mg.dtype.name == str(out_t.dtype).removeprefix("torch."), \
        f"dtype: micrograd {out_mg.dtype} vs torch {out_t.dtype}"
    assert_close(_to_host(out_mg), _to_host(out_t), "forward", rtol=rtol, atol=atol)
    if not grad:
        return out_mg, out_t
    upstream = np.random.default_rng(seed + 1).uniform(-1, 1, size=tuple(out_t.shape))
    (out_mg * mg.tensor(upstream, dtype=out_mg.dtype)).sum().backward()
    (out_t * torch.tensor(upstream, dtype=out_t.dtype)).sum().backward()
    for i, (a, b) in enumerate(zip(xs_mg, xs_t)):
        if b.grad is None:
            assert a.grad is None or not np.any(_to_host(a.grad)), f"grad {i}: torch has none"
            continue
        assert a.grad is not None, f"grad {i}: micrograd produced none, torch {tuple(b.grad.shape)}"
        assert_close(_to_host(a.grad), _to_host(b.grad), f"grad of input {i}",
                     rtol=rtol if grad_rtol is None else grad_rtol,
                     atol=atol if grad_atol is None else grad_atol)
    return out_mg, out_t


def gradcheck(fn, shapes, *, seed=0, low=-2.0, high=2.0, eps=1e-6, rtol=1e-5, atol=1e-7):
    """Compare micrograd's gradients of ``fn`` (float64) with central finite differences of
    ``<fn(x), v>`` for a random upstream ``v``."""
    hosts = random_inputs(shapes, seed=seed, low=low, high=high)
    xs = [mg.tensor(h, dtype=mg.float64, requires_grad=True) for h in hosts]
    out = fn(*xs)
    v = np.random.default_rng(seed + 1).uniform(-1, 1, size=tuple(out.shape))
    grads = mg.autograd.grad((out * mg.tensor(v)).sum(), xs, allow_unused=True)

    def objective(arrays):
        # inputs require grad so that fn may itself differentiate (second-order checks)
        y = fn(*[mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays])
        return float(np.sum(y.detach().numpy() * v))

    for i, host in enumerate(hosts):
        numeric = np.zeros_like(host)
        flat = numeric.reshape(-1)
        for j in range(host.size):
            plus = [h.copy() for h in hosts]
            minus = [h.copy() for h in hosts]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            flat[j] = (objective(plus) - objective(minus)) / (2 * eps)
        analytic = np.zeros_like(host) if grads[i] is None else grads[i].numpy()
        assert_close(analytic, numeric, f"gradient of input {i} vs finite differences",
                     rtol=rtol, atol=atol)
