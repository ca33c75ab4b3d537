"""Transformer encoder/decoder layers, stacks and nn.Transformer against PyTorch 2.13 from
identical weights, forward and backward (train mode with dropout 0, so PyTorch's eval-mode fast
path stays out of the comparison)."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
from torch_twin import compare, torch

tnn = torch.nn
rng = np.random.default_rng(2)
D, HEADS, FF = 8, 2, 16


def _x(*shape):
    return rng.standard_normal(shape)


def _pair(name, *args, **kwargs):
    torch.manual_seed(0)
    torch_kwargs = {k: getattr(torch.nn.functional, v.__name__) if callable(v) and
                    getattr(v, "__module__", "").startswith("micrograd") else v
                    for k, v in kwargs.items()}
    return getattr(tnn, name)(*args, **torch_kwargs), getattr(nn, name)(*args, **kwargs)


def _lib(module):
    return torch if isinstance(module, tnn.Module) else mg


def _causal(lib, n):
    return lib.nn.Transformer.generate_square_subsequent_mask(n, dtype=lib.float64)


LAYER_KWARGS = [dict(), dict(norm_first=True, activation="gelu"),
                dict(batch_first=True, activation=nn.functional.gelu),
                dict(norm_first=True, batch_first=True, layer_norm_eps=1e-3)]


def _kwargs_id(kwargs):
    """A stable test id (a function's repr carries its address, which differs between xdist
    workers)."""
    return ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items()) or "defaults"


@pytest.mark.parametrize("kwargs", LAYER_KWARGS, ids=_kwargs_id)
def test_encoder_layer_matches_pytorch(kwargs):
    torch_module, module = _pair("TransformerEncoderLayer", D, HEADS, FF, 0.0, **kwargs)
    bf = kwargs.get("batch_first", False)
    padding = np.zeros((3, 5), bool)
    padding[1, 3:] = True

    def call(m, src):
        lib = _lib(m)
        return m(src, src_mask=_causal(lib, 5), src_key_padding_mask=lib.tensor(padding))
    compare(torch_module, module, call, [_x(3, 5, D) if bf else _x(5, 3, D)])


@pytest.mark.parametrize("kwargs", LAYER_KWARGS, ids=_kwargs_id)
def test_decoder_layer_matches_pytorch(kwargs):
    torch_module, module = _pair("TransformerDecoderLayer", D, HEADS, FF, 0.0, **kwargs)
    bf = kwargs.get("batch_first", False)
    memory_padding = np.zeros((3, 6), bool)
    memory_padding[2, 4:] = True

    def call(m, tgt, memory):
        lib = _lib(m)
        return m(tgt, memory, tgt_mask=_causal(lib, 4), tgt_is_causal=True,
                 memory_key_padding_mask=lib.tensor(memory_padding))
    shape = (lambda s: (3, s, D)) if bf else (lambda s: (s, 3, D))
    compare(torch_module, module, call, [_x(*shape(4)), _x(*shape(6))])


def test_stacks_copy_their_layer_and_apply_the_final_norm():
    torch.manual_seed(0)
    t_enc = tnn.TransformerEncoder(tnn.TransformerEncoderLayer(D, HEADS, FF, 0.0), 2,
                                   norm=tnn.LayerNorm(D), enable_nested_tensor=False)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, FF, 0.0), 2,
                                norm=nn.LayerNorm(D), enable_nested_tensor=False)
    compare(t_enc, enc, lambda m, x: m(x, mask=_causal(_lib(m), 5), is_causal=True),
            [_x(5, 2, D)])
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    t_dec = tnn.TransformerDecoder(tnn.TransformerDecoderLayer(D, HEADS, FF, 0.0), 2)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, HEADS, FF, 0.0), 2)
    compare(t_dec, dec, lambda m, tgt, mem: m(tgt, mem, tgt_mask=_causal(_lib(m), 4)),
            [_x(4, 2, D), _x(5, 2, D)])


@pytest.mark.parametrize("kwargs", [dict(), dict(batch_first=True, norm_first=True)],
                         ids=_kwargs_id)
def test_transformer_matches_pytorch(kwargs):
    torch_module, module = _pair("Transformer", D, HEADS, 2, 1, FF, 0.0, **kwargs)
    bf = kwargs.get("batch_first", False)
    shape = (lambda s: (2, s, D)) if bf else (lambda s: (s, 2, D))
    padding = np.zeros((2, 6), bool)
    padding[0, 5:] = True

    def call(m, src, tgt):
        lib = _lib(m)
        return m(src, tgt, tgt_mask=_causal(lib, 4), src_key_padding_mask=lib.tensor(padding),
                 memory_key_padding_mask=lib.tensor(padding))
    compare(torch_module, module, call, [_x(*shape(6)), _x(*shape(4))])


def test_transformer_init_mask_paths_and_errors():
    from micrograd.nn.modules.transformer import Transformer, TransformerEncoderLayer
    assert (Transformer, TransformerEncoderLayer) == (nn.Transformer, nn.TransformerEncoderLayer)
    np.testing.assert_array_equal(nn.Transformer.generate_square_subsequent_mask(4).cpu().numpy(),
                                  tnn.Transformer.generate_square_subsequent_mask(4).cpu().numpy())
    model = nn.Transformer(D, HEADS, 1, 1, FF)
    torch_model = tnn.Transformer(D, HEADS, 1, 1, FF)
    assert list(model.state_dict()) == list(torch_model.state_dict())
    # Xavier-uniform for every matrix: |w| <= sqrt(6 / (fan_in + fan_out)).
    w = model.encoder.layers[0].linear1.weight.detach().cpu().numpy()
    bound = np.sqrt(6 / (D + FF))
    assert 0.5 * bound < np.abs(w).max() <= bound
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        model(mg.randn(5, 2, D), mg.randn(4, 3, D))
    with pytest.raises(RuntimeError, match="d_model"):
        model(mg.randn(5, 2, D + 1), mg.randn(4, 2, D + 1))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(D, HEADS, activation="tanh")
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.5)
    layer.eval()
    x = mg.randn(3, 2, D)
    # In eval mode dropout is the identity, so two calls agree exactly.
    np.testing.assert_array_equal(layer(x).detach().cpu().numpy(), layer(x).detach().cpu().numpy())
