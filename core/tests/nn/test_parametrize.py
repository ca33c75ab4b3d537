"""``nn.utils.parametrize`` and ``nn.utils.parametrizations`` against PyTorch: the same weights
(copied through the state dict, whose keys must be PyTorch's), then forward values, gradients of
the originals, a few SGD steps, assignment through ``right_inverse``, removal, and the errors.
Also ``geqrf`` and ``linalg.householder_product``, which the orthogonal map is built from."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from torch_twin import load_from_torch

import micrograd as mg

torch = pytest.importorskip("torch")

P, TP = mg.nn.utils.parametrize, torch.nn.utils.parametrize
PZ, TPZ = mg.nn.utils.parametrizations, torch.nn.utils.parametrizations


def _same(ours, theirs, what="", rtol=1e-9, atol=1e-11):
    ours, theirs = ours.detach().numpy(), theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _twins(build, parametrize):
    """The same layer in both libraries (float64), parametrized by ``parametrize(lib, layer)``,
    with PyTorch's weights (and random buffers) copied into ours by state-dict key."""
    torch.manual_seed(0)
    theirs = parametrize(torch, build(torch.nn).double())
    ours = parametrize(mg, build(mg.nn).double())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)
    return ours, theirs


def _train_alongside(ours, theirs, shape, steps=3, lr=0.1, rtol=1e-9, atol=1e-11):
    """SGD on both from the same inputs: outputs, every parameter's gradient (by name) and the
    parametrized weight must agree at every step."""
    opt = mg.optim.SGD(ours.parameters(), lr=lr)
    t_opt = torch.optim.SGD(theirs.parameters(), lr=lr)
    rng = np.random.default_rng(1)
    for step in range(steps):
        data = rng.standard_normal(shape)
        out, t_out = ours(mg.tensor(data)), theirs(torch.tensor(data))
        _same(out, t_out, f"output at step {step}", rtol, atol)
        (out ** 2).sum().backward()
        (t_out ** 2).sum().backward()
        t_params = dict(theirs.named_parameters())
        assert [name for name, _ in ours.named_parameters()] == list(t_params)
        for name, p in ours.named_parameters():
            _same(p.grad, t_params[name].grad, f"grad of {name} at step {step}", rtol, atol)
        opt.step()
        t_opt.step()
        opt.zero_grad()
        t_opt.zero_grad()
        _same(ours.weight, theirs.weight, f"weight after step {step}", rtol, atol)


class Symmetric:
    """The same parametrization written for either library."""

    @staticmethod
    def make(lib, with_inverse=True):
        class Sym(lib.nn.Module):
            def forward(self, X):
                return X.triu() + X.triu(1).mT

        class SymInv(Sym):
            def right_inverse(self, A):
                return A.triu()
        return SymInv() if with_inverse else Sym()


def _scale(lib, factor):
    class Scale(lib.nn.Module):
        def forward(self, X):
            return X * factor

        def right_inverse(self, Y):
            return Y / factor
    return Scale()


def _shift(lib, offset):
    class Shift(lib.nn.Module):
        def forward(self, X):
            return X + offset

        def right_inverse(self, Y):
            return Y - offset
    return Shift()


def _split(lib):
    """A right_inverse returning a tuple: the weight as its sign-free size and its direction."""
    class Split(lib.nn.Module):
        def forward(self, size, direction):
            return size * direction

        def right_inverse(self, W):
            size = W.abs().sum()
            return size, W / size
    return Split()


# ------------------------------------------------------------------ parametrize


