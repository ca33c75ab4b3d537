"""Small public PyTorch programs, each written once against the PyTorch API (the modules beside
this file), run by PyTorch 2.13 and by micrograd imported as torch, from identical initial
weights and the same data, for 20 steps: the losses must agree to 1e-4 relative at every step
on the numpy and cpu backends (1e-2 on metal, MLX's float32 CPU kernels). Step times are
reported at the end of the run, not asserted (the CI machine is shared).

Random draws the programs would make with torch.randn (VAE and DCGAN noise, batch indices) come
from a seeded numpy generator instead, so both libraries see the same numbers; dropout rates
are 0 for the same reason.
"""

from __future__ import annotations

import contextlib
import statistics

import numpy as np
import pytest

import micrograd as mg
from micrograd.registry import registry

import char_gpt
import dcgan
import mnist_cnn
import vae
import word_language_model
from conftest import STEP_TIMES

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")       # the bundled digits (micrograd's "train" extra)

STEPS = 20
PROGRAMS = {"char_gpt": char_gpt, "word_language_model": word_language_model,
            "mnist_cnn": mnist_cnn, "vae": vae, "dcgan": dcgan}
BACKENDS = {"numpy": ("cpu", 1e-4), "cpu": ("cpu", 1e-4), "metal": ("metal", 1e-2)}


@contextlib.contextmanager
def serving(device_type: str, backend: str):
    """Let ``backend`` serve ``device_type`` (what a user does with micrograd.set_backend)."""
    previous = registry.preferred.get(device_type)
    mg.set_backend(device_type, backend)
    try:
        yield
    finally:
        if previous is None:
            registry.preferred.pop(device_type, None)
        else:
            registry.preferred[device_type] = previous
        mg.set_default_device(None)


def _has(api: str) -> bool:
    owner = mg
    for part in api.split("."):
        owner = getattr(owner, part, None)
    return owner is not None


_REFERENCE: dict[str, tuple] = {}


def _pytorch_run(name):
    if name not in _REFERENCE:
        _REFERENCE[name] = PROGRAMS[name].run(torch, device="cpu", steps=STEPS)
    return _REFERENCE[name]


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_matches_pytorch(name, backend):
    registry.load()
    if backend not in registry.specs:
        pytest.skip(f"backend {backend!r} is not installed")
    missing = [api for api in getattr(PROGRAMS[name], "NEEDS", ()) if not _has(api)]
    if missing:
        pytest.skip(f"{name} needs micrograd.{', micrograd.'.join(missing)}, not there yet")
    device, rtol = BACKENDS[backend]
    theirs, their_seconds, init = _pytorch_run(name)
    with serving(device, backend):
        ours, our_seconds, _ = PROGRAMS[name].run(mg, device=device, steps=STEPS, init=init)
    ours, theirs = np.array(ours), np.array(theirs)
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    assert rel.max() < rtol, (f"{name} on {backend}: losses diverge at step {rel.argmax()} "
                              f"(relative {rel.max():.2g}):\nmicrograd {ours}\nPyTorch   {theirs}")
    # Skip the first steps (allocation, caches) when timing.
    STEP_TIMES.append((name, backend, statistics.median(our_seconds[3:]),
                       statistics.median(their_seconds[3:])))
