"""Matrix structure, contractions, norms, cumprod, roll and closeness against PyTorch: values and
gradients from the same seeded float64 inputs (``oracle.check``), gradients of gradients by
finite differences, and the errors for bad input."""

import numpy as np
import pytest

import micrograd as mg
from oracle import check, gradcheck

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3), (0, 3)], ids=str)
@pytest.mark.parametrize("k", [0, 1, -2])
def test_triangles(name, shape, k):
    check(lambda x: getattr(mg, name)(x, k), lambda x: getattr(torch, name)(x, k), [shape])
    check(lambda x: getattr(mg, name)(x, k), lambda x: getattr(torch, name)(x, k), [shape],
          dtype=mg.float32)


@pytest.mark.parametrize("offset,dim1,dim2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 2),
                                              (0, -1, 0), (5, 0, 1)])
def test_diagonal(offset, dim1, dim2):
    check(lambda x: x.diagonal(offset, dim1, dim2), lambda x: x.diagonal(offset, dim1, dim2),
          [(3, 4, 5)])


@pytest.mark.parametrize("shape,k", [((4,), 0), ((3,), 2), ((3,), -1), ((3, 4), 1),
                                     ((4, 3), -2)], ids=str)
def test_diag(shape, k):
    check(lambda x: mg.diag(x, k), lambda x: torch.diag(x, k), [shape])


@pytest.mark.parametrize("offset,dim1,dim2", [(0, -2, -1), (1, -2, -1), (-2, 0, 2), (0, 1, 0)])
def test_diag_embed(offset, dim1, dim2):
    check(lambda x: mg.diag_embed(x, offset, dim1, dim2),
          lambda x: torch.diag_embed(x, offset, dim1, dim2), [(2, 3)])


EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ij,jk", [(3, 4), (4, 5)]),             # implicit output
    ("...ij,...jk->...ik", [(2, 3, 4), (1, 4, 2)]),
    ("b...,b->...", [(3, 2, 2), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),   # a batch letter summed away
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
]


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32], ids=str)
@pytest.mark.parametrize("equation,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(equation, shapes, dtype):
    check(lambda *xs: mg.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), shapes,
          dtype=dtype)


def test_einsum_takes_a_list_and_rejects_bad_equations():
    a, b = mg.ones(2, 3), mg.ones(3, 4)
    assert tuple(mg.einsum("ij,jk->ik", [a, b]).shape) == (2, 4)
    with pytest.raises(RuntimeError, match="2 operands in the equation"):
        mg.einsum("ij,jk->ik", a)
    with pytest.raises(RuntimeError, match="does not match the number of dimensions"):
        mg.einsum("ijk,jk->ik", a, b)
    with pytest.raises(RuntimeError, match="output subscript 'z'"):
        mg.einsum("ij,jk->iz", a, b)


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1)])
def test_baddbmm_and_addbmm(beta, alpha):
    check(lambda i, a, b: mg.baddbmm(i, a, b, beta=beta, alpha=alpha),
          lambda i, a, b: torch.baddbmm(i, a, b, beta=beta, alpha=alpha),
          [(2, 3, 5), (2, 3, 4), (2, 4, 5)])
    check(lambda i, a, b: mg.addbmm(i, a, b, beta=beta, alpha=alpha),
          lambda i, a, b: torch.addbmm(i, a, b, beta=beta, alpha=alpha),
          [(3, 5), (2, 3, 4), (2, 4, 5)])
    check(lambda i, a, b: i.addmm(a, b, beta=beta, alpha=alpha),
          lambda i, a, b: i.addmm(a, b, beta=beta, alpha=alpha), [(3, 5), (3, 4), (4, 5)])


def test_beta_zero_ignores_nan_in_the_input():
    out = mg.baddbmm(mg.full((1, 2, 2), float("nan")), mg.ones(1, 2, 3), mg.ones(1, 3, 2), beta=0)
    assert not out.isnan().any().item()
    assert not mg.addmm(mg.full((2, 2), float("nan")), mg.ones(2, 3), mg.ones(3, 2),
                        beta=0).isnan().any().item()


def test_existing_products_keep_torch_shape_rules():
    with pytest.raises(RuntimeError, match="Expected 1-D argument self"):
        mg.outer(mg.ones(2, 2), mg.ones(2))
    with pytest.raises(RuntimeError, match=r"batch2 tensor to be: \[2, 4\] but got: \[1, 4\]"):
        mg.bmm(mg.ones(2, 3, 4), mg.ones(1, 4, 5))
    with pytest.raises(RuntimeError, match="must be matrices"):
        mg.addmm(mg.ones(2), mg.ones(2), mg.ones(2))
    with pytest.raises(RuntimeError, match="expected BoolTensor for mask"):
        mg.masked_select(mg.ones(3), mg.tensor([1, 0, 1]))
    picked = mg.masked_select(mg.arange(6).reshape(2, 3), mg.tensor([True, False, True]))
    assert picked.tolist() == torch.masked_select(torch.arange(6).reshape(2, 3),
                                                  torch.tensor([True, False, True])).tolist()


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf")])
def test_cdist(p):
    check(lambda a, b: mg.cdist(a, b, p), lambda a, b: torch.cdist(a, b, p),
          [(2, 4, 3), (2, 5, 3)], rtol=1e-6, atol=1e-8)