@pytest.mark.parametrize("with_inverse", [True, False])
def test_a_custom_parametrization_matches_torch(with_inverse):
    ours, theirs = _twins(lambda nn: nn.Linear(4, 4), lambda lib, m: lib.nn.utils.parametrize
                          .register_parametrization(m, "weight",
                                                    Symmetric.make(lib, with_inverse)))
    assert type(ours).__name__ == type(theirs).__name__ == "ParametrizedLinear"
    assert P.type_before_parametrizations(ours) is mg.nn.Linear
    assert P.is_parametrized(ours) and P.is_parametrized(ours, "weight")
    assert not P.is_parametrized(ours, "bias") and not P.is_parametrized(mg.nn.Linear(2, 2))
    assert isinstance(ours.parametrizations.weight, P.ParametrizationList)
    _same(ours.weight, theirs.weight, "symmetric weight")
    _same(ours.parametrizations.weight.original, theirs.parametrizations.weight.original)
    _train_alongside(ours, theirs, (5, 4))


def test_chained_parametrizations_and_assignment_through_right_inverse():
    def chain(lib, m):      # the inverses do not commute: they must run last first
        for parametrization in (Symmetric.make(lib), _scale(lib, 3.0), _shift(lib, 1.0)):
            lib.nn.utils.parametrize.register_parametrization(m, "weight", parametrization)
        return m
    ours, theirs = _twins(lambda nn: nn.Linear(3, 3), chain)
    assert len(ours.parametrizations.weight) == 3
    _same(ours.weight, theirs.weight, "scaled symmetric weight")
    value = np.random.default_rng(2).standard_normal((3, 3))
    value = value + value.T
    original = ours.parametrizations.weight.original
    ours.weight = mg.tensor(value)
    theirs.weight = torch.tensor(value)
    assert ours.parametrizations.weight.original is original     # kept for the optimizer
    _same(ours.parametrizations.weight.original, theirs.parametrizations.weight.original)
    _same(ours.weight, theirs.weight, "weight after assignment")
    _train_alongside(ours, theirs, (2, 3))


def test_a_right_inverse_returning_a_tuple_makes_original0_original1():
    ours, theirs = _twins(lambda nn: nn.Linear(3, 2), lambda lib, m: lib.nn.utils.parametrize
                          .register_parametrization(m, "weight", _split(lib)))
    assert list(ours.state_dict()) == ["bias", "parametrizations.weight.original0",
                                       "parametrizations.weight.original1"]
    assert ours.parametrizations.weight.ntensors == 2
    assert not ours.parametrizations.weight.is_tensor
    _same(ours.weight, theirs.weight)
    _train_alongside(ours, theirs, (4, 3))
    ours.weight = mg.ones(2, 3, dtype=mg.float64)
    theirs.weight = torch.ones(2, 3, dtype=torch.float64)
    _same(ours.parametrizations.weight.original0, theirs.parametrizations.weight.original0)
    _same(ours.parametrizations.weight.original1, theirs.parametrizations.weight.original1)


def test_a_buffer_can_be_parametrized():
    for lib in (mg, torch):
        bn = lib.nn.BatchNorm1d(3)
        lib.nn.utils.parametrize.register_parametrization(bn, "running_var", _scale(lib, 2.0))
        assert "parametrizations.running_var.original" in bn.state_dict()
        assert not any("running_var" in name for name, _ in bn.named_parameters())
        assert bn.parametrizations.running_var.original.tolist() == [0.5, 0.5, 0.5]
        assert bn.running_var.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("leave_parametrized", [True, False])
def test_remove_parametrizations(leave_parametrized):
    ours, theirs = _twins(lambda nn: nn.Linear(3, 3), lambda lib, m: lib.nn.utils.parametrize
                          .register_parametrization(m, "weight", Symmetric.make(lib)))
    original = ours.parametrizations.weight.original
    P.remove_parametrizations(ours, "weight", leave_parametrized=leave_parametrized)
    TP.remove_parametrizations(theirs, "weight", leave_parametrized=leave_parametrized)
    assert type(ours) is mg.nn.Linear and "parametrizations" not in ours._modules
    assert ours.weight is original and isinstance(ours.weight, mg.nn.Parameter)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    _same(ours.weight, theirs.weight, "weight after removal")


