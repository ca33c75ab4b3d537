"""The device contract: exact host round trips, casts, fills, in-place writes through views,
moving between backends, refusing mixed-device ops and undeclared dtypes."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.oracle import random_values, round_to
from micrograd_conformance.tolerances import EXACT

ROUND_TRIP_SHAPES = [(), (0,), (1,), (1025,), (3, 4, 5)]


def extremes(dtype):
    if dtype is mg.bool:
        return np.array([True, False])
    if dtype.is_floating_point:
        return np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0, -1.5, 1e-3])
    info = np.iinfo(dtype.numpy)
    return np.array([info.min, info.max, 0, 1], dtype=dtype.numpy)


def test_host_round_trip_is_exact(dtype, backend, rng):
    for shape in ROUND_TRIP_SHAPES:
        values = random_values(rng, dtype, shape)
        assert_close(mg.tensor(values, dtype=dtype, device=backend), values, tol=EXACT,
                     backend=backend.name, op="from_host/to_host", context="round trip")
    values = extremes(dtype)
    back = host(mg.tensor(values, dtype=dtype, device=backend))
    if dtype.is_floating_point:
        np.testing.assert_array_equal(np.signbit(back), np.signbit(values),
                                      err_msg=f"{backend.name}: the sign of zero or inf is lost "
                                              f"in a {dtype.name} host round trip")
    assert_close(mg.tensor(values, dtype=dtype, device=backend), values, tol=EXACT,
                 backend=backend.name, op="from_host/to_host", context="extreme values")


def test_full_and_creation(dtype, backend):
    value = {"b": True, "u": 7, "i": -7, "f": -2.5}[dtype.kind]
    assert_close(mg.full((3, 17), value, dtype=dtype, device=backend), np.full((3, 17), value),
                 backend=backend.name, op="full", dtype=dtype)
    assert_close(mg.zeros(2, 0, 3, dtype=dtype, device=backend), np.zeros((2, 0, 3)),
                 backend=backend.name, op="full", dtype=dtype, context="empty")
    assert_close(mg.ones((), dtype=dtype, device=backend), np.ones(()),
                 backend=backend.name, op="full", dtype=dtype, context="0-d")
    if dtype is not mg.bool:
        assert_close(mg.arange(0, 9, 2, dtype=dtype, device=backend), np.arange(0, 9, 2),
                     backend=backend.name, op="arange", dtype=dtype)
        assert_close(mg.eye(3, 4, dtype=dtype, device=backend), np.eye(3, 4),
                     backend=backend.name, op="eye", dtype=dtype)


def test_astype_between_declared_dtypes(dtype, backend, rng):
    # Values every declared dtype holds exactly, so any conversion must be exact.
    values = rng.integers(0, 2 if dtype is mg.bool else 100, size=(5, 33))
    x = mg.tensor(values, dtype=dtype, device=backend)
    for target in backend.capabilities.dtypes:
        expected = values != 0 if target is mg.bool else values
        assert_close(x.to(target), expected, tol=EXACT, backend=backend.name, op="astype",
                     dtype=target, context=f"{dtype.name} -> {target.name}")
        assert_close(x.t().to(target), np.asarray(expected).T, tol=EXACT, backend=backend.name,
                     op="astype", dtype=target, context=f"{dtype.name} -> {target.name}, view")


@pytest.mark.conformance_dtypes((mg.float16, mg.bfloat16, mg.float32))
def test_narrowing_float_casts_round_to_nearest_even(dtype, backend, rng):
    if mg.float64 not in backend.capabilities.dtypes:
        pytest.skip(f"{backend.name} does not declare float64 to cast from")
    wide = rng.standard_normal(4097) * 10.0 ** rng.integers(-6, 6, 4097)
    # Exact ties: halfway between two neighbours of the narrow type.
    assert_close(mg.tensor(wide, dtype=mg.float64, device=backend).to(dtype),
                 round_to(wide, dtype), tol=EXACT, backend=backend.name, op="astype",
                 dtype=dtype, context="float64 -> narrower rounds to nearest even")


def test_copy_and_writes_through_views(dtype, backend, rng):
    values = random_values(rng, dtype, (4, 6))
    x = mg.tensor(values, dtype=dtype, device=backend)
    patch = random_values(rng, dtype, (2, 3))
    view = x[1:3, ::2]
    view.copy_(mg.tensor(patch, dtype=dtype, device=backend))
    expected = values.copy()
    expected[1:3, ::2] = patch
    assert_close(view, patch, tol=EXACT, backend=backend.name, op="copy_", context="the view")
    # On backends whose views are copies (views_share_memory=False) the core writes back.
    assert_close(x, expected, tol=EXACT, backend=backend.name, op="copy_",
                 context="write through a strided view reaches the base")
    y = mg.tensor(values, dtype=dtype, device=backend)
    y[::2, 1:5:3] = mg.tensor(patch[:, :2], dtype=dtype, device=backend)
    expected = values.copy()
    expected[::2, 1:5:3] = patch[:, :2]
    assert_close(y, expected, tol=EXACT, backend=backend.name, op="setitem_")


def test_to_another_backend_and_back(dtype, backend, rng):
    values = random_values(rng, dtype, (3, 17))
    x = mg.tensor(values, dtype=dtype, device=backend)
    on_numpy = x.to("numpy")
    assert on_numpy.backend == "numpy"
    assert_close(on_numpy, values, tol=EXACT, backend=backend.name, op="to", context="-> numpy")
    back = on_numpy.to(backend)
    assert back.backend == backend.name
    assert_close(back, values, tol=EXACT, backend=backend.name, op="to", context="numpy -> back")
    assert_close(x.t().to("numpy"), values.T, tol=EXACT, backend=backend.name, op="to",
                 context="a transposed view -> numpy")


@pytest.mark.conformance_dtypes((mg.float32, mg.float64))
def test_gradient_flows_through_to(dtype, backend):
    x = mg.tensor([1.0, -2.0, 3.0], dtype=dtype, device=backend, requires_grad=True)
    (x.to("numpy") * 2).sum().backward()
    assert x.grad is not None and x.grad.backend == backend.name
    assert_close(x.grad, np.full(3, 2.0), backend=backend.name, op="to", context="backward")


def test_mixed_backend_ops_raise(backend):
    from micrograd.registry import registry
    others = []
    for name in registry.specs:
        if name == backend.name:
            continue
        try:
            others.append(registry.backend(name))
        except mg.BackendError:
            continue
    if not others:
        pytest.skip(f"no second backend is available to mix with {backend.name!r}")
    a = mg.ones(3, device=backend)
    for other in others:
        b = mg.ones(3, device=other)
        for fn in (lambda: a + b, lambda: b * a, lambda: mg.where(a > 0, a, b)):
            with pytest.raises(RuntimeError, match="same device"):
                fn()


def test_undeclared_dtypes_raise_type_error(backend):
    refused = [d for d in mg.dtypes.ALL_DTYPES if d not in backend.capabilities.dtypes]
    if not refused:
        pytest.skip(f"{backend.name} declares every dtype")
    for dtype in refused:
        for make in (lambda: mg.tensor([1, 0], dtype=dtype, device=backend),
                     lambda: mg.zeros(2, dtype=dtype, device=backend)):
            with pytest.raises(TypeError, match=dtype.name) as info:
                make()
            assert backend.name in str(info.value), info.value


def test_random_draws_are_device_independent(backend):
    # Random numbers are drawn on the host, so one seed gives the same values on every backend.
    mg.manual_seed(1234)
    here = host(mg.rand(1000, device=backend))
    mg.manual_seed(1234)
    there = host(mg.rand(1000, device="numpy"))
    np.testing.assert_array_equal(here, there)
    assert 0.0 <= here.min() and here.max() < 1.0
    assert abs(here.mean() - 0.5) < 0.05


def test_error_cases_have_the_expected_type_and_message(backend):
    """Bad requests fail with PyTorch's exception types and messages that name what was asked
    for: a device index past ``device_count``, a malformed device string, an undeclared
    dtype, operands on two devices."""
    caps = backend.capabilities
    beyond = f"{caps.device_type}:{caps.device_count}"
    with pytest.raises(RuntimeError, match=f"{beyond}.*{backend.name}"):
        mg.zeros(2, device=beyond)
    with pytest.raises(ValueError, match=f"invalid device string '{caps.device_type}:x'"):
        mg.zeros(2, device=f"{caps.device_type}:x")
    refused = [d for d in mg.dtypes.ALL_DTYPES if d not in caps.dtypes]
    for dtype in refused[:1]:
        with pytest.raises(TypeError, match=f"{dtype.name}.*{backend.name}|"
                                            f"{backend.name}.*{dtype.name}"):
            mg.ones(3, dtype=dtype, device=backend)
    a = mg.ones(3, device=backend)
    b = mg.ones(3, device="numpy") if backend.name != "numpy" else None
    if b is not None:
        with pytest.raises(RuntimeError, match=r"Expected all tensors to be on the same device"):
            a + b
