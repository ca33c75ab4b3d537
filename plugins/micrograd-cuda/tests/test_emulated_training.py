"""A small CNN trained through micrograd's public API on the host-emulated cuda backend takes
the same steps as on the numpy reference backend. This drives the backend's fused ops (conv,
pooling, cross-entropy, Adam, SGD) the way the core calls them, not the way its tests do."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import micrograd as mg
from micrograd import nn, optim

from host_emulation import emulate_on_cpu, emulated_backend_class, host_compiler

pytestmark = pytest.mark.skipif(host_compiler() is None,
                                reason="no host C++ compiler (g++) to emulate the kernels with")


@pytest.fixture(scope="module")
def emulated_device(kernel_build_dir):
    from micrograd.registry import BackendSpec, registry

    registry.load()
    with pytest.MonkeyPatch.context() as patch:
        emulate_on_cpu(patch)
        backend = emulated_backend_class()(kernel_build_dir)
        patch.setitem(registry.specs, "cuda_emulated", BackendSpec(
            "cuda_emulated", lambda index: backend, "cuda_emulated", (1, 0), 0, "tests", None))
        yield "cuda_emulated"


def small_cnn():
    mg.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), nn.SiLU(),
        nn.AvgPool2d(2, count_include_pad=False), nn.Flatten(), nn.Linear(4, 3))


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.Adam(params, lr=0.01, amsgrad=True),
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
], ids=["adam", "sgd"])
def test_training_steps_match_the_numpy_backend(emulated_device, make_optimizer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    y[1] = -100                                           # an ignored target
    reference = small_cnn().to("numpy")     # wherever "cpu" points (the C++ plugin in CI)
    model = copy.deepcopy(reference).to(emulated_device)
    results = []
    for device, net in (("numpy", reference), (emulated_device, model)):
        opt = make_optimizer(net.parameters())
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(mg.tensor(x, device=device)),
                                               mg.tensor(y, device=device))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        results.append((losses, [p.detach().to("numpy").numpy() for p in net.parameters()]))
    (ref_losses, ref_params), (losses, params) = results
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, want in zip(params, ref_params):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_training_ran_the_custom_kernels(emulated_device):
    backend = mg.tensor([1.0], device=emulated_device)._backend
    launched = {name for name, _, _ in backend._kernels.launches}
    assert {"im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward",
            "avg_pool2d_forward", "avg_pool2d_backward", "cross_entropy_rows", "relu", "silu",
            "adam_step", "sgd_step"} <= launched, sorted(launched)
