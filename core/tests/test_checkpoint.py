"""Activation checkpointing (``micrograd.utils.checkpoint``): the same values and gradients as
the plain computation (and as torch.utils.checkpoint), dropout replayed with the same masks,
fewer recorded nodes and saved tensors, and PyTorch's argument rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import micrograd as mg
from micrograd.utils.checkpoint import checkpoint, checkpoint_sequential

torch = pytest.importorskip("torch")


def _graph(out) -> tuple[int, int]:
    """Nodes reachable from ``out`` and the tensors they save for backward."""
    seen, stack, saved = set(), [out.grad_fn], 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        saved += len(node._saved)
        stack.extend(node.next_functions)
    return len(seen), saved


def _mlp(width=6, depth=4, p=0.0):
    layers = []
    for _ in range(depth):
        layers += [mg.nn.Linear(width, width), mg.nn.Tanh()]
        if p:
            layers.append(mg.nn.Dropout(p))
    return mg.nn.Sequential(*layers)


def _grads(model, x):
    return [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in model.parameters()]


def _zero(model, x):
    x.grad = None
    for p in model.parameters():
        p.grad = None


@pytest.mark.parametrize("reentrant", [True, False])
def test_values_and_gradients_match_the_plain_computation(reentrant):
    mg.manual_seed(0)
    model = _mlp()
    x = mg.randn(5, 6, requires_grad=True)
    plain = model(x)
    (plain ** 2).sum().backward()
    expected = _grads(model, x)
    _zero(model, x)
    out = checkpoint(model, x, use_reentrant=reentrant)
    np.testing.assert_allclose(out.detach().numpy(), plain.detach().numpy(), rtol=0, atol=0)
    (out ** 2).sum().backward()
    for ours, theirs in zip(_grads(model, x), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_gradients_match_torch_checkpoint():
    mg.manual_seed(1)
    model = _mlp(width=4, depth=3)
    t_model = torch.nn.Sequential(*[torch.nn.Linear(4, 4) if i % 2 == 0 else torch.nn.Tanh()
                                    for i in range(6)]).double()
    t_model.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    model = model.double()
    data = np.random.default_rng(0).standard_normal((3, 4))
    x = mg.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    checkpoint(model, x, use_reentrant=False).pow(3).sum().backward()
    torch.utils.checkpoint.checkpoint(t_model, tx, use_reentrant=False).pow(3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    for (name, p), tp in zip(model.named_parameters(), t_model.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("preserve", [True, False])
def test_dropout_inside_is_replayed_with_the_same_masks(preserve):
    model = _mlp(p=0.5)
    x = mg.randn(8, 6, requires_grad=True)
    mg.manual_seed(7)
    model(x).sum().backward()
    expected = _grads(model, x)
    _zero(model, x)
    mg.manual_seed(7)
    out = checkpoint(model, x, use_reentrant=False, preserve_rng_state=preserve)
    after_forward = mg.rand(3).numpy()
    mg.manual_seed(7)
    model(x)
    assert np.array_equal(after_forward, mg.rand(3).numpy())
    out.sum().backward()
    same = all(np.allclose(a, b, rtol=1e-6, atol=1e-7) for a, b in zip(_grads(model, x), expected))
    assert same is preserve     # without the generator's state the replay draws other masks


def test_forward_keeps_fewer_nodes_and_saved_tensors():
    model = _mlp(depth=6)
    x = mg.randn(4, 6, requires_grad=True)
    plain_nodes, plain_saved = _graph(model(x))
    nodes, saved = _graph(checkpoint(model, x, use_reentrant=False))
    assert plain_nodes > 20 and plain_saved > 10
    assert nodes == 2 and saved == 0          # the checkpoint node and x's AccumulateGrad
    seq_nodes, seq_saved = _graph(checkpoint_sequential(model, 3, x, use_reentrant=False))
    assert seq_nodes < plain_nodes / 2 and seq_saved < plain_saved / 2


@pytest.mark.parametrize("segments", [1, 2, 3, 5])
def test_checkpoint_sequential_matches_the_plain_model(segments):
    mg.manual_seed(3)
    model = _mlp(depth=5)
    x = mg.randn(2, 6, requires_grad=True)
    plain = model(x)
    plain.sum().backward()
    expected = _grads(model, x)
    _zero(model, x)
    out = checkpoint_sequential(model, segments, x, use_reentrant=True)
    np.testing.assert_allclose(out.detach().numpy(), plain.detach().numpy(), rtol=0, atol=0)
    out.sum().backward()
    for ours, theirs in zip(_grads(model, x), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_several_outputs_keyword_arguments_and_non_tensor_arguments():
    lin = mg.nn.Linear(3, 3)
    x = mg.randn(2, 3, requires_grad=True)

    def f(x, scale, *, shift):
        h = lin(x) * scale
        return h.tanh(), h.sum(-1) + shift, "note"

    def loss(a, b):
        return (a * 2).sum() + (b ** 2).sum()

    loss(*f(x, 3.0, shift=1.0)[:2]).backward()
    expected = [x.grad.numpy().copy(), lin.weight.grad.numpy().copy()]
    x.grad = lin.weight.grad = None
    a, b, note = checkpoint(f, x, 3.0, shift=1.0, use_reentrant=False)
    assert note == "note" and a.requires_grad and b.requires_grad
    loss(a, b).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(lin.weight.grad.numpy(), expected[1], rtol=1e-6, atol=1e-7)
    x.grad = lin.weight.grad = None
    a, b, _ = checkpoint(f, x, 3.0, shift=1.0, use_reentrant=False)
    b.sum().backward()           # one output only: the other's node is never reached
    assert x.grad is not None and lin.weight.grad is not None


def test_parameters_get_gradients_when_the_input_needs_none():
    lin = mg.nn.Linear(3, 2)
    x = mg.randn(4, 3)
    checkpoint(lin, x, use_reentrant=False).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)),
                               rtol=1e-6)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        out = checkpoint(lin, x, use_reentrant=True)
    assert not out.requires_grad                   # as PyTorch's reentrant variant


def test_argument_rules_as_torch():
    lin = mg.nn.Linear(2, 2)
    x = mg.randn(1, 2, requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda x, scale: lin(x) * scale, x, scale=2.0, use_reentrant=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed"):
        checkpoint(lin, x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: extra"):
        checkpoint_sequential(mg.nn.Sequential(lin), 1, x, use_reentrant=False, extra=1)
    with pytest.raises(TypeError, match="returned dict; return a tensor"):
        checkpoint(lambda x: {"out": lin(x)}, x, use_reentrant=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with mg.no_grad():
            out = checkpoint(lin, x, use_reentrant=False)
    assert not out.requires_grad


def test_a_weight_computed_outside_the_segment_gets_its_gradient():
    w = mg.randn(3, 3, requires_grad=True)
    x = mg.randn(2, 3, requires_grad=True)
    scaled = w * 2                           # a non-leaf the segment captures
    out = checkpoint(lambda x: x @ scaled, x, use_reentrant=False)
    out.sum().backward()
    expected_w = 2 * (x.detach().numpy().sum(0)[:, None] * np.ones((1, 3)))
    np.testing.assert_allclose(w.grad.numpy(), expected_w, rtol=1e-5)