NORMS = [
    ("norm", {}), ("norm", {"p": 1}), ("norm", {"p": 3, "dim": 1}),
    ("norm", {"p": float("inf"), "dim": (0, 1)}), ("norm", {"p": "fro", "dim": 1, "keepdim": True}),
    ("norm", {"p": float("-inf")}), ("norm", {"p": 0, "dim": 0}),
]
LINALG = [
    ("norm", {}), ("norm", {"dim": 1}), ("norm", {"ord": 2, "dim": -1}),
    ("norm", {"ord": "fro"}), ("norm", {"ord": float("inf"), "dim": (0, 1)}),
    ("vector_norm", {}), ("vector_norm", {"ord": 1, "dim": (1, 2)}),
    ("vector_norm", {"ord": 0.5, "dim": 0, "keepdim": True}),
    ("matrix_norm", {}), ("matrix_norm", {"ord": 1}), ("matrix_norm", {"ord": -1}),
    ("matrix_norm", {"ord": float("inf"), "keepdim": True}),
    ("matrix_norm", {"ord": float("-inf"), "dim": (0, 2)}),
]


@pytest.mark.parametrize("name,kwargs", NORMS, ids=[str(k) for _, k in NORMS])
def test_torch_norm(name, kwargs):
    check(lambda x: x.norm(**kwargs), lambda x: x.norm(**kwargs), [(3, 4)])


@pytest.mark.parametrize("name,kwargs", LINALG, ids=[f"{n}{k}" for n, k in LINALG])
def test_linalg_norms(name, kwargs):
    shape = (3, 4) if name == "norm" and "dim" not in kwargs or kwargs.get("dim") == (0, 1) \
        else (2, 3, 4)
    check(lambda x: getattr(mg.linalg, name)(x, **kwargs),
          lambda x: getattr(torch.linalg, name)(x, **kwargs), [shape])


def test_norm_of_zero_has_zero_gradient_and_errors_are_typed():
    x = mg.zeros(3, requires_grad=True)
    mg.linalg.norm(x).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(RuntimeError, match="floating point"):
        mg.linalg.vector_norm(mg.arange(3))
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        mg.linalg.matrix_norm(mg.ones(2, 2), ord=3)
    with pytest.raises(RuntimeError, match="at least 2"):
        mg.linalg.matrix_norm(mg.ones(2))


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32], ids=str)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod(dim, dtype):
    check(lambda x: mg.cumprod(x, dim), lambda x: torch.cumprod(x, dim), [(3, 4)], dtype=dtype)


def test_cumprod_gradient_with_zeros_and_second_order():
    host = np.array([[2.0, 0.0, 3.0, 0.0, 1.5], [1.0, -2.0, 0.0, 4.0, 0.5]])
    check(lambda x: x.cumprod(1), lambda x: x.cumprod(1), [host])
    gradcheck(lambda x: mg.autograd.grad((x.cumprod(1) ** 2).sum(), x, create_graph=True)[0],
              [(2, 4)])
    assert mg.cumprod(mg.tensor([1, 2, 3]), 0).dtype is mg.int64


@pytest.mark.parametrize("shifts,dims", [(1, None), (-2, 0), ((1, 2), (0, 1)), (7, 1), (0, 0)])
def test_roll(shifts, dims):
    check(lambda x: x.roll(shifts, dims), lambda x: x.roll(shifts, dims), [(3, 4)])


def test_roll_rejects_mismatched_shifts():
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        mg.roll(mg.ones(2, 2), (1, 1), 0)


def test_nan_to_num_matches_torch_with_gradients():
    host = np.array([1.0, np.nan, np.inf, -np.inf, -2.0])
    for kwargs in ({}, {"nan": 1.5, "posinf": 9.0, "neginf": -9.0}):
        check(lambda x: mg.nan_to_num(x, **kwargs), lambda x: torch.nan_to_num(x, **kwargs),
              [host])
    f32 = mg.nan_to_num(mg.tensor([np.inf], dtype=mg.float32))
    assert f32.item() == float(np.finfo(np.float32).max)


def test_isclose_and_allclose_match_torch():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1.0, 0.0])
    b = np.array([1.0 + 1e-9, np.nan, np.inf, np.inf, 1.1, 1e-9])
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0, "rtol": 0.0}):
        ours = mg.isclose(mg.tensor(a), mg.tensor(b), **kwargs)
        expected = torch.isclose(torch.tensor(a), torch.tensor(b), **kwargs)
        assert ours.tolist() == expected.tolist(), kwargs
    assert mg.allclose(mg.ones(3), mg.ones(3) + 1e-9) and not mg.ones(2).allclose(mg.zeros(2))
    assert mg.isclose(mg.tensor([1, 2]), mg.tensor([1, 3])).tolist() == [True, False]


def test_outer_and_error_messages_for_structure():
    check(lambda a, b: mg.outer(a, b), lambda a, b: torch.outer(a, b), [(3,), (4,)])
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        mg.tril(mg.ones(3))
    with pytest.raises(RuntimeError, match="cannot be identical"):
        mg.diagonal(mg.ones(2, 2), 0, 1, 1)
    with pytest.raises(RuntimeError, match="Supports 1D or 2D"):
        mg.diag(mg.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="3-D tensors"):
        mg.baddbmm(mg.ones(2, 2), mg.ones(2, 2), mg.ones(2, 2))


def test_in_place_triangles_match_torch_with_gradients():
    host = np.random.default_rng(4).standard_normal((3, 4))
    for name, k in (("tril_", 0), ("triu_", 1)):
        ours, theirs = mg.tensor(host, requires_grad=True), torch.tensor(host, requires_grad=True)
        a, b = ours * 2, theirs * 2
        getattr(a, name)(k)
        getattr(b, name)(k)
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        a.sum().backward()
        b.sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
