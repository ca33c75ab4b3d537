"""fallbacks.run counts which optional ops ran natively and which were decomposed; a fast op
that hands a case back (fallbacks.decompose) counts as decomposed, and raises in strict mode."""

import numpy as np
import pytest

import micrograd as mg
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.device import device
from micrograd.ops import fallbacks


class HalfFastBackend(NumpyBackend):
    """relu natively; sigmoid declared, but float64 handed to the core's decomposition."""

    def relu(self, x):
        return np.maximum(x, 0)

    def sigmoid(self, x):
        if x.dtype == np.float64:
            return fallbacks.decompose(self, "sigmoid", mg.float64, x)
        return 1 / (1 + np.exp(-x))


@pytest.fixture
def backend(monkeypatch):
    monkeypatch.setattr(fallbacks, "counts", {})
    return HalfFastBackend(device("cpu"))


def _calls(op):
    return fallbacks.counts.get(("numpy", op), [0, 0])


def test_native_and_decomposed_calls_are_counted(backend):
    x = np.array([-1.0, 2.0], np.float32)
    fallbacks.run(backend, "relu", mg.float32, x)
    fallbacks.run(backend, "sigmoid", mg.float32, x)
    out = fallbacks.run(backend, "sigmoid", mg.float64, x.astype(np.float64))
    fallbacks.run(backend, "silu", mg.float32, x)             # not offered: decomposed
    np.testing.assert_allclose(out, 1 / (1 + np.exp([1.0, -2.0])))
    assert _calls("relu") == [1, 0]
    assert _calls("sigmoid") == [1, 1]
    # silu's decomposition builds on the sigmoid decomposition directly, not on dispatch
    assert _calls("silu") == [0, 1] and _calls("sigmoid") == [1, 1]


def test_strict_mode_refuses_a_declared_op_that_falls_back(backend, monkeypatch):
    monkeypatch.setattr(fallbacks, "strict", True)
    x = np.array([-1.0, 2.0])
    with pytest.raises(fallbacks.FastOpFellBack, match="'numpy' declares the fast op 'sigmoid' "
                                                       "but fell back .* float64"):
        fallbacks.run(backend, "sigmoid", mg.float64, x)
    fallbacks.run(backend, "sigmoid", mg.float32, x.astype(np.float32))     # native: fine
