"""The fused scaled-dot-product attention kernels (src/attention.cpp) against PyTorch 2.13's
``F.scaled_dot_product_attention``, forward and backward, through micrograd's function on the
cpu device: causal and not, odd and unequal sequence lengths, several query blocks, strided
heads split off one projection, float32 and float64, on 1 and 2 threads; and proof that the
kernels ran natively (not the decomposition)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import micrograd as mg
import micrograd.nn.functional as F
from micrograd.decompositions import OPTIONAL_OPS, counts

TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-11)}

SHAPES = {                      # (batch dims, L, S, E, Ev)
    "one head": ((), 5, 5, 4, 4),
    "heads, odd T": ((2, 3), 7, 7, 5, 3),
    "more queries than keys": ((2,), 9, 4, 8, 6),
    "fewer queries than keys": ((3,), 4, 11, 8, 8),
    "several query blocks": ((1, 2), 150, 150, 16, 16),
    "several blocks, long keys": ((2,), 70, 131, 8, 12),
}


def _run(lib, q, k, v, grad, **kwargs):
    """(output, grad_q, grad_k, grad_v) as float64 numpy arrays."""
    if lib is torch:
        ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = torch.nn.functional.scaled_dot_product_attention(*ts, **kwargs)
        out.backward(torch.tensor(grad))
        return [t.detach().numpy().astype(np.float64) for t in (out, *[t.grad for t in ts])]
    ts = [mg.tensor(a, device="cpu", requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ts, **kwargs)
    out.backward(mg.tensor(grad, device="cpu"))
    return [np.asarray(t.detach().cpu().numpy(), np.float64)
            for t in (out, *[t.grad for t in ts])]


def _check(q, k, v, dtype, **kwargs):
    rng = np.random.default_rng(7)
    grad = rng.standard_normal(q.shape[:-1] + (v.shape[-1],)).astype(dtype)
    native_before = counts.get(("cpu", "scaled_dot_product_attention"), [0, 0])[0]
    backward_before = counts.get(("cpu", "scaled_dot_product_attention_backward"), [0, 0])[0]
    ours = _run(mg, q, k, v, grad, **kwargs)
    theirs = _run(torch, q, k, v, grad, **kwargs)
    for name, a, b in zip(("output", "grad_q", "grad_k", "grad_v"), ours, theirs):
        np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"{name} of {q.shape} {dtype}")
    assert counts[("cpu", "scaled_dot_product_attention")][0] == native_before + 1
    assert counts[("cpu", "scaled_dot_product_attention_backward")][0] == backward_before + 1


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_attention_matches_pytorch(shape, causal, dtype, threads):
    lead, L, S, E, Ev = SHAPES[shape]
    rng = np.random.default_rng(len(shape))
    q, k, v = (rng.standard_normal(lead + s).astype(dtype) for s in ((L, E), (S, E), (S, Ev)))
    _check(q, k, v, dtype, is_causal=causal)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_attention_with_a_scale_and_large_scores(threads):
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 6, 4)) * 6 for _ in range(3))
    _check(q, k, v, "float64", scale=0.9, is_causal=True)
    _check(q, k, v, "float64", scale=2.5)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_heads_split_off_one_projection_are_read_through_their_strides(dtype, threads):
    # nanoGPT's attention: q, k, v are strided (B, H, T, D) views of one (B, T, 3C)
    # projection, and the output goes back through transpose / contiguous / view.
    B, T, H, D = 3, 13, 4, 8
    C = H * D
    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, T, 3 * C)).astype(dtype)
    grad = rng.standard_normal((B, T, C)).astype(dtype)

    def run(lib, tensor, sdpa):
        qkv = tensor(x)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in qkv.split(C, dim=2))
        y = sdpa(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(B, T, C)
        y.backward(tensor(grad, grad=False))
        return [np.asarray(a, np.float64) for a in (y.detach().cpu().numpy(),
                                                    qkv.grad.cpu().numpy())]

    ours = run(mg, lambda a, grad=True: mg.tensor(a, device="cpu", requires_grad=grad),
               F.scaled_dot_product_attention)
    theirs = run(torch, lambda a, grad=True: torch.tensor(a, requires_grad=grad),
                 torch.nn.functional.scaled_dot_product_attention)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TOL[dtype])


def test_the_kernels_agree_with_the_decomposition_on_strided_and_broadcast_gradients(be):
    rng = np.random.default_rng(11)
    base = mg.tensor(rng.standard_normal((2, 9, 3, 10)), device="cpu")._data
    q, k, v = (be.permute(be.slice(base, (slice(0, 2, 1), slice(0, 9, 1), slice(0, 3, 1),
                                          slice(i, i + 3, 1))),
                          (0, 2, 1, 3)) for i in (0, 3, 6))           # (2, 3, 9, 3) strided
    grad = be.expand(mg.tensor(rng.standard_normal((1, 3, 1, 3)), device="cpu")._data,
                     (2, 3, 9, 3))                                    # stride-0 rows
    for causal in (False, True):
        want = OPTIONAL_OPS["scaled_dot_product_attention"].decompose(be, mg.float64, q, k, v,
                                                                      0.5, causal)
        got = be.scaled_dot_product_attention(q, k, v, 0.5, causal)
        np.testing.assert_allclose(be.to_host(got), be.to_host(want), rtol=1e-12, atol=1e-13)
        backward = OPTIONAL_OPS["scaled_dot_product_attention_backward"].decompose
        for a, b in zip(be.scaled_dot_product_attention_backward(grad, q, k, v, 0.5, causal),
                        backward(be, mg.float64, grad, q, k, v, 0.5, causal)):
            np.testing.assert_allclose(be.to_host(a), be.to_host(b), rtol=1e-12, atol=1e-13)


def test_16_bit_floats_are_declined_for_the_decomposition(be):
    q = mg.ones(1, 2, 3, dtype=mg.bfloat16, device="cpu")._data
    assert be.scaled_dot_product_attention(q, q, q, 1.0, True) is NotImplemented
    assert be.scaled_dot_product_attention_backward(q, q, q, q, 1.0, True) is NotImplemented


def test_mismatched_operands_raise_naming_the_shapes():
    from micrograd_cpu import _core
    a = mg.ones(2, 3, 4, device="cpu")._data
    b = mg.ones(3, 3, 4, device="cpu")._data
    with pytest.raises(ValueError, match=r"leading \(batch\) dims must be equal.*\(2, 3, 4\)"):
        _core.scaled_dot_product_attention(a, b, b, 1.0, False)
    c = mg.ones(2, 0, 4, device="cpu")._data
    with pytest.raises(ValueError, match="no keys to attend to"):
        _core.scaled_dot_product_attention(a, c, c, 1.0, False)
    with pytest.raises(ValueError, match="does not match the output"):
        _core.scaled_dot_product_attention_backward(b, a, a, a, 1.0, False)