def test_remove_a_tuple_parametrization():
    ours, theirs = _twins(lambda nn: nn.Linear(3, 2), lambda lib, m: lib.nn.utils.parametrize
                          .register_parametrization(m, "weight", _split(lib)))
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        P.remove_parametrizations(ours, "weight", leave_parametrized=False)
    P.remove_parametrizations(ours, "weight")
    TP.remove_parametrizations(theirs, "weight")
    assert isinstance(ours.weight, mg.nn.Parameter) and ours.weight.requires_grad
    _same(ours.weight, theirs.weight)


def test_one_of_two_parametrized_tensors_removed_keeps_the_class():
    m = mg.nn.Linear(2, 2)
    P.register_parametrization(m, "weight", _scale(mg, 2.0))
    P.register_parametrization(m, "bias", _scale(mg, 2.0))
    P.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear" and P.is_parametrized(m, "bias")
    P.remove_parametrizations(m, "bias")
    assert type(m) is mg.nn.Linear
    assert type(mg.nn.Linear(2, 2)) is mg.nn.Linear       # the class itself was never touched


def test_cached_computes_each_parametrized_tensor_once():
    calls = []

    class Counting(mg.nn.Module):
        def forward(self, X):
            calls.append(1)
            return X * 2
    m = P.register_parametrization(mg.nn.Linear(2, 2), "weight", Counting())
    calls.clear()
    with P.cached():
        first = m.weight
        with P.cached():
            assert m.weight is first
        assert m.weight is first
    assert len(calls) == 1
    assert m.weight is not first and len(calls) == 2


def test_to_optimizers_and_deepcopy_see_the_originals():
    m = PZ.weight_norm(mg.nn.Linear(3, 2))
    opt = mg.optim.SGD(m.parameters(), lr=0.5)
    g = m.parametrizations.weight.original0
    m.double()
    assert g.dtype is mg.float64 and m.weight.dtype is mg.float64
    m(mg.ones(1, 3, dtype=mg.float64)).sum().backward()
    before = g.detach().clone()
    opt.step()
    assert not bool((g == before).all())
    replica = copy.deepcopy(m)
    assert type(replica).__name__ == "ParametrizedLinear"
    _same(replica.weight, m.weight)
    assert replica.parametrizations.weight.original0 is not g


def test_transfer_parametrizations_and_params():
    source = P.register_parametrization(mg.nn.Linear(3, 3), "weight", Symmetric.make(mg))
    target = P.transfer_parametrizations_and_params(source, mg.nn.Linear(3, 3))
    assert P.is_parametrized(target, "weight") and not P.is_parametrized(target, "bias")
    _same(target.weight, source.weight)
    assert target.parametrizations.weight[0] is source.parametrizations.weight[0]


def test_parametrize_errors():
    m = mg.nn.Linear(3, 3)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a "
                                         "parametrized element with name 'nope'"):
        P.register_parametrization(m, "nope", _scale(mg, 2.0))

    class Shrink(mg.nn.Module):
        def forward(self, X):
            return X[:1]
    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(m, "weight", Shrink())
    P.register_parametrization(mg.nn.Linear(3, 3), "weight", Shrink(), unsafe=True)

    class ToDouble(mg.nn.Module):
        def forward(self, X):
            return X.double()
    with pytest.raises(ValueError, match="may not change the dtype"):
        P.register_parametrization(m, "weight", ToDouble())
    assert type(m) is mg.nn.Linear                        # nothing half-done stays behind
    P.register_parametrization(m, "weight", Symmetric.make(mg, with_inverse=False))
    with pytest.raises(ValueError, match="should preserve module.weight.shape"):
        P.register_parametrization(m, "weight", Shrink())
    with pytest.raises(RuntimeError, match="Sym does not implement right_inverse"):
        m.weight = mg.zeros(3, 3)
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        P.remove_parametrizations(m, "bias")
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)
    with pytest.raises(ValueError, match="requires one or more modules"):
        P.ParametrizationList([], mg.zeros(2))


