"""``micrograd.testing`` (assert_close's verdicts and messages, make_tensor) and the
``micrograd.jit`` pass-throughs, against torch.testing and torch.jit where they say the same."""

from __future__ import annotations

import math

import numpy as np
import pytest

import micrograd as mg
from micrograd.testing import assert_close, make_tensor

torch = pytest.importorskip("torch")


def _message(fn, *args, **kwargs):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    return type(info.value), str(info.value)


def _both(build):
    """``build(lib)`` made with micrograd and with torch: the pair of arguments for each."""
    return build(mg), build(torch)


CASES = [
    lambda m: (m.tensor([1., 2., 3.]), m.tensor([1., 2.5, 3.])),
    lambda m: (m.tensor([[1., 2.], [3., 4.]]), m.tensor([[1., 2.], [3., 4.5]])),
    lambda m: (m.tensor([1., 2.], dtype=m.float64), m.tensor([1., 2. + 1e-6], dtype=m.float64)),
    lambda m: (m.tensor([1, 2]), m.tensor([1, 3])),
    lambda m: (m.tensor([True]), m.tensor([False])),
    lambda m: (m.tensor(1.), m.tensor(2.)),
    lambda m: (m.tensor([0.]), m.tensor([1.])),
    lambda m: (m.tensor([float("nan")]), m.tensor([float("nan")])),
    lambda m: (m.tensor([1., 5., 2.]), m.tensor([1.5, 5., 4.])),
    lambda m: (1.0, 1.5),
    lambda m: (1, 2),
    lambda m: ([m.ones(2), m.ones(2)], [m.ones(2), m.zeros(2)]),
    lambda m: ({"a": m.ones(2)}, {"a": m.zeros(2)}),
    lambda m: ([1, 2], [1, 2, 3]),
    lambda m: ({"a": 1}, {"b": 1}),
    lambda m: ([{"w": m.ones(3)}], [{"w": m.tensor([1., 1., 1.1])}]),
    lambda m: (m.tensor([1.]), 1.0),
    lambda m: ("a", "b"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_assert_close_fails_as_torch_does(case):
    (actual, expected), (t_actual, t_expected) = _both(CASES[case])
    ours = _message(assert_close, actual, expected)
    theirs = _message(torch.testing.assert_close, t_actual, t_expected)
    assert ours[0] is theirs[0]
    assert ours[1] == theirs[1].replace("torch.Tensor", "micrograd.tensor.Tensor")


@pytest.mark.parametrize("build", [
    lambda m: (m.ones(2), m.ones(3)),
    lambda m: (m.ones(2), m.ones(2, dtype=m.float64)),
    lambda m: (1, 1.0),
])
def test_attribute_mismatches_name_the_attribute(build):
    (actual, expected), (t_actual, t_expected) = _both(build)
    ours = _message(assert_close, actual, expected)
    theirs = _message(torch.testing.assert_close, t_actual, t_expected)
    assert ours[0] is theirs[0] is AssertionError
    assert ours[1] == theirs[1].replace("torch.", "micrograd.")


def test_assert_close_passes_within_the_dtypes_tolerance():
    assert_close(mg.tensor([1.0, 2.0]), mg.tensor([1.0, 2.0 + 1e-6]))
    assert_close(mg.tensor([1.0], dtype=mg.float16), mg.tensor([1.0005], dtype=mg.float16))
    assert_close(mg.tensor([1.0]), mg.tensor([1.1]), rtol=0.2, atol=0.0)
    assert_close(mg.tensor([math.nan, 1.0]), mg.tensor([math.nan, 1.0]), equal_nan=True)
    assert_close(mg.tensor([1.0]), mg.tensor([1.0], dtype=mg.float64), check_dtype=False)
    assert_close((mg.ones(2), {"k": [3, 4.0]}), [mg.ones(2), {"k": (3, 4.0)}])
    assert_close(mg.ones(2, requires_grad=True) * 1, mg.ones(2))


def test_assert_close_tolerance_arguments_and_msg():
    args = (mg.tensor([1.0, 2.0]), mg.tensor([1.0, 3.0]))
    with pytest.raises(ValueError, match="got no atol"):
        assert_close(*args, rtol=1e-3)
    with pytest.raises(AssertionError, match="^custom$"):
        assert_close(*args, msg="custom")
    with pytest.raises(AssertionError, match="^NOTE: Tensor-likes are not close"):
        assert_close(*args, msg=lambda text: "NOTE: " + text)
    with pytest.raises(AssertionError, match="stride"):
        assert_close(mg.ones(2, 3).t(), mg.ones(3, 2), check_stride=True)
    assert_close(mg.ones(2, 3).t(), mg.ones(3, 2))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "bfloat16"])
