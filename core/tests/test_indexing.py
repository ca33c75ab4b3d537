"""Indexing: __getitem__/__setitem__ with numpy placement rules, gather/scatter and friends."""

import numpy as np
import pytest

import micrograd as mg
from oracle import check

torch = pytest.importorskip("torch")

X = np.arange(60, dtype=np.float64).reshape(3, 4, 5)

KEYS = {
    "int": 1,
    "neg_int": -1,
    "ints": (1, 2),
    "slice": slice(1, 3),
    "slice_step": (slice(None), slice(None, None, 2)),
    "slice_step_offset": (slice(2, None, 3), slice(1, 4, 2)),
    "slice_out_of_range": slice(1, 100),
    "empty_slice": slice(2, 1),
    "none": (None, 1),
    "none_middle": (slice(None), None, 2),
    "ellipsis": (Ellipsis, 2),
    "ellipsis_middle": (0, Ellipsis, slice(1, 3)),
    "bool_mask_full": X > 30,
    "bool_mask_dim0": np.array([True, False, True]),
    "bool_mask_2d": (X[:, :, 0] > 10),
    "int_array": np.array([2, 0, 2]),
    "int_array_2d": np.array([[0, 1], [2, 0]]),
    "neg_int_array": np.array([-1, 0]),
    "adv_adjacent": (slice(None), np.array([0, 3]), np.array([1, 4])),
    "adv_separated": (np.array([0, 2]), slice(None), np.array([1, 4])),
    "adv_broadcast": (np.array([[0], [2]]), np.array([1, 3])),
    "adv_with_int": (1, slice(None), np.array([0, 4, 2])),
    "adv_and_none": (None, np.array([0, 1]), slice(1, 3)),
    "mask_and_slice": (np.array([True, False, True]), slice(None, 2)),
}


def _torch_key(key):
    if isinstance(key, tuple):
        return tuple(_torch_key(k) for k in key)
    return torch.tensor(key) if isinstance(key, np.ndarray) else key


def _mg_key(key):
    if isinstance(key, tuple):
        return tuple(_mg_key(k) for k in key)
    return mg.tensor(key) if isinstance(key, np.ndarray) else key


# PyTorch applies a Python int as a select before the advanced indices; numpy counts it as
# one of them. micrograd follows PyTorch, so these keys are checked against torch only.
TORCH_PLACEMENT = {"adv_with_int"}


@pytest.mark.parametrize("name", KEYS)
def test_getitem_matches_numpy_and_torch(name):
    key = KEYS[name]
    got = mg.tensor(X)[_mg_key(key)]
    if name not in TORCH_PLACEMENT:
        want = X[key]
        assert tuple(got.shape) == want.shape, f"{name}: micrograd {tuple(got.shape)}, numpy {want.shape}"
        np.testing.assert_array_equal(got.numpy(), want)
    # values and gradients (repeated indices accumulate) against torch
    check(lambda x: x[_mg_key(key)], lambda x: x[_torch_key(key)], [X])


def test_int_selects_before_advanced_like_torch():
    assert mg.zeros(3, 4, 5)[1, :, mg.tensor([0, 4, 2])].shape == (4, 3)
    assert mg.zeros(3, 4, 5)[mg.tensor([0, 1]), :, 2].shape == (2, 4)


@pytest.mark.parametrize("name", KEYS)
def test_setitem_matches_torch(name):
    key = KEYS[name]
    want = torch.tensor(X)
    shape = tuple(want[_torch_key(key)].shape)
    value = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) + 1000
    want[_torch_key(key)] = torch.tensor(value)
    got = mg.tensor(X)
    got[_mg_key(key)] = mg.tensor(value)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    scalar = mg.tensor(X)
    scalar[_mg_key(key)] = -1.0
    ref = torch.tensor(X)
    ref[_torch_key(key)] = -1.0
    np.testing.assert_array_equal(scalar.numpy(), ref.numpy())


def test_setitem_broadcasts_value_and_casts():
    x = mg.zeros(3, 4, dtype=mg.int32)
    x[:, 1] = mg.tensor([7, 8, 9])
    x[0] = 5
    assert x.tolist() == [[5, 5, 5, 5], [0, 8, 0, 0], [0, 9, 0, 0]]
    y = mg.zeros(2, 3)
    y[...] = mg.tensor([1.0, 2.0, 3.0])
    assert y.tolist() == [[1.0, 2.0, 3.0]] * 2


def test_setitem_gradient_flows_to_value_and_base():
    check(lambda x, v: _set(x * 1, (slice(None), 1), v), lambda x, v: _set(x * 1, (slice(None), 1), v),
          [(3, 4), (3,)])
    idx = np.array([0, 2])
    check(lambda x, v: _set(x * 1, mg.tensor(idx), v), lambda x, v: _set(x * 1, torch.tensor(idx), v),
          [(3, 4), (4,)])


def _set(t, key, value):
    t[key] = value
    return t


def test_index_out_of_bounds_is_index_error_with_values():
    x = mg.zeros(3, 4)
    with pytest.raises(IndexError, match=r"5.*3|3.*5"):
        x[5]
    with pytest.raises(IndexError, match=r"-5"):
        x[:, -5]
    with pytest.raises(IndexError, match=r"7"):
        x[mg.tensor([0, 7])]
    with pytest.raises(IndexError, match="too many indices|3 dimensions|2-dimensional|dimension"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match=r"4|shape"):
        x[mg.tensor([True, False])]
    with pytest.raises(IndexError, match=r"4"):
        x[0, 4] = 1.0


