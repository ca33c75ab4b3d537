"""Backend results checked against the contract: the cheap always-on invariants and the full
checking mode (``MICROGRAD_CHECK_BACKEND=1``, always on in the conformance suite), each caught
lying by a backend that returns wrong shapes or dtypes."""

import os
import subprocess
import sys

import numpy as np
import pytest

import micrograd as mg
from micrograd.backend_check import BackendContractError, check_backend
from micrograd.backends.numpy_backend import NumpyBackend


class Liar(NumpyBackend):
    """numpy, except that add returns a (5,) array, sum returns float64 for float32 and
    permute forgets to permute."""

    name = "liar"

    def binary(self, op, a, b):
        if op == "add":
            return np.zeros(5, dtype=a.dtype)
        return super().binary(op, a, b)

    def reduce(self, op, x, axes, keepdim):
        return super().reduce(op, x, axes, keepdim).astype(np.float64)

    def permute(self, x, axes):
        return x


def liar(checked: bool) -> Liar:
    backend = Liar(mg.device("cpu"))
    return check_backend(backend) if checked else backend


@pytest.mark.parametrize("checked", [False, True])
def test_a_wrong_shape_from_add_is_caught_even_unchecked(checked):
    a = mg.ones(2, 3, device=liar(checked))
    with pytest.raises(BackendContractError, match=r"'liar'.*binary.*\(5,\).*\(2, 3\)"):
        a + a


def test_checking_mode_catches_wrong_dtypes_and_shapes_of_other_primitives():
    unchecked = mg.ones(2, 3, device=liar(False))
    assert unchecked.sum()._data.dtype == np.float64     # garbage a trusting core propagates
    assert unchecked.t()._data.shape == (2, 3)
    x = mg.ones(2, 3, device=liar(True))
    with pytest.raises(BackendContractError, match=r"reduce\(.*dtype float64, expected dtype "
                                                   r"float32"):
        x.sum()
    with pytest.raises(BackendContractError, match=r"permute\(.*shape \(2, 3\), expected "
                                                   r"shape \(3, 2\)"):
        x.t()


def test_checking_mode_passes_an_honest_backend_through_a_training_step():
    backend = check_backend(NumpyBackend(mg.device("cpu")))
    mg.manual_seed(0)
    model = mg.nn.Sequential(mg.nn.Conv2d(1, 2, 3), mg.nn.ReLU(), mg.nn.Flatten(),
                             mg.nn.Linear(2 * 4 * 4, 3)).to(backend)
    opt = mg.optim.Adam(model.parameters())
    x, y = mg.randn(4, 1, 6, 6, device=backend), mg.tensor([0, 1, 2, 0], device=backend)
    loss = mg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert np.isfinite(loss.item())


def test_the_environment_variable_wraps_backends_when_bound():
    code = ("import micrograd as mg; from micrograd.registry import registry; "
            "b = registry.backend('numpy'); print(hasattr(b.binary, '__wrapped__'))")
    for value, expected in (("1", "True"), ("0", "False"), ("", "False")):
        env = dict(os.environ, MICROGRAD_CHECK_BACKEND=value)
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.stdout.strip() == expected, proc.stderr
