"""Creating tensors, randomness, conversion to host objects and dtypes, and repr vs PyTorch."""

import pickle

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def same(t_mg, t_torch):
    assert t_mg.dtype.name == str(t_torch.dtype).removeprefix("torch."), (t_mg.dtype, t_torch.dtype)
    assert tuple(t_mg.shape) == tuple(t_torch.shape)
    np.testing.assert_array_equal(t_mg.float().numpy() if t_mg.dtype is mg.bfloat16 else t_mg.numpy(),
                                  t_torch.float().numpy() if t_torch.dtype == torch.bfloat16
                                  else t_torch.numpy())


# ------------------------------------------------------------ creation
@pytest.mark.parametrize("data", [
    [1, 2, 3], [1.0, 2.0], [[True, False]], 3, 2.5, True, [], [[1, 2], [3, 4]],
    np.array([1, 2], dtype=np.int16), np.array([1.5], dtype=np.float16),
    np.array([[1.0]], dtype=np.float64), np.uint8(7), [1, 2.5],
])
def test_tensor_infers_dtype_like_torch(data):
    same(mg.tensor(data), torch.tensor(data))


def test_tensor_with_explicit_dtype_and_from_tensor():
    same(mg.tensor([1.7, -2.2], dtype=mg.int32), torch.tensor([1.7, -2.2], dtype=torch.int32))
    same(mg.tensor([1, 2], dtype=mg.bfloat16), torch.tensor([1, 2], dtype=torch.bfloat16))
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor(a)
    assert not b.requires_grad and b.is_leaf
    b[0] = 9.0
    assert a[0].item() == 1.0      # a copy


def test_ragged_data_is_a_type_error():
    with pytest.raises((TypeError, ValueError), match="rectangular|inhomogeneous|sequence"):
        mg.tensor([[1, 2], [3]])


@pytest.mark.parametrize("name,args,kwargs", [
    ("zeros", (2, 3), {}), ("ones", ((2, 3),), {}), ("zeros", (0,), {}),
    ("ones", (3,), {"dtype": mg.int16}), ("full", ((2, 2), 7), {}), ("full", ((2,), 1.5), {}),
    ("full", ((2,), True), {}), ("arange", (5,), {}), ("arange", (1, 4, 0.5), {}),
    ("arange", (5, 1, -1), {}), ("arange", (0.0, 1.0, 0.1), {}), ("linspace", (0, 1, 5), {}),
    ("linspace", (-1, 1, 1), {}), ("eye", (3,), {}), ("eye", (2, 3), {}),
    ("zeros", (2,), {"dtype": mg.float64}), ("empty", (2, 2), {}),
])
def test_factories_match_torch(name, args, kwargs):
    got = getattr(mg, name)(*args, **kwargs)
    want = getattr(torch, name)(*args, **{k: getattr(torch, v.name) for k, v in kwargs.items()})
    if name == "empty":
        assert got.shape == tuple(want.shape) and got.dtype is mg.float32
        return
    assert got.dtype.name == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_like_factories():
    x = mg.ones(2, 3, dtype=mg.float16)
    for name in ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"]:
        y = getattr(mg, name)(x)
        assert y.shape == (2, 3) and y.dtype is mg.float16, name
    assert mg.full_like(x, 4).tolist() == [[4.0] * 3] * 2
    assert mg.zeros_like(x, dtype=mg.int8).dtype is mg.int8
    r = mg.randint_like(mg.zeros(50, dtype=mg.int32), 3, 6)
    assert r.dtype is mg.int32 and 3 <= r.min().item() and r.max().item() < 6
    assert x.new_zeros(4).dtype is mg.float16 and x.new_full((2,), 3).tolist() == [3.0, 3.0]


def test_negative_size_raises_naming_it():
    with pytest.raises(RuntimeError, match=r"-1"):
        mg.zeros(2, -1)


def test_arange_errors():
    with pytest.raises(RuntimeError, match="nonzero"):
        mg.arange(0, 5, 0)
    with pytest.raises(RuntimeError, match="step sign"):
        mg.arange(0, 5, -1)


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = mg.from_numpy(a)
    assert t.dtype is mg.int32 and t.shape == (2, 3)
    a[0, 0] = 100
    assert t[0, 0].item() == 100
    with pytest.raises(TypeError, match="ndarray"):
        mg.from_numpy([1, 2])
    with pytest.raises(TypeError, match="complex"):
        mg.from_numpy(np.zeros(2, dtype=np.complex64))


# ------------------------------------------------------------ randomness
def test_manual_seed_and_generators_are_deterministic():
    mg.manual_seed(123)
    a = mg.rand(5)
    mg.manual_seed(123)
    b = mg.rand(5)
    assert a.tolist() == b.tolist()
    g1, g2 = mg.Generator().manual_seed(7), mg.Generator().manual_seed(7)
    assert mg.randn(3, 4, generator=g1).tolist() == mg.randn(3, 4, generator=g2).tolist()
    assert mg.randint(0, 10, (6,), generator=g1).tolist() == \
        mg.randint(0, 10, (6,), generator=g2).tolist()
    state = g1.get_state()
    first = mg.rand(3, generator=g1).tolist()
    g1.set_state(state)
    assert mg.rand(3, generator=g1).tolist() == first
    assert g1.initial_seed() == 7


