"""F.scaled_dot_product_attention and nn.MultiheadAttention against PyTorch 2.13 from identical
weights and inputs, forward and backward, including masks, fully masked rows and dropout."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F
from micrograd.ops.creation import default_backend
from torch_twin import compare, torch

tnn, tF = torch.nn, torch.nn.functional
rng = np.random.default_rng(1)
E, HEADS = 8, 2


def _x(*shape):
    return rng.standard_normal(shape)


class _Sdpa:
    """scaled_dot_product_attention as a parameterless module of either library."""

    def __init__(self, lib, **kwargs):
        self.fn = (tF if lib is torch else F).scaled_dot_product_attention
        self.lib, self.kwargs = lib, kwargs

    def to(self, _dtype):
        return self

    def state_dict(self):
        return {}

    def load_state_dict(self, _state):
        pass

    def named_parameters(self):
        return iter(())

    def __call__(self, q, k, v, mask=None):
        kwargs = dict(self.kwargs)
        if mask is not None:
            kwargs["attn_mask"] = mask
        return self.fn(q, k, v, **kwargs)


def _bool_mask(*shape, dead_row=True):
    mask = rng.random(shape) > 0.4
    if dead_row:
        mask[..., 1, :] = False       # a query that may attend to nothing: zeros, not NaN
    return mask


SDPA_CASES = {
    "plain": ({}, None),
    "causal": (dict(is_causal=True), None),
    "scale": (dict(scale=0.3), None),
    "bool mask with a dead row": ({}, _bool_mask(5, 6)),
    "broadcast float mask": ({}, _x(2, 1, 5, 6)),
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_pytorch(case):
    kwargs, mask = SDPA_CASES[case]
    s = 5 if kwargs.get("is_causal") else 6
    inputs = [_x(2, 3, 5, 4), _x(2, 3, s, 4), _x(2, 3, s, 7)]
    torch_fn, mg_fn = _Sdpa(torch, **kwargs), _Sdpa(mg, **kwargs)
    if mask is None:
        compare(torch_fn, mg_fn, lambda m, q, k, v: m(q, k, v), inputs)
    else:
        masks = {torch_fn: torch.tensor(mask), mg_fn: mg.tensor(mask)}
        compare(torch_fn, mg_fn, lambda m, q, k, v: m(q, k, v, masks[m]), inputs)


def test_sdpa_causal_with_more_queries_than_keys_and_3d_inputs():
    compare(_Sdpa(torch, is_causal=True), _Sdpa(mg, is_causal=True),
            lambda m, q, k, v: m(q, k, v), [_x(3, 6, 4), _x(3, 4, 4), _x(3, 4, 2)])


def test_sdpa_causal_with_fewer_queries_than_keys_in_float32():
    # The cached additive mask is top-left aligned, as PyTorch's ones(L, S).tril().
    q = _x(2, 3, 4, 5)
    compare(_Sdpa(torch, is_causal=True), _Sdpa(mg, is_causal=True),
            lambda m, q, k, v: m(q, k, v), [q, _x(2, 3, 7, 5), _x(2, 3, 7, 2)],
            dtype="float32", rtol=1e-5, atol=1e-6)


def test_sdpa_causal_mask_is_built_once_per_shape_and_dtype():
    # The composed path builds it: a float mask added to the scores, and create_graph's
    # backward of the fused node.
    from micrograd.nn import _attention
    _attention._CAUSAL_MASKS.clear()
    for dtype in (mg.float32, mg.float64, mg.float32):
        q = mg.randn(1, 2, 4, 3, dtype=dtype, requires_grad=True)
        out = F.scaled_dot_product_attention(q, q, q, is_causal=True)
        mg.autograd.grad(out.sum(), q, create_graph=True)
    masks = list(_attention._CAUSAL_MASKS.values())
    assert [m.dtype for m in masks] == [mg.float32, mg.float64]
    expected = np.where(np.tril(np.ones((4, 4), bool)), 0.0, -np.inf)
    np.testing.assert_array_equal(masks[1].cpu().numpy(), expected)
    assert not masks[0].requires_grad


@pytest.mark.parametrize("device", ["numpy", None])      # the decomposition; the default device
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_without_mask_is_one_fused_node(device, dtype, causal):
    from micrograd.decompositions import counts
    be = mg.ones(1, device=device)._backend
    before = [list(counts.get((be.name, op), (0, 0))) for op in
              ("scaled_dot_product_attention", "scaled_dot_product_attention_backward")]
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else {}
    previous = default_backend()
    mg.set_default_device(be.name)
    try:
        compare(_Sdpa(torch, is_causal=causal), _Sdpa(mg, is_causal=causal),
                lambda m, q, k, v: m(q, k, v), [_x(2, 3, 7, 5), _x(2, 3, 9, 5), _x(2, 3, 9, 3)],
                dtype=dtype, **tol)
    finally:
        mg.set_default_device(previous.name)
    after = [counts[(be.name, op)] for op in
             ("scaled_dot_product_attention", "scaled_dot_product_attention_backward")]
    assert [sum(a) - sum(b) for a, b in zip(after, before)] == [1, 1]


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_fused_node_has_exact_second_derivatives(causal):
    q, k, v = (_x(2, 4, 3) for _ in range(3))
    upstream = _x(2, 4, 3)

    def second(lib, tensor):
        ts = [tensor(a) for a in (q, k, v)]
        sdpa = tF.scaled_dot_product_attention if lib is torch else F.scaled_dot_product_attention
        out = sdpa(*ts, is_causal=causal, scale=0.7)
        grads = lib.autograd.grad((out * tensor(upstream)).sum(), ts, create_graph=True)
        total = sum((g * g).sum() for g in grads)
        return [g.detach().numpy() if lib is torch else g.detach().cpu().numpy()
                for g in lib.autograd.grad(total, ts)]

    ours = second(mg, lambda a: mg.tensor(a, requires_grad=True))
    theirs = second(torch, lambda a: torch.tensor(a, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_sdpa_grouped_query_attention():
    compare(_Sdpa(torch, enable_gqa=True), _Sdpa(mg, enable_gqa=True),
            lambda m, q, k, v: m(q, k, v), [_x(2, 4, 5, 4), _x(2, 2, 5, 4), _x(2, 2, 5, 3)])


def test_sdpa_dropout_is_unbiased():
    mg.manual_seed(0)
    q = mg.tensor(_x(1, 1, 4, 8), dtype=mg.float32)
    exact = F.scaled_dot_product_attention(q, q, q).cpu().numpy()[0]
    draws = F.scaled_dot_product_attention(*(q.expand(4000, 1, 4, 8),) * 3,
                                           dropout_p=0.5).cpu().numpy()
    assert not np.allclose(draws[0], exact)
    # 4000 independent masks: the mean is within a few standard errors (about 0.05) of exact.
    np.testing.assert_allclose(draws.mean(0), exact, atol=0.2)


def test_sdpa_bad_arguments():
    q = mg.randn(2, 5, 4)
    with pytest.raises(RuntimeError, match="should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=mg.ones(5, 5, dtype=mg.bool),
                                       is_causal=True)
    with pytest.raises(RuntimeError, match="share the last"):
        F.scaled_dot_product_attention(q, mg.randn(2, 5, 3), q)
    with pytest.raises(RuntimeError, match="multiple of the key and value heads"):
        F.scaled_dot_product_attention(mg.randn(1, 3, 5, 4), mg.randn(1, 2, 5, 4),
                                       mg.randn(1, 2, 5, 4), enable_gqa=True)


# ------------------------------------------------------------------ MultiheadAttention


def _mha_pair(**kwargs):
    torch.manual_seed(0)
    return tnn.MultiheadAttention(E, HEADS, **kwargs), nn.MultiheadAttention(E, HEADS, **kwargs)


def _call(need_weights=True, average=True, masks=False):
    def call(m, q, k, v, *mask_pair):
        kwargs = dict(need_weights=need_weights, average_attn_weights=average)
        if masks:
            pick = 0 if isinstance(m, tnn.Module) else 1
            kwargs["key_padding_mask"], kwargs["attn_mask"] = mask_pair[pick], mask_pair[2 + pick]
        return m(q, k, v, **kwargs)
    return call


@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("kwargs", [{}, dict(batch_first=True), dict(kdim=3, vdim=5),
                                    dict(add_bias_kv=True, add_zero_attn=True)],
                         ids=lambda v: str(v))
def test_mha_matches_pytorch(kwargs, need_weights, average):
    torch_module, module = _mha_pair(**kwargs)
    batch_first = kwargs.get("batch_first", False)
    shape = (lambda n, s, d: (n, s, d)) if batch_first else (lambda n, s, d: (s, n, d))
    q = _x(*shape(3, 4, E))
    k, v = _x(*shape(3, 6, kwargs.get("kdim", E))), _x(*shape(3, 6, kwargs.get("vdim", E)))
    padding = np.zeros((3, 6), bool)
    padding[0, 4:] = True
    attn = _x(4, 6)
    masks = [torch.tensor(padding), mg.tensor(padding), torch.tensor(attn), mg.tensor(attn)]
    compare(torch_module, module, _call(need_weights, average, masks=True), [q, k, v, *masks])


def test_mha_self_attention_unbatched_with_bool_masks():
    torch_module, module = _mha_pair()
    x = _x(5, E)
    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.array([False, False, False, True, False])

    def call(m, x):
        lib = torch if isinstance(m, tnn.Module) else mg
        return m(x, x, x, key_padding_mask=lib.tensor(padding), attn_mask=lib.tensor(causal))
    compare(torch_module, module, call, [x])


def test_mha_per_head_3d_float_mask_and_no_bias():
    torch_module, module = _mha_pair(bias=False)
    x, attn = _x(4, 2, E), _x(2 * HEADS, 4, 4)

    def call(m, x):
        lib = torch if isinstance(m, tnn.Module) else mg
        return m(x, x, x, attn_mask=lib.tensor(attn))
    compare(torch_module, module, call, [x])


def test_mha_fully_masked_query_gives_zeros_without_weights_as_pytorch():
    torch_module, module = _mha_pair()
    x = _x(3, 1, E)
    padding = np.ones((1, 3), bool)

    def call(m, x):
        lib = torch if isinstance(m, tnn.Module) else mg
        return m(x, x, x, key_padding_mask=lib.tensor(padding), need_weights=False)
    out = compare(torch_module, module, call, [x])
    assert not np.isnan(out[0].detach().cpu().numpy()).any()


def test_mha_layout_init_and_paths():
    from micrograd.nn.modules.activation import MultiheadAttention
    assert MultiheadAttention is nn.MultiheadAttention
    torch_module, module = _mha_pair(kdim=3, vdim=5)
    assert [(k, tuple(v.shape)) for k, v in module.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in torch_module.state_dict().items()]
    assert module.in_proj_weight is None and isinstance(module.out_proj, nn.Linear)
    assert np.all(module.in_proj_bias.detach().cpu().numpy() == 0)
    assert repr(module) == repr(torch_module)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(RuntimeError, match="is_causal hint"):
        module(mg.randn(2, 1, E), mg.randn(2, 1, 3), mg.randn(2, 1, 5), is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        module(mg.randn(2, 1, E), mg.randn(3, 1, 3), mg.randn(3, 1, 5),
               attn_mask=mg.zeros(2, 2))