def test_make_tensor_ranges_and_flags(dtype):
    dt = getattr(mg, dtype)
    t = make_tensor(200, dtype=dt, device="cpu")
    assert t.dtype is dt and tuple(t.shape) == (200,) and not t.requires_grad
    values = t.float().numpy()
    if dtype == "bool":
        assert set(np.unique(values)) <= {0.0, 1.0}
    else:
        assert values.min() >= -9 and values.max() <= 9     # ints: high=10 is exclusive
    bounded = make_tensor((3, 4), dtype=dt, device="cpu", low=0, high=2)
    assert tuple(bounded.shape) == (3, 4)
    if dtype != "bool":
        assert bounded.float().numpy().min() >= 0 and bounded.float().numpy().max() <= 2


def test_make_tensor_requires_grad_noncontiguous_exclude_zero():
    t = make_tensor(4, 5, dtype=mg.float32, device="cpu", requires_grad=True, noncontiguous=True)
    assert t.requires_grad and t.is_leaf and not t.is_contiguous()
    ints = make_tensor(500, dtype=mg.int64, device="cpu", low=-1, high=1, exclude_zero=True)
    assert (ints.numpy() != 0).all()
    with pytest.raises(ValueError, match="less than or equal"):
        make_tensor(2, dtype=mg.float32, device="cpu", low=3, high=1)


# ------------------------------------------------------------------ jit


def test_jit_script_and_friends_return_what_they_are_given():
    @mg.jit.script
    def double(x):
        return x * 2

    assert double(mg.tensor([1.0])).item() == 2.0
    model = mg.nn.Linear(2, 3)
    assert mg.jit.script(model) is model
    assert mg.jit.ignore(double) is double
    assert mg.jit.ignore(drop=True)(double) is double
    assert mg.jit.unused(double) is double and mg.jit.export(double) is double
    assert mg.jit.is_scripting() is False and mg.jit.is_tracing() is False


def test_jit_trace_runs_the_module_once():
    calls = []
    model = mg.nn.Linear(2, 3)
    model.register_forward_hook(lambda m, args, out: calls.append(out.requires_grad))
    assert mg.jit.trace(model, mg.randn(4, 2)) is model
    assert calls == [False]          # run without recording a graph
    with pytest.raises(RuntimeError):
        mg.jit.trace(model, (mg.randn(4, 5),))     # an example that does not fit fails early


def test_jit_save_and_load_point_to_micrograd_save(tmp_path):
    with pytest.raises(NotImplementedError, match=r"micrograd\.save"):
        mg.jit.save(mg.nn.Linear(2, 2), tmp_path / "m.pt")
    with pytest.raises(NotImplementedError, match="load_state_dict"):
        mg.jit.load(tmp_path / "m.pt")


def test_distributed_sampler_and_default_convert_from_utils_data():
    from micrograd.utils.data import DistributedSampler, default_convert
    sampler = DistributedSampler(list(range(10)), num_replicas=2, rank=1, shuffle=False)
    assert list(sampler) == [1, 3, 5, 7, 9]
    converted = default_convert(np.arange(3))
    assert isinstance(converted, mg.Tensor)