# ------------------------------------------------------------------ parametrizations

LAYERS = {
    "linear": (lambda nn: nn.Linear(3, 4), (5, 3)),
    "conv": (lambda nn: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "conv_transpose": (lambda nn: nn.ConvTranspose2d(2, 3, 3), (2, 2, 4, 4)),
}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_matches_torch(layer, dim):
    build, shape = LAYERS[layer]
    ours, theirs = _twins(build, lambda lib, m: lib.nn.utils.parametrizations.weight_norm(
        m, dim=dim))
    assert "parametrizations.weight.original0" in ours.state_dict()
    _same(ours.parametrizations.weight.original0, theirs.parametrizations.weight.original0)
    _same(ours.weight, theirs.weight)
    _train_alongside(ours, theirs, shape)
    removed = P.remove_parametrizations(ours, "weight")
    TP.remove_parametrizations(theirs, "weight")
    _same(removed.weight, theirs.weight, "weight after removal")


def test_an_old_weight_norm_checkpoint_loads_into_the_parametrization():
    # weight_g / weight_v (nn.utils.weight_norm) become original0 / original1, also under a
    # prefix and in a deep copy of the parametrized model
    with pytest.warns(FutureWarning):
        old = mg.nn.utils.weight_norm(mg.nn.Conv1d(3, 4, 3))
    checkpoint = {"0." + k: v for k, v in old.state_dict().items()}
    model = copy.deepcopy(mg.nn.Sequential(PZ.weight_norm(mg.nn.Conv1d(3, 4, 3))))
    assert model.load_state_dict(checkpoint) == ([], [])
    assert "0.weight_g" in checkpoint                       # the caller's dict is left alone
    np.testing.assert_array_equal(model[0].weight.detach().numpy(), old.weight.detach().numpy())
    theirs = torch.nn.Sequential(TPZ.weight_norm(torch.nn.Conv1d(3, 4, 3)))
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in checkpoint.items()})
    assert list(model.state_dict()) == list(theirs.state_dict())


def test_a_parameter_cannot_be_assigned_over_a_parametrized_name():
    for lib in (mg, torch):
        layer = lib.nn.utils.parametrizations.weight_norm(lib.nn.Linear(3, 2))
        with pytest.raises(KeyError, match="attribute 'weight' already exists"):
            layer.weight = lib.nn.Parameter(lib.ones(2, 3))
    assert "weight" not in layer._parameters


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("iterations", [1, 3])
def test_spectral_norm_matches_torch_in_training_and_eval(layer, iterations):
    build, shape = LAYERS[layer]
    ours, theirs = _twins(build, lambda lib, m: lib.nn.utils.parametrizations.spectral_norm(
        m, n_power_iterations=iterations))
    assert list(ours.state_dict())[-2:] == ["parametrizations.weight.0._u",
                                            "parametrizations.weight.0._v"]
    _train_alongside(ours, theirs, shape, rtol=1e-8, atol=1e-10)
    sn, t_sn = ours.parametrizations.weight[0], theirs.parametrizations.weight[0]
    _same(sn._u, t_sn._u, "_u after training")
    _same(sn._v, t_sn._v, "_v after training")
    ours.eval()
    theirs.eval()
    u = sn._u.numpy().copy()
    _same(ours.weight, theirs.weight, "eval weight", rtol=1e-8, atol=1e-10)
    assert np.array_equal(sn._u.numpy(), u)               # no power iteration in eval mode


