"""Run a micrograd module and its PyTorch twin from the same weights, forward and backward.

``compare`` loads the PyTorch module's state dict into the micrograd one (through numpy), calls
both on the same seeded inputs, compares every output, then backpropagates the same random
upstream gradients through both and compares the gradients of every floating input and of every
parameter (by name). Mismatches name the output, input or parameter and the largest difference.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def load_from_torch(module, torch_module) -> None:
    module.load_state_dict({key: mg.tensor(value.detach().cpu().numpy())
                            for key, value in torch_module.state_dict().items()})


def _flatten(out) -> list:
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten(item)]
    return [out]


def _close(ours, theirs, what, rtol, atol):
    ours = ours.detach().cpu().numpy() if isinstance(ours, mg.Tensor) else ours
    theirs = theirs.detach().cpu().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def compare(torch_module, module, call, inputs, *, dtype="float64", rtol=1e-9, atol=1e-10,
            seed=0):
    """``call(m, *xs)`` runs a module; ``inputs`` are numpy arrays (floating ones require
    grad) or other values passed through (masks as bool arrays are converted too).
    Returns the micrograd outputs."""
    torch_module = torch_module.to(getattr(torch, dtype))
    module = module.to(getattr(mg, dtype))
    load_from_torch(module, torch_module)
    ours_in, theirs_in = [], []
    for x in inputs:
        if isinstance(x, np.ndarray):
            floating = x.dtype.kind == "f"
            host = x.astype(dtype) if floating else x
            theirs_in.append(torch.tensor(host, requires_grad=floating))
            ours_in.append(mg.tensor(host, requires_grad=floating))
        else:
            theirs_in.append(x)
            ours_in.append(x)
    theirs_out = _flatten(call(torch_module, *theirs_in))
    ours_out = _flatten(call(module, *ours_in))
    assert len(ours_out) == len(theirs_out), \
        f"{len(ours_out)} outputs vs PyTorch's {len(theirs_out)}"
    rng = np.random.default_rng(seed)
    t_loss = m_loss = 0
    for i, (o, t) in enumerate(zip(ours_out, theirs_out)):
        _close(o, t, f"output {i}", rtol, atol)
        upstream = rng.uniform(-1, 1, tuple(t.shape)).astype(dtype)
        t_loss = t_loss + (t * torch.tensor(upstream)).sum()
        m_loss = m_loss + (o * mg.tensor(upstream)).sum()
    t_loss.backward()
    m_loss.backward()
    for i, (o, t) in enumerate(zip(ours_in, theirs_in)):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            _close(o.grad, t.grad, f"gradient of input {i}", rtol, atol)
    theirs_params = dict(torch_module.named_parameters())
    ours_params = dict(module.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in theirs_params.items():
        if p.grad is None:
            assert ours_params[name].grad is None, f"{name} has a gradient, PyTorch's has none"
        else:
            _close(ours_params[name].grad, p.grad, f"gradient of {name}", rtol, atol)
    return ours_out
