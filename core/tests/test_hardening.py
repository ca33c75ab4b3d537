"""What the hardening must still allow, on every installed host backend: view() of contiguous
layouts (and write-through on backends whose views are copies), integer aranges like PyTorch's,
bool arrays with non-0/1 bytes read as True, printing a large tensor in bounded memory, and an
empty MICROGRAD_DEVICE meaning unset."""

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

import micrograd as mg
from micrograd.registry import BackendError, registry


def _host_backends():
    found = []
    for name in ("numpy", "cpu", "metal"):
        try:
            registry.backend(name)
            found.append(name)
        except BackendError:
            pass
    return found


BACKENDS = _host_backends()


# ------------------------------------------------------------------ view and layouts
VIEWABLE = [   # (make from a (2, 3, 4) arange, view shape): PyTorch accepts every one
    (lambda t: t, (24,)), (lambda t: t, (4, 6)), (lambda t: t[1], (12,)),
    (lambda t: t[:, 1], (8,)), (lambda t: t.transpose(0, 1)[0], (8,)),
    (lambda t: t.permute(2, 0, 1), (4, 2, 3)), (lambda t: t.unsqueeze(1), (2, 1, 12)),
    (lambda t: t[:, :, :2], (2, 3, 2)), (lambda t: t[:, :, :2], (6, 2)),
    (lambda t: t[:, :1], (2, 4)), (lambda t: t.expand(2, 2, 3, 4)[0], (6, 4)),
    (lambda t: t.transpose(1, 2), (2, 4, 3)), (lambda t: t.t() if t.ndim == 2 else t[0].t(),
                                               (4, 3)),
    (lambda t: t[0].t(), (4, 3, 1)), (lambda t: t[..., ::2], (2, 3, 2)),
]
NOT_VIEWABLE = [
    (lambda t: t.transpose(0, 1), (24,)), (lambda t: t[:, :, :2], (12,)),
    (lambda t: t[0].t(), (12,)), (lambda t: t.permute(2, 0, 1), (4, 6)),
    (lambda t: t.unsqueeze(0).expand(2, 2, 3, 4), (48,)), (lambda t: t[..., ::2], (12,)),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_view_succeeds_and_fails_exactly_where_pytorch_does(backend):
    for make, shape in VIEWABLE + NOT_VIEWABLE:
        ours = make(mg.arange(24.0, device=backend).reshape(2, 3, 4))
        theirs = make(torch.arange(24.0).reshape(2, 3, 4))
        try:
            expected = theirs.view(shape)
        except RuntimeError:
            with pytest.raises(RuntimeError, match=r"not compatible.*reshape"):
                ours.view(shape)
            continue
        np.testing.assert_array_equal(ours.view(shape).numpy(force=True), expected.numpy())


@pytest.mark.parametrize("backend", BACKENDS)
def test_writes_through_a_view_of_a_slice_reach_the_base(backend):
    base = mg.zeros(4, 6, device=backend)
    base[:, 2:].view(4, 2, 2)[:, 1] = 7.0         # a non-contiguous slice that is viewable
    expected = torch.zeros(4, 6)
    expected[:, 2:].view(4, 2, 2)[:, 1] = 7.0
    np.testing.assert_array_equal(base.numpy(force=True), expected.numpy())


def test_layout_survives_detach_and_parameters():
    t = mg.zeros(2, 3).t()
    for same in (t.detach(), t.data, mg.nn.Parameter(t)):
        with pytest.raises(RuntimeError, match="not compatible"):
            same.view(6)
    assert t.contiguous().view(6).shape == (6,)
    assert t.clone().view(6).shape == (6,)


# ------------------------------------------------------------------ arange like PyTorch
@pytest.mark.parametrize("args, dtype", [
    ((0, 5.5, 1), "int64"), ((0.5, 5, 1), "int64"), ((0, 5, 1.5), "int64"),
    ((-0.5, 5, 1), "int64"), ((0, 10, 3), "int32"), ((10, 0, -3), "int64"),
    ((0, 300), "uint8"), ((0, 1, 0.1), "float32"), ((1, -1, -0.25), "float64"),
    ((0, 3), "float16"), ((5,), "int16"),
])
def test_arange_matches_pytorch(args, dtype):
    ours = mg.arange(*args, dtype=getattr(mg, dtype))
    theirs = torch.arange(*args, dtype=getattr(torch, dtype))
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy().astype(np.float64),
                               theirs.numpy().astype(np.float64))


# ------------------------------------------------------------------ non-canonical bools
@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_bytes_other_than_0_and_1_read_as_true_on_every_entry(backend):
    raw = np.array([2, 255, 0, 128, 1], np.uint8).view(np.bool_)
    expected = [True, True, False, True, True]
    mg.set_default_device(backend)
    try:
        for made in (mg.tensor(raw), mg.as_tensor(raw), mg.from_numpy(raw),
                     mg.from_dlpack(raw), mg.tensor(raw, device=backend)):
            assert made.tolist() == expected
            assert (~made).tolist() == [not v for v in expected]
            assert made.nonzero().shape == (4, 1)
            assert made.sum().item() == 4
            assert made.to(mg.uint8).tolist() == [1, 1, 0, 1, 1]
    finally:
        mg.set_default_device("numpy")
    assert raw.view(np.uint8).tolist() == [2, 255, 0, 128, 1]     # the caller's array untouched


def test_canonical_bool_arrays_still_share_memory_with_from_numpy():
    flags = np.array([True, False])
    t = mg.from_numpy(flags)
    flags[1] = True
    assert t.tolist() == [True, True]


# ------------------------------------------------------------------ printing
def test_printing_a_large_tensor_moves_only_its_edges():
    big = mg.zeros(4096, 4096)                      # 64 MiB of float32
    tracemalloc.start()
    try:
        text = repr(big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"printing a 64 MiB tensor allocated {peak / 2**20:.1f} MiB"
    assert text == repr(torch.zeros(4096, 4096))


@pytest.mark.parametrize("options", [
    dict(threshold=5, precision=2), dict(edgeitems=1, threshold=10), dict(profile="short"),
    dict(precision=6, sci_mode=True), dict(linewidth=40, threshold=5),
])
def test_set_printoptions_like_pytorch(options):
    values = [[0.5, 1.25, 300.0, 4.0, -2.0, 6.125, 7.0, 8.5]] * 8
    try:
        mg.set_printoptions(**options)
        torch.set_printoptions(**options)
        assert repr(mg.tensor(values)) == repr(torch.tensor(values))
    finally:
        mg.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


def test_set_printoptions_refuses_nonsense():
    with pytest.raises(ValueError, match="profile"):
        mg.set_printoptions(profile="tiny")
    with pytest.raises(ValueError, match="edgeitems"):
        mg.set_printoptions(edgeitems=-1)


# ------------------------------------------------------------------ environment
def test_an_empty_micrograd_device_means_unset():
    env = dict(os.environ, MICROGRAD_DEVICE="")
    proc = subprocess.run([sys.executable, "-c", "import micrograd as mg; "
                           "print(mg.ones(2).sum().item(), mg.ones(1).device)"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2.0", "cpu"]
