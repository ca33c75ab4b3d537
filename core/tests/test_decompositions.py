"""The optional ops' declarations and their dispatch: call_optional runs a backend's method, or
the decomposition when the backend lacks the op or declines the call (NotImplemented), counts
which ran, and in strict mode refuses a declined call. Each op is declared exactly once, and
what is generated from the declarations (the contract history) agrees with them."""

import numpy as np
import pytest

import micrograd as mg
from micrograd import backend as contract
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.decompositions import (CONTRACT_HISTORY, OPTIONAL_OPS, FastOpFellBack,
                                      call_optional, dispatch, offered_ops, optional_op, spec)
from micrograd.device import device


class HalfFastBackend(NumpyBackend):
    """relu natively; sigmoid offered, but float64 declined."""

    def relu(self, x):
        return np.maximum(x, 0)

    def sigmoid(self, x):
        if x.dtype == np.float64:
            return NotImplemented
        return 1 / (1 + np.exp(-x))


@pytest.fixture
def backend(monkeypatch):
    monkeypatch.setattr(dispatch, "counts", {})
    return HalfFastBackend(device("cpu"))


def _calls(op):
    return dispatch.counts.get(("numpy", op), [0, 0])


def test_native_declined_and_missing_ops_are_counted(backend):
    x = np.array([-1.0, 2.0], np.float32)
    call_optional(backend, "relu", mg.float32, x)
    call_optional(backend, "sigmoid", mg.float32, x)
    out = call_optional(backend, "sigmoid", mg.float64, x.astype(np.float64))    # declined
    call_optional(backend, "silu", mg.float32, x)             # not offered: decomposed
    np.testing.assert_allclose(out, 1 / (1 + np.exp([1.0, -2.0])), rtol=1e-15)
    assert out.dtype == np.float64
    assert _calls("relu") == [1, 0]
    assert _calls("sigmoid") == [1, 1]
    # silu's decomposition builds on the sigmoid decomposition directly, not on dispatch
    assert _calls("silu") == [0, 1] and _calls("sigmoid") == [1, 1]


def test_strict_mode_refuses_a_declined_call(backend, monkeypatch):
    monkeypatch.setattr(dispatch, "strict", True)
    x = np.array([-1.0, 2.0])
    with pytest.raises(FastOpFellBack, match="'numpy' offers the fast op 'sigmoid' but "
                                             "declined it for float64"):
        call_optional(backend, "sigmoid", mg.float64, x)
    call_optional(backend, "sigmoid", mg.float32, x.astype(np.float32))     # native: fine
    call_optional(backend, "silu", mg.float32, x.astype(np.float32))        # not offered: fine


def test_a_declined_case_falls_back_through_the_tensor_api(monkeypatch):
    """A backend's relu that declines float64: the Tensor op still gives relu, forward and
    backward, on both dtypes, and the declined calls are counted as decomposed."""
    monkeypatch.setattr(dispatch, "counts", {})
    monkeypatch.setattr(NumpyBackend, "relu", lambda self, x: NotImplemented
                        if x.dtype == np.float64 else np.maximum(x, 0), raising=False)
    for dtype in (mg.float32, mg.float64):
        x = mg.tensor([-1.5, 0.0, 2.0], dtype=dtype, device="numpy", requires_grad=True)
        y = mg.nn.functional.relu(x)
        y.sum().backward()
        np.testing.assert_array_equal(y.detach().numpy(), [0.0, 0.0, 2.0])
        np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])
    assert dispatch.counts[("numpy", "relu")] == [1, 1]


def test_an_unknown_op_name_is_refused_naming_the_declared_ones(backend):
    with pytest.raises(KeyError, match="'rleu' is not an optional op .* relu, sigmoid"):
        call_optional(backend, "rleu", mg.float32, np.zeros(2, np.float32))


def test_offered_ops_lists_the_methods_a_backend_has(backend):
    assert offered_ops(NumpyBackend(device("cpu"))) == ("binary_", "arange")
    assert offered_ops(backend) == ("relu", "sigmoid", "binary_", "arange")