def test_random_distributions_and_dtypes():
    g = mg.Generator().manual_seed(0)
    u = mg.rand(20000, generator=g)
    n = mg.randn(20000, generator=g, dtype=mg.float64)
    r = mg.randint(-3, 4, (20000,), generator=g)
    assert u.dtype is mg.float32 and 0 <= u.min().item() and u.max().item() < 1
    assert abs(u.mean().item() - 0.5) < 0.01
    assert n.dtype is mg.float64 and abs(n.mean().item()) < 0.03 and abs(n.std().item() - 1) < 0.03
    assert r.dtype is mg.int64 and r.min().item() == -3 and r.max().item() == 3
    assert mg.randint(10, (3,)).shape == (3,)            # torch's randint(high, size)
    assert mg.randint(5, (2,), dtype=mg.int32).dtype is mg.int32
    p = mg.randperm(10, generator=g)
    assert sorted(p.tolist()) == list(range(10))
    with pytest.raises(TypeError, match="floating"):
        mg.rand(2, dtype=mg.int32)
    with pytest.raises(RuntimeError, match="from=5.*to=5"):
        mg.randint(5, 5, (2,))


# ------------------------------------------------------------ conversion
def test_item_tolist_numpy_array():
    x = mg.tensor([[1.5, 2.0]])
    assert x.tolist() == [[1.5, 2.0]] and isinstance(x[0, 0].item(), float)
    assert mg.tensor([3]).item() == 3 and isinstance(mg.tensor([3]).item(), int)
    assert mg.tensor(True).item() is True
    with pytest.raises(RuntimeError, match="2 elements"):
        x.item()
    assert np.asarray(x).dtype == np.float32
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    bf = mg.tensor([1.5], dtype=mg.bfloat16)
    assert np.asarray(bf).tolist() == [1.5]
    with pytest.raises(TypeError, match="bfloat16|BFloat16"):
        bf.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        mg.tensor([1.0], requires_grad=True).numpy()
    assert float(mg.tensor(2.5)) == 2.5 and int(mg.tensor(7)) == 7
    assert [1, 2, 3][mg.tensor(1)] == 2
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(mg.tensor([1, 2]))


def test_numpy_shares_memory_with_tensor():
    x = mg.zeros(3)
    x.numpy()[1] = 5.0
    assert x.tolist() == [0.0, 5.0, 0.0]


def test_dlpack_both_directions():
    x = mg.arange(6, dtype=mg.float32).reshape(2, 3)
    a = np.from_dlpack(x)
    assert a.dtype == np.float32 and a.tolist() == x.tolist()
    t = torch.arange(4, dtype=torch.int16)
    y = mg.from_dlpack(t)
    assert y.dtype is mg.int16 and y.tolist() == [0, 1, 2, 3]
    back = torch.from_dlpack(mg.tensor([1.0, 2.0]))
    assert back.tolist() == [1.0, 2.0]
    with pytest.raises(RuntimeError, match="detach"):
        np.from_dlpack(mg.tensor([1.0], requires_grad=True))


@pytest.mark.parametrize("method,dtype", [
    ("float", "float32"), ("double", "float64"), ("half", "float16"), ("bfloat16", "bfloat16"),
    ("long", "int64"), ("int", "int32"), ("short", "int16"), ("char", "int8"),
    ("byte", "uint8"), ("bool", "bool"),
])
def test_conversion_methods_match_torch(method, dtype):
    values = [-1.7, 0.0, 2.5, 300.25]
    got = getattr(mg.tensor(values), method)()
    want = getattr(torch.tensor(values), method)()
    assert got.dtype.name == dtype
    if dtype == "uint8":
        got, want = got[1:], want[1:]   # negative float -> uint8 is undefined in C, and in torch
    same(got, want)


def test_to_and_type_as():
    x = mg.tensor([1.5, 2.5], requires_grad=True)
    y = x.to(mg.float64)
    assert y.dtype is mg.float64 and y.requires_grad
    y.sum().backward()
    assert x.grad.dtype is mg.float32 and x.grad.tolist() == [1.0, 1.0]
    assert x.to("numpy").dtype is mg.float32
    assert x.to("cpu", mg.int32).dtype is mg.int32
    assert x.to(dtype=mg.float16).dtype is mg.float16
    assert x.to(mg.zeros(1, dtype=mg.int64)).dtype is mg.int64
    assert x.type_as(mg.zeros(1, dtype=mg.float16)).dtype is mg.float16
    assert x.to(mg.float32) is x
    assert x.to(mg.float32, copy=True) is not x
    assert x.type() == "micrograd.float32"
    with pytest.raises(TypeError, match="unexpected"):
        x.to(mg.float32, bogus=1)


