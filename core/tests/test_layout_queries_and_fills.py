"""Strides and memory formats, small movement and indexing ops, fmax/fmin and the in-place
random fills, against PyTorch 2.13: values, gradients, strides and errors."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def both(array, requires_grad=False):
    return (mg.tensor(array, requires_grad=requires_grad),
            torch.tensor(array, requires_grad=requires_grad))


def arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ strides and layouts

@pytest.mark.parametrize("view", [
    lambda t: t, lambda t: t.transpose(0, 2), lambda t: t.permute(1, 2, 0),
    lambda t: t[:, 1:, ::2], lambda t: t[0], lambda t: t[:, :1], lambda t: t.unsqueeze(1),
    lambda t: t.reshape(6, 5)[::2],
], ids=["plain", "transpose", "permute", "slices", "index", "size1", "unsqueeze", "reshape"])
def test_stride_and_is_contiguous_match_pytorch(view):
    ours, theirs = both(arr(2, 3, 5))
    a, b = view(ours), view(theirs)
    assert a.stride() == b.stride()
    assert [a.stride(d) for d in range(-a.ndim, a.ndim)] == \
        [b.stride(d) for d in range(-b.ndim, b.ndim)]
    assert a.is_contiguous() == b.is_contiguous()


def test_channels_last_has_pytorch_strides_values_and_gradient():
    ours, theirs = both(arr(2, 3, 4, 5), requires_grad=True)
    a = ours.contiguous(memory_format=mg.channels_last)
    b = theirs.contiguous(memory_format=torch.channels_last)
    assert a.stride() == b.stride() == (60, 1, 15, 3)
    for fmt_a, fmt_b in [(mg.channels_last, torch.channels_last),
                         (mg.contiguous_format, torch.contiguous_format)]:
        assert a.is_contiguous(memory_format=fmt_a) == b.is_contiguous(memory_format=fmt_b)
        assert ours.is_contiguous(memory_format=fmt_a) == \
            theirs.is_contiguous(memory_format=fmt_b)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert a.contiguous(memory_format=mg.channels_last) is a      # already laid out so
    back = a.contiguous()
    assert back.stride() == (60, 20, 5, 1)
    weights = arr(2, 3, 4, 5, seed=1)
    (a * mg.tensor(weights)).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
    with pytest.raises(RuntimeError, match="rank 4"):
        mg.zeros(2, 3, 4).contiguous(memory_format=mg.channels_last)
    assert not mg.zeros(2, 3, 4).is_contiguous(memory_format=mg.channels_last)
    c = mg.zeros(2, 3, 4, 5, 6).contiguous(memory_format=mg.channels_last_3d)
    assert c.stride() == torch.zeros(2, 3, 4, 5, 6).contiguous(
        memory_format=torch.channels_last_3d).stride()


def test_view_of_a_channels_last_tensor_refuses_as_pytorch():
    a = mg.zeros(2, 3, 4, 5).contiguous(memory_format=mg.channels_last)
    b = torch.zeros(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError):
        b.view(2, -1)
    with pytest.raises(RuntimeError):
        a.view(2, -1)
    assert tuple(a.reshape(2, -1).shape) == (2, 60)


def test_metadata_queries():
    for dtype, torch_dtype in [(mg.float32, torch.float32), (mg.int8, torch.int8),
                               (mg.uint8, torch.uint8), (mg.bool, torch.bool),
                               (mg.int64, torch.int64), (mg.bfloat16, torch.bfloat16)]:
        a, b = mg.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=torch_dtype)
        assert a.is_signed() == b.is_signed()
        assert a.nbytes == b.nbytes
        assert a.ndimension() == b.ndimension() == 2


# ------------------------------------------------------------------ movement

@pytest.mark.parametrize("call", [
    lambda m, t: m.fliplr(t), lambda m, t: m.flipud(t), lambda m, t: m.ravel(t),
    lambda m, t: t.ravel(), lambda m, t: t.sum_to_size(1, 3, 1), lambda m, t: t.sum_to_size(3, 4),
    lambda m, t: t.split_with_sizes([1, 2], 1)[1], lambda m, t: t.unfold(2, 2, 1),
    lambda m, t: t.unfold(1, 2, 2), lambda m, t: t.unfold(0, 2, 1), lambda m, t: t.unfold(2, 4, 3),
    lambda m, t: t.transpose(0, 1).unfold(2, 3, 1),
], ids=["fliplr", "flipud", "ravel", "ravel_method", "sum_to_size", "sum_to_size_lead",
        "split_with_sizes", "unfold", "unfold_step", "unfold_whole", "unfold_one", "unfold_view"])
def test_movement_values_and_gradients(call):
    ours, theirs = both(arr(2, 3, 4), requires_grad=True)
    a, b = call(mg, ours), call(torch, theirs)
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())
    weights = arr(*b.shape, seed=3)
    (a * mg.tensor(weights)).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("call, error", [
    (lambda m, t: t.unfold(2, 5, 1), RuntimeError), (lambda m, t: t.unfold(2, 2, 0), RuntimeError),
    (lambda m, t: m.fliplr(t[0, 0]), RuntimeError), (lambda m, t: t.sum_to_size(2, 4), RuntimeError),
    (lambda m, t: t.sum_to_size(1, 2, 3, 4), RuntimeError),
], ids=["unfold_size", "unfold_step", "fliplr_1d", "sum_to_size_shape", "sum_to_size_rank"])
def test_movement_errors_as_pytorch(call, error):
    ours, theirs = both(arr(2, 3, 4))
    with pytest.raises(error):
        call(torch, theirs)
    with pytest.raises(error):
        call(mg, ours)


def test_unfold_of_a_0d_tensor():
    assert mg.tensor(3.0).unfold(0, 1, 1).tolist() == torch.tensor(3.0).unfold(0, 1, 1).tolist()


# ------------------------------------------------------------------ indexing

def test_take_values_gradients_and_bounds():
    ours, theirs = both(arr(3, 4), requires_grad=True)
    index = [[0, -1, 5], [11, 2, 2]]
    a, b = mg.take(ours, mg.tensor(index)), torch.take(theirs, torch.tensor(index))
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    with pytest.raises(IndexError):
        torch.take(theirs, torch.tensor([12]))
    with pytest.raises(IndexError, match="12"):
        mg.take(ours, mg.tensor([12]))


@pytest.mark.parametrize("mask_shape", [(2, 3), (3,), (1, 3)])
def test_masked_scatter_matches_pytorch(mask_shape):
    rng = np.random.default_rng(5)
    mask = rng.random(mask_shape) > 0.4
    x_ours, x_theirs = both(arr(2, 3), requires_grad=True)
    s_ours, s_theirs = both(arr(7, seed=2), requires_grad=True)
    a = x_ours.masked_scatter(mg.tensor(mask), s_ours)
    b = x_theirs.masked_scatter(torch.tensor(mask), s_theirs)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    weights = arr(2, 3, seed=4)
    (a * mg.tensor(weights)).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy())
    np.testing.assert_allclose(s_ours.grad.numpy(), s_theirs.grad.numpy())
    inplace = mg.zeros(2, 3, dtype=mg.float64)
    inplace.masked_scatter_(mg.tensor(mask), s_ours.detach())
    expected = torch.zeros(2, 3, dtype=torch.float64).masked_scatter_(torch.tensor(mask),
                                                                      s_theirs.detach())
    np.testing.assert_array_equal(inplace.numpy(), expected.numpy())


def test_masked_scatter_refuses_a_short_source_another_dtype_and_a_non_bool_mask():
    with pytest.raises(RuntimeError, match="source"):
        mg.zeros(2, 3).masked_scatter(mg.ones(2, 3, dtype=mg.bool), mg.zeros(5))
    with pytest.raises(RuntimeError, match="float32 and float64"):
        mg.zeros(2, 3).masked_scatter(mg.ones(2, 3, dtype=mg.bool), mg.zeros(6, dtype=mg.float64))
    with pytest.raises(RuntimeError, match="boolean"):
        mg.zeros(2, 3).masked_scatter(mg.ones(2, 3), mg.zeros(6))


@pytest.mark.parametrize("shape, wrap", [
    ((3, 3), False), ((5, 3), False), ((7, 3), True), ((8, 3), True), ((4, 3), True),
    ((3, 5), True), ((3, 3, 3), False), ((2, 2, 2, 2), False), ((1, 1), False), ((0, 0), True),
])
def test_fill_diagonal_matches_pytorch(shape, wrap):
    a, b = mg.zeros(*shape), torch.zeros(*shape)
    assert a.fill_diagonal_(2.5, wrap=wrap) is a
    b.fill_diagonal_(2.5, wrap=wrap)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_fill_diagonal_errors():
    with pytest.raises(RuntimeError, match="larger than 1"):
        mg.zeros(3).fill_diagonal_(1.0)
    with pytest.raises(RuntimeError, match="equal length"):
        mg.zeros(2, 3, 3).fill_diagonal_(1.0)


# ------------------------------------------------------------------ fmax, fmin, aliases

NAN = float("nan")


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ignore_nan_and_send_ties_to_the_first_operand(name):
    left = [1.0, NAN, 2.0, NAN, 3.0, -0.0]
    right = [NAN, 3.0, 1.0, NAN, 3.0, 0.0]
    a_ours, a_theirs = both(left, requires_grad=True)
    b_ours, b_theirs = both(right, requires_grad=True)
    a, b = getattr(mg, name)(a_ours, b_ours), getattr(torch, name)(a_theirs, b_theirs)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_array_equal(a_ours.grad.numpy(), a_theirs.grad.numpy())
    np.testing.assert_array_equal(b_ours.grad.numpy(), b_theirs.grad.numpy())
    ints = getattr(mg, name)(mg.tensor([1, 5]), mg.tensor([3, 2]))
    assert ints.tolist() == getattr(torch, name)(torch.tensor([1, 5]), torch.tensor([3, 2])).tolist()
    assert ints.dtype is mg.int64


def test_comparison_function_aliases():
    a, b = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([2.0, 2.0, 2.0])
    for name in ["greater", "greater_equal", "less", "less_equal", "not_equal"]:
        expected = getattr(torch, name)(torch.tensor(a.numpy()), torch.tensor(b.numpy()))
        assert getattr(mg, name)(a, b).tolist() == expected.tolist()
    assert a.not_equal(b).tolist() == [True, False, True]


# ------------------------------------------------------------------ in-place random fills

def test_random_fills_follow_their_distributions():
    mg.manual_seed(0)
    x = mg.empty(200_000, dtype=mg.float64)
    assert abs(x.bernoulli_(0.3).mean().item() - 0.3) < 0.01
    assert abs(x.exponential_(2.0).mean().item() - 0.5) < 0.01
    assert abs(x.geometric_(0.25).mean().item() - 4.0) < 0.05 and x.min().item() == 1.0
    logs = x.log_normal_(0.5, 0.25).log()
    assert abs(logs.mean().item() - 0.5) < 0.01 and abs(logs.std().item() - 0.25) < 0.01
    assert abs(x.cauchy_(1.0, 2.0).median().item() - 1.0) < 0.05
    assert mg.zeros(4).bernoulli_(mg.tensor([0.0, 1.0, 1.0, 0.0])).tolist() == [0, 1, 1, 0]


def test_random_fills_draw_integers_in_range():
    mg.manual_seed(1)
    draws = mg.empty(5000, dtype=mg.int64).random_(3, 7)
    assert sorted(set(draws.tolist())) == [3, 4, 5, 6]
    assert set(mg.empty(5000).random_(4).tolist()) == {0.0, 1.0, 2.0, 3.0}
    assert set(mg.empty(5000).random_(to=2).tolist()) == {0.0, 1.0}
    assert mg.empty(5000).random_().max().item() <= 2 ** 24
    assert mg.empty(5000, dtype=mg.uint8).random_().max().item() > 200
    assert set(mg.empty(100, dtype=mg.bool).random_().tolist()) == {False, True}


def test_random_fills_are_seeded():
    first = mg.Generator().manual_seed(7)
    second = mg.Generator().manual_seed(7)
    assert mg.empty(8).exponential_(generator=first).tolist() == \
        mg.empty(8).exponential_(generator=second).tolist()


@pytest.mark.parametrize("call", [
    lambda t: t.bernoulli_(1.5), lambda t: t.bernoulli_(NAN), lambda t: t.exponential_(0.0),
    lambda t: t.geometric_(1.0), lambda t: t.log_normal_(0.0, 0.0), lambda t: t.cauchy_(0.0, -1.0),
    lambda t: t.random_(5, 5),
], ids=["bernoulli", "bernoulli_nan", "exponential", "geometric", "log_normal", "cauchy",
        "random"])
def test_random_fills_refuse_bad_parameters_as_pytorch(call):
    with pytest.raises(RuntimeError):
        call(torch.empty(3))
    with pytest.raises(RuntimeError):
        call(mg.empty(3))


# ------------------------------------------------------------------ in-place forms

@pytest.mark.parametrize("name, args, values, dtype", [
    ("eq_", (2.0,), [1.0, 2.0, 3.0], "float32"), ("ne_", (2.0,), [1.0, 2.0, 3.0], "float32"),
    ("lt_", (2.0,), [1.0, 2.0, 3.0], "float64"), ("le_", (2.0,), [1.0, 2.0, 3.0], "float32"),
    ("gt_", (2.0,), [1.0, 2.0, 3.0], "float32"), ("ge_", (2,), [1, 2, 3], "int64"),
    ("logical_not_", (), [0.0, 2.0, -1.0], "float32"), ("logical_and_", ([1, 0, 1],), [1, 1, 0], "int64"),
    ("logical_or_", ([True, False, False],), [False, False, True], "bool"),
    ("logical_xor_", ([True, True, False],), [False, True, True], "bool"),
    ("bitwise_and_", (3,), [5, 6, -1], "int64"), ("bitwise_or_", (8,), [5, 6, -1], "int32"),
    ("bitwise_xor_", (7,), [5, 6, 0], "int64"), ("bitwise_not_", (), [5, 0, -3], "int64"),
    ("fmod_", (3.0,), [5.0, -7.0, 0.5], "float32"), ("remainder_", (3.0,), [5.0, -7.0, 0.5], "float32"),
    ("atan2_", ([2.0, 2.0, -1.0],), [1.0, -1.0, 0.0], "float64"), ("nan_to_num_", (), [1.0, NAN, -np.inf], "float32"),
    ("cumsum_", (0,), [1.0, 2.0, 3.0], "float64"), ("cumprod_", (0,), [1.0, 2.0, 3.0], "float32"),
])
def test_in_place_forms_match_pytorch(name, args, values, dtype):
    ours = mg.tensor(values, dtype=getattr(mg, dtype))
    theirs = torch.tensor(values, dtype=getattr(torch, dtype))
    wrap = (lambda v, lib: lib.tensor(v, dtype=getattr(lib, dtype))
            if isinstance(v, list) else v)
    assert getattr(ours, name)(*[wrap(a, mg) for a in args]) is ours
    getattr(theirs, name)(*[wrap(a, torch) for a in args])
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_in_place_cumsum_records_the_graph():
    a, b = both([1.0, 2.0, 3.0], requires_grad=True)
    ours, theirs = a * 2, b * 2
    ours.cumsum_(0)
    theirs.cumsum_(0)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_arctan2_and_swapdims_aliases():
    a, b = mg.tensor([1.0, -1.0]), mg.tensor([2.0, 2.0])
    np.testing.assert_array_equal(mg.arctan2(a, b).numpy(), a.arctan2(b).numpy())
    np.testing.assert_array_equal(a.arctan2(b).numpy(), mg.atan2(a, b).numpy())
    assert tuple(mg.zeros(2, 3, 4).swapdims(0, 2).shape) == (4, 3, 2)


# ------------------------------------------------------------------ real-tensor conjugates

def test_conjugates_of_real_tensors_are_the_tensor():
    x = mg.tensor(arr(2, 3))
    t = torch.tensor(x.numpy())
    for name in ["conj", "conj_physical", "resolve_conj", "resolve_neg"]:
        assert getattr(x, name)() is x and getattr(mg, name)(x) is x
    assert x.real is x and mg.real(x) is x and not x.is_conj() and not mg.is_neg(x)
    for name in ["H", "mH"]:
        np.testing.assert_array_equal(getattr(x, name).numpy(), getattr(t, name).numpy())
    np.testing.assert_array_equal(x.adjoint().numpy(), t.adjoint().numpy())
    batch = mg.zeros(4, 2, 3)
    assert tuple(batch.mH.shape) == tuple(torch.zeros(4, 2, 3).mH.shape)
    with pytest.raises(RuntimeError, match="2-D"):
        batch.H
    with pytest.raises(RuntimeError):
        mg.zeros(3).adjoint()


# ------------------------------------------------------------------ statistics

@pytest.mark.parametrize("options", [
    {}, {"correction": 0}, {"fweights": [1, 2, 0, 3, 1, 1, 2]},
    {"aweights": [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.4]},
    {"fweights": [1, 2, 0, 3, 1, 1, 2], "aweights": [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.4],
     "correction": 2},
], ids=["plain", "population", "fweights", "aweights", "both"])
def test_cov_values_and_gradients_match_pytorch(options):
    ours, theirs = both(arr(3, 7), requires_grad=True)
    # float64 weights: with float32 ones PyTorch sums them in float32
    a = mg.cov(ours, **{k: mg.tensor(np.array(v)) if isinstance(v, list) else v
                        for k, v in options.items()})
    b = torch.cov(theirs, **{k: torch.tensor(np.array(v)) if isinstance(v, list) else v
                             for k, v in options.items()})
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)
    weights = arr(3, 3, seed=9)
    (a * mg.tensor(weights)).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cov_of_one_variable_and_corrcoef():
    ours, theirs = both(arr(7))
    assert mg.cov(ours).ndim == 0
    np.testing.assert_allclose(mg.cov(ours).item(), torch.cov(theirs).item(), rtol=1e-12)
    ours, theirs = both(arr(4, 9))
    np.testing.assert_allclose(mg.corrcoef(ours).numpy(), torch.corrcoef(theirs).numpy(),
                               rtol=1e-12, atol=1e-15)
    assert abs(mg.corrcoef(mg.tensor(arr(5))).item() - 1.0) < 1e-15
    with pytest.raises(RuntimeError, match="fweights"):
        mg.cov(mg.tensor(arr(3, 4)), fweights=mg.tensor([1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(RuntimeError, match="negative"):
        mg.cov(mg.tensor(arr(3, 4)), aweights=mg.tensor([1.0, -1.0, 1.0, 1.0]))


@pytest.mark.parametrize("args", [(), (10,), (7, -1.0, 1.0), (5, 0.5, 0.5), (4, 0.0, 3.0)])
def test_histc_matches_pytorch(args):
    data = np.concatenate([arr(999), [0.0, 1.0, 2.0, 3.0]]).astype(np.float32)
    np.testing.assert_array_equal(mg.histc(mg.tensor(data), *args).numpy(),
                                  torch.histc(torch.tensor(data), *args).numpy())
    same = mg.histc(mg.tensor([3.0, 3.0]), bins=4)
    assert same.tolist() == torch.histc(torch.tensor([3.0, 3.0]), bins=4).tolist()
    with pytest.raises(RuntimeError):
        mg.histc(mg.tensor([1, 2]))


def test_to_memory_format_for_tensors_and_modules():
    x = mg.tensor(arr(2, 3, 5, 5), dtype=mg.float32)
    t = torch.tensor(x.numpy())
    assert x.to(memory_format=mg.channels_last).stride() == \
        t.to(memory_format=torch.channels_last).stride()
    assert x.to(mg.float64, memory_format=mg.preserve_format).stride() == x.stride()
    ours = mg.nn.Sequential(mg.nn.Conv2d(3, 4, 3), mg.nn.Linear(2, 2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(2, 2))
    ours.to(memory_format=mg.channels_last)
    theirs.to(memory_format=torch.channels_last)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert a.stride() == b.stride() and isinstance(a, mg.nn.Parameter)
    out = ours[0](x.to(memory_format=mg.channels_last))
    assert tuple(out.shape) == (2, 4, 3, 3)