# ------------------------------------------------------------------ declarations

@pytest.fixture
def registry(monkeypatch):
    """A scratch OPTIONAL_OPS, so test declarations leave the real one alone."""
    scratch = dict(OPTIONAL_OPS)
    monkeypatch.setattr(spec, "OPTIONAL_OPS", scratch)
    return scratch


def test_a_declaration_is_the_spec(registry):
    @optional_op(added_in=(1, 1), dtypes=(mg.float32,), name="scaled_relu")
    def scaled(be, dt, x, scale=2.0, *, inplace=False):
        """scale * max(x, 0).

        Second paragraph of the semantics.

        Decomposition: maximum, then mul.
        """
    op = registry["scaled_relu"]
    assert op.signature == "scaled_relu(x, scale=2.0, *, inplace=False)"
    assert op.semantics == "scale * max(x, 0).\n\nSecond paragraph of the semantics."
    assert op.summary == "scale * max(x, 0)." and op.decomposition == "maximum, then mul."
    assert (op.added_in, op.dtypes, op.family, op.decompose) == ((1, 1), (mg.float32,),
                                                                 "test_decompositions", scaled)
    assert [p.name for p in op.parameters] == ["x", "scale", "inplace"]


def _declare(name="fresh_op", doc="Semantics.\n\nDecomposition: how.", **kw):
    def fn(be, dt, x):
        pass
    fn.__name__, fn.__doc__ = name, doc
    return optional_op(**{"added_in": (1, 0), **kw})(fn)


@pytest.mark.parametrize("bad, message", [
    (dict(name="relu"), "'relu' is declared twice: by micrograd.decompositions.activation"),
    (dict(name="matmul"), "'matmul' is a required primitive"),
    (dict(doc="Semantics only."), "a last paragraph 'Decomposition: ...'"),
    (dict(doc=None), "needs a docstring"),
    (dict(added_in=(9, 0)), r"added_in=\(9, 0\) must be .* no newer than the contract"),
    (dict(added_in=[1, 0]), "must be a \\(major, minor\\) tuple"),
])
def test_a_malformed_declaration_is_refused_at_import(registry, bad, message):
    with pytest.raises(TypeError, match=message):
        _declare(**bad)
    assert "fresh_op" not in registry


def test_a_declaration_must_take_the_backend_and_dtype_first(registry):
    def lonely(*xs):
        """Semantics.

        Decomposition: how.
        """
    with pytest.raises(TypeError, match="must take \\(be, dt, ...\\)"):
        optional_op(added_in=(1, 0))(lonely)


def test_every_op_is_declared_once_with_a_spec():
    for name, op in OPTIONAL_OPS.items():
        assert op.name == name and op.summary and op.decomposition, name
        assert op.dtypes and set(op.dtypes) <= set(mg.dtypes.ALL_DTYPES), name
        assert name not in contract.REQUIRED_PRIMITIVES
        assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in op.parameters), \
            f"{name}: a declaration spells out every parameter"


def test_the_contract_history_is_generated_from_the_declarations():
    assert max(CONTRACT_HISTORY) == contract.CONTRACT_VERSION
    assert set(CONTRACT_HISTORY) == {(1, minor) for minor in
                                     range(contract.CONTRACT_VERSION[1] + 1)}
    for name, op in OPTIONAL_OPS.items():
        assert name in CONTRACT_HISTORY[op.added_in].replace(",", " ").split(), name
    assert CONTRACT_HISTORY[(1, 1)] == "optional ops batch_norm, batch_norm_backward"
    assert CONTRACT_HISTORY[(1, 2)].startswith("Capabilities.flush_to_zero; the semantics")
    assert CONTRACT_HISTORY[(1, 2)].endswith(
        "optional ops conv_transpose2d, conv_transpose2d_backward, argsort, searchsorted")