def test_spectral_norm_normalises_and_its_initial_power_iteration():
    layer = PZ.spectral_norm(mg.nn.Linear(6, 5))           # 15 iterations when registered
    sigma = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0]
    assert abs(sigma - 1.0) < 1e-2
    one_d = mg.nn.Module()
    one_d.w = mg.nn.Parameter(mg.tensor([3.0, 4.0]))
    PZ.spectral_norm(one_d, "w")
    assert one_d.w.tolist() == pytest.approx([0.6, 0.8])
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\] but got 2\)"):
        PZ.spectral_norm(mg.nn.Linear(2, 2), dim=2)
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        PZ.spectral_norm(mg.nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        PZ.spectral_norm(mg.nn.Linear(2, 2), "kernel")


ORTHOGONAL_SHAPES = {"square": (4, 4), "tall": (5, 3), "wide": (3, 5)}


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder", None])
@pytest.mark.parametrize("shape", list(ORTHOGONAL_SHAPES))
@pytest.mark.parametrize("trivialization", [True, False])
def test_orthogonal_matches_torch(orthogonal_map, shape, trivialization):
    rows, cols = ORTHOGONAL_SHAPES[shape]
    ours, theirs = _twins(lambda nn: nn.Linear(cols, rows), lambda lib, m: lib.nn.utils
                          .parametrizations.orthogonal(m, orthogonal_map=orthogonal_map,
                                                       use_trivialization=trivialization))
    _same(ours.weight, theirs.weight, "orthogonal weight")
    _train_alongside(ours, theirs, (2, cols), lr=0.05, rtol=1e-8, atol=1e-10)
    W = ours.weight.detach().numpy()
    gram = W.T @ W if rows >= cols else W @ W.T
    if trivialization or ours.parametrizations.weight[0].orthogonal_map == "householder":
        np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-10)
    else:   # the original was kept as it was (no inverse), and assigning is refused
        with pytest.raises(NotImplementedError, match="when use_trivialization=False"):
            ours.weight = mg.tensor(W)


def test_assigning_an_orthogonal_matrix_matches_torch():
    ours, theirs = _twins(lambda nn: nn.Linear(4, 4), lambda lib, m: lib.nn.utils
                          .parametrizations.orthogonal(m, orthogonal_map="cayley"))
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((4, 4)))[0]
    ours.weight = mg.tensor(Q)
    theirs.weight = torch.tensor(Q)
    _same(ours.parametrizations.weight[0].base, theirs.parametrizations.weight[0].base)
    _same(ours.weight, theirs.weight, "weight after assignment")
    A = np.random.default_rng(4).standard_normal((4, 4))      # not orthogonal: made so by QR
    ours.weight = mg.tensor(A)
    theirs.weight = torch.tensor(A)
    _same(ours.weight, theirs.weight, "weight after assigning a non-orthogonal matrix")
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices of shape"):
        ours.weight = mg.zeros(4, 3, dtype=mg.float64)


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a tensor "
                                         "of 1 dimensions."):
        PZ.orthogonal(mg.nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp", '
                                         '"cayley", "householder". Got: qr'):
        PZ.orthogonal(mg.nn.Linear(2, 2), orthogonal_map="qr")


def test_geqrf_and_householder_product_match_torch():
    data = np.random.default_rng(5).standard_normal((2, 5, 3))
    a, tau = mg.geqrf(mg.tensor(data))
    t_a, t_tau = torch.geqrf(torch.tensor(data))
    _same(a, t_a, "geqrf a")
    _same(tau, t_tau, "geqrf tau")
    ours_in = [mg.tensor(a.numpy(), requires_grad=True), mg.tensor(tau.numpy()[..., :2],
                                                                   requires_grad=True)]
    theirs_in = [t_a.clone().requires_grad_(), t_tau[..., :2].clone().requires_grad_()]
    Q, t_Q = mg.linalg.householder_product(*ours_in), torch.linalg.householder_product(*theirs_in)
    _same(Q, t_Q, "householder_product")
    (Q ** 3).sum().backward()
    (t_Q ** 3).sum().backward()
    for name, x, t in zip(("A", "tau"), ours_in, theirs_in):
        _same(x.grad, t.grad, f"grad of {name}")
    with pytest.raises(RuntimeError, match="input.shape\\[-2\\] must be greater than or equal "
                                           "to input.shape\\[-1\\]"):
        mg.linalg.householder_product(mg.zeros(2, 3), mg.zeros(2))
