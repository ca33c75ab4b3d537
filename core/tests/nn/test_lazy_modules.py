"""Lazy modules against PyTorch: placeholders and state-dict keys before the first forward, the
shapes and class each layer takes from its first input, an optimizer built before that forward
that then trains both twins alike (PyTorch's weights copied over after the dry run), loading a
state dict into a lazy module, ``Module.to`` before the first forward, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from torch_twin import load_from_torch

import micrograd as mg

torch = pytest.importorskip("torch")

LAZY = {
    "linear": (lambda nn: nn.LazyLinear(3), (4, 5), "Linear", "in_features"),
    "linear_no_bias": (lambda nn: nn.LazyLinear(3, bias=False), (2, 4, 5), "Linear",
                       "in_features"),
    "conv1d": (lambda nn: nn.LazyConv1d(4, 3, groups=2, padding=1), (2, 2, 6), "Conv1d",
               "in_channels"),
    "conv2d": (lambda nn: nn.LazyConv2d(4, 3, stride=2), (2, 3, 7, 7), "Conv2d", "in_channels"),
    "conv2d_unbatched": (lambda nn: nn.LazyConv2d(2, 2), (3, 5, 5), "Conv2d", "in_channels"),
    "conv_transpose1d": (lambda nn: nn.LazyConvTranspose1d(3, 3, stride=2), (2, 2, 4),
                         "ConvTranspose1d", "in_channels"),
    "conv_transpose2d": (lambda nn: nn.LazyConvTranspose2d(3, 4, stride=2, padding=1),
                         (2, 2, 4, 4), "ConvTranspose2d", "in_channels"),
    "conv3d": (lambda nn: nn.LazyConv3d(2, 2, padding=1), (1, 2, 3, 4, 3), "Conv3d",
               "in_channels"),
    "conv_transpose3d": (lambda nn: nn.LazyConvTranspose3d(2, 2, stride=2), (1, 3, 2, 3, 2),
                         "ConvTranspose3d", "in_channels"),
    "batchnorm3d": (lambda nn: nn.LazyBatchNorm3d(bias=False), (2, 3, 2, 3, 2), "BatchNorm3d",
                    "num_features"),
    "batchnorm1d": (lambda nn: nn.LazyBatchNorm1d(), (6, 3), "BatchNorm1d", "num_features"),
    "batchnorm2d": (lambda nn: nn.LazyBatchNorm2d(momentum=None), (2, 3, 4, 4), "BatchNorm2d",
                    "num_features"),
}


def _same(ours, theirs, what="", rtol=1e-9, atol=1e-11):
    ours, theirs = ours.detach().numpy(), theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _state_of(module) -> dict:
    return {k: (type(v).__name__, None if "Uninitialized" in type(v).__name__ else
                tuple(v.shape)) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("layer", list(LAZY))
def test_lazy_layer_materializes_and_trains_like_torch(layer):
    build, shape, eager, size_attr = LAZY[layer]
    ours, theirs = build(mg.nn).double(), build(torch.nn).double()
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.has_uninitialized_params() and theirs.has_uninitialized_params()
    assert _state_of(ours) == _state_of(theirs)        # placeholders under the same keys
    assert getattr(ours, size_attr) == getattr(theirs, size_attr) == 0
    opt = mg.optim.SGD(ours.parameters(), lr=0.1)      # before the first forward, as torch allows
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    held = list(opt.param_groups[0]["params"])
    rng = np.random.default_rng(0)
    dry = rng.standard_normal(shape)
    ours(mg.tensor(dry))
    theirs(torch.tensor(dry))
    assert type(ours).__name__ == type(theirs).__name__ == eager
    assert not hasattr(ours, "has_uninitialized_params")          # not lazy any more
    assert not hasattr(theirs, "has_uninitialized_params")
    assert getattr(ours, size_attr) == getattr(theirs, size_attr)
    assert repr(ours) == repr(theirs) or eager.startswith("BatchNorm")
    assert _state_of(ours) == _state_of(theirs)
    assert all(a is b for a, b in zip(held, ours.parameters()))
    assert all(type(p) is mg.nn.Parameter for p in ours.parameters())
    if eager.startswith("BatchNorm"):                 # a deterministic start: compare it too
        t_state = theirs.state_dict()
        for key, value in ours.state_dict().items():
            _same(value, t_state[key], f"{key} after the dry run")
    load_from_torch(ours, theirs)                     # the same initial weights from here
    for step in range(3):
        data = rng.standard_normal(shape)
        out, t_out = ours(mg.tensor(data)), theirs(torch.tensor(data))
        _same(out, t_out, f"output at step {step}")
        (out ** 2).sum().backward()
        (t_out ** 2).sum().backward()
        t_params = dict(theirs.named_parameters())
        for name, p in ours.named_parameters():
            _same(p.grad, t_params[name].grad, f"grad of {name} at step {step}")
        opt.step()
        t_opt.step()
        opt.zero_grad()
        t_opt.zero_grad()
    t_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        _same(value, t_state[key], f"{key} after training")


def test_loading_a_state_dict_materializes_the_placeholders():
    source = torch.nn.Linear(5, 3)
    for lib, state in ((mg, {k: mg.tensor(v.numpy()) for k, v in source.state_dict().items()}),
                       (torch, source.state_dict())):
        layer = lib.nn.LazyLinear(3)
        layer.load_state_dict(state)
        assert type(layer).__name__ == "LazyLinear"           # until the first forward
        assert tuple(layer.weight.shape) == (3, 5) and layer.weight.dtype == lib.float32
        assert not layer.has_uninitialized_params()
        layer(lib.ones(2, 5))
        assert type(layer).__name__ == "Linear"
        _same(layer.weight, source.weight, "loaded weight")


def test_to_before_the_first_forward_and_the_placeholders_api():
    layer = mg.nn.LazyLinear(2).double()
    assert isinstance(layer.weight, mg.nn.UninitializedParameter)
    assert layer.weight.dtype is mg.float64 and layer.weight.requires_grad
    layer(mg.ones(3, 4, dtype=mg.float64))
    assert layer.weight.dtype is mg.float64 and tuple(layer.weight.shape) == (2, 4)
    bn = mg.nn.LazyBatchNorm1d(affine=False).double()
    assert isinstance(bn.running_mean, mg.nn.UninitializedBuffer) and bn.weight is None
    assert bn.running_mean.dtype is mg.float64
    bn(mg.ones(2, 3, dtype=mg.float64))
    assert type(bn.running_mean) is mg.Tensor and bn.running_mean.dtype is mg.float64
    p = mg.nn.UninitializedParameter()
    assert repr(p) == "<UninitializedParameter>" and mg.nn.parameter.is_lazy(p)
    p.materialize((2, 3), dtype=mg.float64)
    assert type(p) is mg.nn.Parameter and tuple(p.shape) == (2, 3) and p.dtype is mg.float64
    assert not mg.nn.parameter.is_lazy(p)


def test_lazy_errors_match_torch():
    for lib in (mg, torch):
        weight = lib.nn.LazyLinear(3).weight
        with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized "
                                               "parameter or buffer"):
            weight.shape
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in"):
            weight + 1
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in"):
            weight.numel()
        with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) "
                                               r"input to LazyConv2d, but got input of size"):
            lib.nn.LazyConv2d(2, 3)(lib.ones(5, 5))
        with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
            lib.nn.LazyConv1d(4, 3, groups=2)(lib.ones(1, 3, 5))

        class Forgetful(lib.nn.modules.lazy.LazyModuleMixin, lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = lib.nn.UninitializedParameter()

            def initialize_parameters(self, x):
                pass

            def forward(self, x):
                return x
        with pytest.raises(RuntimeError, match="module Forgetful has not been fully "
                                               "initialized"):
            Forgetful()(lib.ones(2))