def test_pickle_round_trip():
    x = mg.tensor([[1, 2]], dtype=mg.int16)
    y = pickle.loads(pickle.dumps(x))
    assert y.dtype is mg.int16 and y.tolist() == [[1, 2]]


def test_attributes():
    x = mg.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.device == mg.device("cpu") and str(x.device) == "cpu"
    assert x.is_leaf and x.grad is None and x.grad_fn is None and not x.requires_grad
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)
    assert repr(x.shape) == "micrograd.Size([2, 3, 4])"
    assert x.element_size() == 4 and x.is_floating_point()
    with pytest.raises(IndexError, match=r"\[-3, 2\].*3"):
        x.size(3)
    d = x.data
    assert d.shape == x.shape


# ------------------------------------------------------------ repr
REPR_CASES = [
    lambda m: m.tensor([1.0, 2.0, 3.0]),
    lambda m: m.tensor([[1.5, -2.25], [3.0, 4.125]]),
    lambda m: m.tensor([1, 2, 3]),
    lambda m: m.tensor([True, False]),
    lambda m: m.tensor(3.5),
    lambda m: m.tensor([1, 2], dtype=m.int32),
    lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
    lambda m: m.tensor([0.5], dtype=m.float16),
    lambda m: m.zeros(0),
    lambda m: m.zeros(2, 0),
    lambda m: m.tensor([1e-5, 1.0]),
    lambda m: m.tensor([1.0, 2.0], requires_grad=True),
    lambda m: m.tensor([float("nan"), float("inf"), 1.0]),
    lambda m: m.tensor([123456789.0, 1.0]),
    lambda m: m.tensor([1, -20, 3]),
    lambda m: m.tensor([-1e-5, 1.0]),
    lambda m: m.tensor([[-1.0, 10.5], [100.25, 2.0]]),
    lambda m: m.arange(12, dtype=m.float32).reshape(3, 4) / 7,
    lambda m: m.arange(2000).reshape(2, 1000),
    lambda m: m.arange(24).reshape(2, 3, 4),
    lambda m: m.tensor([-0.0, 0.0]),
    lambda m: m.tensor([0.1, 0.25, 1000.5]),
    lambda m: m.arange(30.0).reshape(3, 10) * 1.5,
    lambda m: m.tensor([123.456, -0.001]),
    lambda m: m.arange(1001.0),
    lambda m: m.tensor([1.5, 2.0], dtype=m.bfloat16),
    lambda m: m.arange(3000.0).reshape(10, 10, 30) / 7,
    lambda m: m.tensor([[True, False], [False, True]]),
    lambda m: m.tensor(float("nan")),
]


@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_repr_matches_torch(case):
    make = REPR_CASES[case]
    got = repr(make(mg))
    want = repr(make(torch)).replace("torch.", "micrograd.")
    assert got == want


def test_repr_of_graph_tensor_names_grad_fn():
    y = mg.tensor([1.0, 2.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2., 4.], grad_fn=<MulBackward0>)"


def test_python_integers_that_do_not_fit_raise_instead_of_wrapping():
    with pytest.raises(OverflowError, match="9223372036854775808.*int64"):
        mg.tensor(2 ** 63)
    with pytest.raises(OverflowError, match="300.*uint8.*0 to 255"):
        mg.tensor([1, 300], dtype=mg.uint8)
    with pytest.raises(OverflowError, match="-1.*uint8"):
        mg.full((2,), -1, dtype=mg.uint8)
    assert mg.tensor(2 ** 63, dtype=mg.uint64).item() == 2 ** 63
    # arrays cast like numpy/torch casts: wrapping is the documented behaviour there
    assert mg.tensor(np.array([300]), dtype=mg.uint8).tolist() == [44]


def test_sizes_must_be_integers():
    with pytest.raises(TypeError, match="tuple of ints.*2.5"):
        mg.zeros(2.5)
    with pytest.raises(TypeError, match="tuple of ints"):
        mg.ones("a")
    assert mg.zeros(np.int64(2), mg.tensor(3)).shape == (2, 3)


def test_arange_refuses_infinite_ranges():
    with pytest.raises(RuntimeError, match="finite"):
        mg.arange(float("inf"))
    with pytest.raises(RuntimeError, match="finite"):
        mg.arange(0, 10, float("nan"))


def test_dlpack_bfloat16_is_refused_with_a_hint():
    with pytest.raises(BufferError, match=r"float\(\)"):
        np.from_dlpack(mg.tensor([1.5], dtype=mg.bfloat16))
    with pytest.raises(TypeError, match="bfloat16.*float32"):
        mg.from_dlpack(torch.tensor([1.5], dtype=torch.bfloat16))


def test_dlpack_of_noncontiguous_views():
    x = mg.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.from_dlpack(x.T), np.arange(6.0).reshape(2, 3).T)
    t = torch.arange(6.0).reshape(2, 3).T
    assert mg.from_dlpack(t).tolist() == t.tolist()