def test_float_index_is_type_error():
    with pytest.raises((TypeError, IndexError)):
        mg.zeros(3)[mg.tensor([0.0, 1.0])]
    with pytest.raises((TypeError, IndexError)):
        mg.zeros(3)[1.5]


def test_slice_is_a_view():
    x = mg.zeros(4, 4)
    x[1:3, ::2].fill_(1.0)
    assert x.sum().item() == 4.0
    assert x[1, 0].item() == 1.0 and x[1, 1].item() == 0.0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(dim):
    index = np.random.default_rng(0).integers(0, 3, size=(2, 3))
    check(lambda x: x.gather(dim, mg.tensor(index)), lambda x: x.gather(dim, torch.tensor(index)),
          [(3, 3)])


def test_gather_errors():
    x = mg.zeros(3, 3)
    with pytest.raises(IndexError, match=r"5"):
        x.gather(1, mg.tensor([[0, 5]]))
    with pytest.raises((RuntimeError, TypeError), match="int64|Long|integer"):
        x.gather(1, mg.tensor([[0.0]]))


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add(dim):
    index = np.array([[0, 1, 2, 0], [2, 0, 0, 1]])
    check(lambda x, s: x.scatter_add(dim, mg.tensor(index), s),
          lambda x, s: x.scatter_add(dim, torch.tensor(index), s), [(3, 4), (2, 4)])


def test_scatter_add_accumulates_duplicates():
    out = mg.zeros(3).scatter_add(0, mg.tensor([0, 0, 2, 0]), mg.tensor([1.0, 2.0, 3.0, 4.0]))
    assert out.tolist() == [7.0, 0.0, 3.0]
    with pytest.raises(IndexError, match=r"3"):
        mg.zeros(3).scatter_add(0, mg.tensor([3]), mg.tensor([1.0]))


def test_scatter_without_duplicates_matches_torch():
    index = np.array([[2, 0, 1]])
    got = mg.zeros(3, 3).scatter(0, mg.tensor(index), mg.tensor([[1.0, 2.0, 3.0]]))
    want = torch.zeros(3, 3).scatter(0, torch.tensor(index), torch.tensor([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dim", [0, 1])
def test_index_select(dim):
    idx = np.array([2, 0, 2])
    check(lambda x: x.index_select(dim, mg.tensor(idx)),
          lambda x: x.index_select(dim, torch.tensor(idx)), [(3, 4)])
    with pytest.raises(IndexError, match=r"9"):
        mg.zeros(3, 4).index_select(dim, mg.tensor([9]))


def test_masked_fill():
    mask = np.array([[True, False, True, False]])
    check(lambda x: x.masked_fill(mg.tensor(mask), -1.5),
          lambda x: x.masked_fill(torch.tensor(mask), -1.5), [(3, 4)])
    with pytest.raises(RuntimeError, match=r"\(2,\)|\[2\]|broadcast"):
        mg.zeros(3, 4).masked_fill(mg.tensor([True, False]), 1.0)


def test_where_with_scalars_and_broadcast():
    cond = mg.tensor([[True], [False]])
    out = mg.where(cond, mg.tensor([1, 2, 3]), 0.5)
    want = torch.where(torch.tensor([[True], [False]]), torch.tensor([1, 2, 3]), 0.5)
    assert out.dtype.name == str(want.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(out.numpy(), want.numpy())


def test_nonzero_and_masked_select():
    x = np.array([[0, 1], [2, 0]])
    assert mg.tensor(x).nonzero().tolist() == [[0, 1], [1, 0]]
    assert mg.tensor(x).masked_select(mg.tensor(x > 0)).tolist() == [1, 2]


def test_take_along_dim():
    idx = np.array([[1, 0], [0, 0], [2, 1]])
    check(lambda x: mg.take_along_dim(x, mg.tensor(idx), 1),
          lambda x: torch.take_along_dim(x, torch.tensor(idx), 1), [(3, 3)])


def test_as_strided_gathers_pytorchs_elements_and_gradients():
    # overlapping sliding windows, a storage offset, a zero stride; the gradient sums every
    # window an element appears in
    x = np.random.default_rng(5).standard_normal((4, 6))
    weights = np.arange(54.0).reshape(3, 3, 2, 3)
    results = []
    for lib in (mg, torch):
        t = lib.tensor(x, requires_grad=True)
        windows = t.as_strided((3, 3, 2, 3), (6, 1, 6, 1), 1)
        repeated = lib.as_strided(t, (2, 5), (0, 4), 2)
        ((windows * lib.tensor(weights)).sum() + repeated.sum()).backward()
        results.append([a.detach().numpy() for a in (windows, repeated, t.grad)])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    t = mg.tensor(x)
    with pytest.raises(RuntimeError, match="reach element 28, out of bounds for a storage of 24"):
        t.as_strided((5, 5), (6, 1))
    with pytest.raises(RuntimeError, match="non-contiguous tensor is not supported"):
        t.t().as_strided((2, 2), (1, 1))
    with pytest.raises(RuntimeError, match="mismatch in length of strides and shape"):
        t.as_strided((2, 2), (1,))
