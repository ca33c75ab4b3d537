"""Hostile and edge-case calls of the C++ backend, each run where a crash cannot take pytest down.

Every probe is a function that either returns (after checking its result against PyTorch or
numpy inside the probe) or raises; ``expect`` says which. ``test_probes.py`` runs them all in a
child process (``python probes.py START``), which prints one JSON line as each probe starts and
one with its outcome; when the child dies (a signal, an ASan report, std::terminate), the probe
it was running is reported as crashed and a new child carries on after it.

Families: huge shapes (byte sizes beyond int64, sizes beyond BLAS's 32 bits, allocations no
system can satisfy, also on the thread pool's workers), empty and 0-d inputs to every kernel
family, bool arrays whose bytes are not 0/1, and direct calls of ``micrograd_cpu._core`` with
arguments that break the backend contract.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

SIZE_ERRORS = (ValueError, RuntimeError, OverflowError, MemoryError)
"""What a too-large shape may raise through the core (it validates first, PyTorch-style), or
through the extension directly."""


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[], object]
    expect: type | tuple[type, ...] | None   # None: returns, its own checks passing


PROBES: list[Probe] = []


def probe(expect=None):
    def register(fn):
        PROBES.append(Probe(fn.__name__, fn, expect))
        return fn
    return register


# --------------------------------------------------------------------------------- helpers
# Imported lazily, so the parent process (which only reads names and expectations) stays light.

def _env():
    import micrograd as mg
    import torch
    from micrograd import dtypes
    from micrograd.device import device
    from micrograd_cpu import _core
    from micrograd_cpu.backend import _CODE, CpuBackend
    return mg, torch, dtypes, CpuBackend(device("cpu")), _core, _CODE


def _arr(values, dtype="float32"):
    mg, torch, dtypes, be, core, code = _env()
    return be.from_host(np.asarray(values, dtype=dtype), getattr(dtypes, dtype))


def _host(x):
    _, _, _, be, _, _ = _env()
    return np.array(be.to_host(x))


def _close(got, want):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    got = _host(got) if not isinstance(got, np.ndarray) else got
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5,
                               atol=1e-6)


def _code(name):
    _, _, dtypes, _, _, code = _env()
    return code[getattr(dtypes, name)]


def _hostile_bools():
    """A bool array holding bytes 2, 255, 0, 128 (true, true, false, true), written through the
    numpy view that shares the array's memory (as a DLPack consumer or np.asarray user can)."""
    x = _arr([False] * 4, "bool")
    np.asarray(x).view(np.uint8)[:] = [2, 255, 0, 128]
    return x


# ------------------------------------------------------------------------ huge shapes

@probe(SIZE_ERRORS)
def mg_zeros_2p62_by_4():
    mg = _env()[0]
    z = mg.zeros(2**62, 4, device="cpu")
    z[10**7] = 1.0   # wrote 160 MB past a tiny block before


@probe(SIZE_ERRORS)
def mg_arange_2p61():
    _env()[0].arange(0, 2**61, device="cpu")


@probe(SIZE_ERRORS)
def mg_full_int64_max():
    _env()[0].full((2**63 - 1,), 1.0, device="cpu")


@probe(SIZE_ERRORS)
def mg_ones_2p31_2p31_4_sum():
    _env()[0].ones(2**31, 2**31, 4, device="cpu").sum()   # returned 0 before


@probe(ValueError)
def core_full_bytes_overflow():
    _env()[4].full((2**62, 4), 0.0, _code("float32"))


@probe(ValueError)
def core_full_zero_dim_beside_huge_dim():
    # 0 elements, but strides (and numpy's view of it) would overflow
    _env()[4].full((0, 2**62, 4), 0.0, _code("float32"))


@probe(OverflowError)
def core_full_dim_beyond_int64():
    _env()[4].full((2**70,), 0.0, _code("float32"))


@probe(ValueError)
def core_full_negative_dim():
    _env()[4].full((3, -1), 0.0, _code("float32"))


@probe(ValueError)
def core_expand_beyond_int64():
    _env()[4].expand(_arr([1.0]), (2**62, 4))


@probe(ValueError)
def core_reshape_count_overflow():
    _env()[4].reshape(_arr([1.0, 2.0]), (2**62, 2**62, 0))


@probe(ValueError)
def core_cat_of_huge_views_overflows():
    core = _env()[4]
    big = core.expand(_arr([1.0]), (2**62,))
    core.cat([big, big], 0)


@probe()
def core_slice_with_huge_step():
    core = _env()[4]
    s = core.slice(_arr(np.arange(5.0)), (slice(1, 5, 2**62),))
    assert s.shape == (1,) and _host(s).tolist() == [1.0]


@probe(ValueError)
def core_matmul_k_beyond_blas_int32():
    core = _env()[4]
    one = core.full((1, 1), 1.0, _code("float32"))
    core.matmul(core.expand(one, (1, 2**31)), core.expand(one, (2**31, 1)))


@probe(ValueError)
def core_arange_count_beyond_int64():
    _env()[4].arange(0.0, 1e30, 1e-10, _code("float64"))


@probe(ValueError)
def core_arange_bytes_overflow():
    _env()[4].arange(0.0, float(2**61), 1.0, _code("int64"))


@probe(ValueError)
def core_arange_int_start_beyond_int64():
    _env()[4].arange(1e19, 2e19, 1e18, _code("int64"))


@probe()
def core_arange_float_beyond_int64():
    # values beyond int64 are fine for a float arange (they were cast to int64 before: UB)
    got = _host(_env()[4].arange(1e30, 1e30 + 3.5e24, 1e24, _code("float64")))
    np.testing.assert_allclose(got, 1e30 + 1e24 * np.arange(4))


@probe(ValueError)
def core_arange_zero_step():
    _env()[4].arange(0.0, 1.0, 0.0, _code("float32"))


@probe(ValueError)
def core_conv2d_padding_overflow():
    core = _env()[4]
    core.conv2d(core.full((1, 1, 4, 4), 1.0, 11), core.full((1, 1, 3, 3), 1.0, 11), 1, 2**62, 1, 1)


@probe(ValueError)
def core_conv2d_dilation_overflow():
    core = _env()[4]
    core.conv2d(core.full((1, 1, 4, 4), 1.0, 11), core.full((1, 1, 3, 3), 1.0, 11), 1, 0, 2**62, 1)


@probe(ValueError)
def core_conv2d_groups_overflow():
    core = _env()[4]
    core.conv2d(core.full((1, 4, 4, 4), 1.0, 11), core.full((1, 4, 3, 3), 1.0, 11), 1, 0, 1, 2**62)


@probe(ValueError)
def core_max_pool2d_kernel_overflow():
    core = _env()[4]
    core.max_pool2d(core.full((1, 1, 4, 4), 1.0, 11), 2**62, 1, 0, 2**62)


@probe(ValueError)
def core_avg_pool2d_padding_overflow():
    core = _env()[4]
    core.avg_pool2d(core.full((1, 1, 4, 4), 1.0, 11), 2, 1, 2**62, True)


@probe(ValueError)
def core_max_pool2d_empty_plane_stride_2():
    # (0 - 1) // 2 + 1 is 0 positions; C++'s truncating division made it 1 and read past x
    core = _env()[4]
    core.max_pool2d(core.full((1, 1, 0, 4), 1.0, 11), 1, 2, 0, 1)


@probe(MemoryError)
def core_allocation_no_system_can_satisfy():
    _env()[4].full((2**58,), 0.0, _code("float32"))   # 2**60 bytes


@probe()
def core_allocation_failure_on_pool_workers_is_memory_error():
    # Each of two blocks of this batch unfolds a 4 TB im2col scratch on its own thread (one
    # output row of a 1 x 2^20 kernel over 2^20 + 1 positions: the smallest band the kernel
    # unfolds): the workers' bad_alloc called std::terminate before. Then the pool must still
    # work.
    core = _env()[4]
    core.set_num_threads(2)
    x, w = core.full((2, 1, 1, 1 << 20), 1.0, 11), core.full((1, 1, 1, 1 << 20), 1.0, 11)
    try:
        core.conv2d(x, w, 1, (0, 1 << 19), 1, 1)
    except MemoryError as e:
        assert "out of memory" in str(e), e
    else:
        raise AssertionError("a 4 TB scratch was allocated")
    y = core.reduce("sum", core.full((1 << 20,), 1.0, 11), (0,), False)
    assert _host(y) == 1 << 20


@probe()
def core_allocator_empties_its_cache_and_stays_bounded():
    core = _env()[4]
    core.set_cache_limit(8 << 20)
    blocks = [core.full((1 << 20,), 1.0, 11) for _ in range(4)]   # 4 MB each
    del blocks
    stats = core.memory_stats()
    assert stats["cached_bytes"] <= 8 << 20 and stats["cache_limit"] == 8 << 20, stats
    core.empty_cache()
    assert core.memory_stats()["cached_bytes"] == 0
    core.set_cache_limit(1 << 30)


# ------------------------------------------------------------- empty and 0-d inputs

@probe()
def empty_elementwise_and_casts():
    mg, torch, dtypes, be, core, code = _env()
    x = _arr(np.zeros((0, 3)))
    for out in (be.unary("exp", x), be.binary("add", x, _arr(np.ones(3))),
                be.where(be.binary("gt", x, x), x, x), be.astype(x, dtypes.int64),
                be.contiguous(be.permute(x, (1, 0))), core.activation("gelu", x)):
        assert 0 in out.shape
    for shape in ((2, 3, 0), (2, 0, 3), (0,)):   # a scalar over an empty array: SIGFPE before
        for op in ("div", "add", "maximum"):
            assert be.binary(op, _arr(1.0), _arr(np.zeros(shape))).shape == shape
        assert be.binary("add", _arr(np.zeros(shape), "int32"), _arr(1, "int32")).shape == shape
    s = _arr(2.0)
    _close(be.binary("mul", s, s), np.array(4.0))
    _close(be.unary("sqrt", s), np.array(np.sqrt(2.0)))


@probe()
def empty_reductions_follow_torch():
    mg, torch, dtypes, be, core, code = _env()
    x = _arr(np.zeros((0, 3)))
    t = torch.zeros(0, 3)
    _close(be.reduce("sum", x, (0,), False), t.sum(0))
    _close(be.reduce("sum", x, (0, 1), False), t.sum())
    _close(be.reduce("prod", x, (0,), True), t.prod(0, keepdim=True))
    _close(be.reduce("max", x, (1,), False), t.amax(1))           # (0,): nothing to reduce
    _close(be.argreduce("argmax", x, 1, False), t.argmax(1))
    _close(be.cumsum(x, 0), t.cumsum(0))
    _close(be.reduce("sum", _arr(3.0), (), False), np.array(3.0))  # 0-d, no axes


@probe(IndexError)
def empty_axis_max_keepdim_raises():
    _, _, _, be, _, _ = _env()
    be.reduce("max", _arr(np.zeros((0, 3))), (0,), True)   # gave -inf before


@probe(IndexError)
def empty_axis_min_raises():
    _, _, _, be, _, _ = _env()
    be.reduce("min", _arr(np.zeros((0, 0))), (1,), False)


@probe(IndexError)
def empty_axis_argmax_raises():
    _, _, _, be, _, _ = _env()
    be.argreduce("argmax", _arr(np.zeros((3, 0))), 1, False)


@probe()
def empty_matmul_every_dtype():
    mg, torch, dtypes, be, core, code = _env()
    for name in ("float32", "float64", "float16", "int64", "int8", "bool"):
        a, b = _arr(np.zeros((2, 0)), name), _arr(np.zeros((0, 3)), name)
        out = _host(be.matmul(a, b))
        assert out.shape == (2, 3) and not out.any(), (name, out)
        assert _host(be.matmul(_arr(np.zeros((0, 4)), name), _arr(np.zeros((4, 3)), name))).shape == (0, 3)
    assert _host(be.matmul(_arr(np.zeros((0, 2, 4))), _arr(np.zeros((0, 4, 3))))).shape == (0, 2, 3)


@probe()
def empty_conv2d_forward_and_backward():
    mg, torch, dtypes, be, core, code = _env()
    F = torch.nn.functional
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = core.conv2d(_arr(np.zeros((0, 3, 8, 8))), _arr(w), 1, 0, 1, 1)     # SIGFPE before
    _close(y, F.conv2d(torch.zeros(0, 3, 8, 8), torch.from_numpy(w)))
    gx, gw = core.conv2d_backward(_arr(np.zeros((0, 4, 6, 6))), _arr(np.zeros((0, 3, 8, 8))),
                                  _arr(w), 1, 0, 1, 1)
    _close(gx, np.zeros((0, 3, 8, 8)))
    _close(gw, np.zeros((4, 3, 3, 3)))
    # no input channels: every output sums nothing (PyTorch returns an empty (2, 0, 6, 6))
    _close(core.conv2d(_arr(np.zeros((2, 0, 8, 8))), _arr(np.zeros((4, 0, 3, 3))), 1, 0, 1, 1),
           np.zeros((2, 4, 6, 6)))
    assert core.conv2d(_arr(np.zeros((2, 3, 8, 8))), _arr(np.zeros((0, 3, 3, 3))), 1, 0, 1, 1).shape == (2, 0, 6, 6)
    assert core.conv2d(_arr(np.zeros((0, 4, 8, 8))), _arr(np.zeros((4, 2, 3, 3))), 2, 1, 1, 2).shape == (0, 4, 4, 4)


@probe()
def empty_conv_transpose2d_forward_and_backward():
    mg, torch, dtypes, be, core, code = _env()
    F = torch.nn.functional
    w = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32)
    y = core.conv_transpose2d(_arr(np.zeros((0, 3, 4, 4))), _arr(w), 1, 0, 0, 1, 1)
    _close(y, F.conv_transpose2d(torch.zeros(0, 3, 4, 4), torch.from_numpy(w)))
    gx, gw = core.conv_transpose2d_backward(_arr(np.zeros((0, 2, 6, 6))),       # SIGFPE before
                                            _arr(np.zeros((0, 3, 4, 4))), _arr(w), 1, 0, 0, 1, 1)
    _close(gx, np.zeros((0, 3, 4, 4)))
    _close(gw, np.zeros((3, 2, 3, 3)))


@probe()
def empty_pools_forward_and_backward():
    mg, torch, dtypes, be, core, code = _env()
    F = torch.nn.functional
    for shape in ((0, 3, 8, 8), (2, 0, 8, 8)):
        x = _arr(np.zeros(shape))
        y, idx = core.max_pool2d(x, 2, 2, 0, 1)
        assert y.shape == idx.shape == shape[:2] + (4, 4)
        assert core.max_pool2d_backward(y, idx, shape).shape == shape
        a = core.avg_pool2d(x, 2, 2, 0, True)
        assert a.shape == shape[:2] + (4, 4)
        assert core.avg_pool2d_backward(a, shape, 2, 2, 0, True).shape == shape
    _close(core.max_pool2d(_arr(np.zeros((0, 3, 8, 8))), 2, 2, 0, 1)[0],
           F.max_pool2d(torch.zeros(0, 3, 8, 8), 2))


@probe()
def empty_batch_norm_follows_torch():
    mg, torch, dtypes, be, core, code = _env()
    F = torch.nn.functional
    rm, rv = _arr(np.zeros(3)), _arr(np.ones(3))
    y, mean, invstd = core.batch_norm(_arr(np.zeros((0, 3, 4))), None, None, rm, rv, True, 0.1, 1e-5)
    assert y.shape == (0, 3, 4)
    _close(rm, np.zeros(3))                                  # untouched, as in PyTorch
    _close(rv, np.ones(3))
    gx, gw, gb = core.batch_norm_backward(_arr(np.zeros((0, 3, 4))), _arr(np.zeros((0, 3, 4))),
                                          _arr(np.ones(3)), mean, invstd, True)
    assert gx.shape == (0, 3, 4)
    _close(gw, np.zeros(3))                                  # PyTorch's weight.grad: zeros
    _close(gb, np.zeros(3))
    y, _, _ = core.batch_norm(_arr(np.zeros((4, 0))), None, None, None, None, True, 0.1, 1e-5)
    _close(y, F.batch_norm(torch.zeros(4, 0), None, None, training=True))
    y, _, _ = core.batch_norm(_arr(np.zeros((0, 3))), None, None, rm, rv, False, 0.1, 1e-5)
    assert y.shape == (0, 3)


@probe(ValueError)
def batch_norm_one_value_per_channel_raises():
    core = _env()[4]
    core.batch_norm(_arr(np.zeros((1, 3))), None, None, None, None, True, 0.1, 1e-5)


@probe()
def empty_softmax_and_cross_entropy():
    mg, torch, dtypes, be, core, code = _env()
    for shape in ((0, 3), (3, 0)):
        for log in (False, True):
            assert core.softmax(_arr(np.zeros(shape)), 1, log).shape == shape
    loss = core.cross_entropy(_arr(np.zeros((0, 3))), _arr(np.zeros(0), "int64"), -100)
    assert loss.shape == (0,)
    ignored = core.cross_entropy(_arr(np.zeros((2, 0))), _arr([-100, -100], "int64"), -100)
    _close(ignored, np.zeros(2))


@probe()
def empty_indexing_and_movement():
    mg, torch, dtypes, be, core, code = _env()
    x = _arr(np.arange(6.0).reshape(2, 3))
    none = _arr(np.zeros((2, 0)), "int64")
    assert be.gather(x, 1, none).shape == (2, 0)
    assert be.scatter(x, 1, none, _arr(np.zeros((2, 0))), True).shape == (2, 3)
    _close(be.scatter(x, 1, none, _arr(np.zeros((2, 0))), False), np.arange(6.0).reshape(2, 3))
    assert be.take(x, _arr(np.zeros(0), "int64"), 1).shape == (2, 0)
    assert be.take(_arr(np.zeros((0, 3))), _arr(np.zeros(0), "int64"), 0).shape == (0, 3)
    assert be.cat([_arr(np.zeros((0, 3))), x, _arr(np.zeros((0, 3)))], 0).shape == (2, 3)
    assert be.flip(be.slice(x, (slice(1, 1, 1),)), (0, 1)).shape == (0, 3)
    assert be.reshape(_arr(np.zeros((0, 3))), (3, 0, 5)).shape == (3, 0, 5)
    assert _host(be.nonzero(_arr(np.zeros((0, 3))))).shape == (0, 2)
    assert _host(be.nonzero(_arr(True, "bool"))).shape == (1, 0)     # 0-d, as torch
    assert _host(be.nonzero(_arr(False, "bool"))).shape == (0, 0)
    assert _host(core.arange(3.0, 3.0, 1.0, _code("int64"))).shape == (0,)


@probe()
def empty_fused_optimizer_steps():
    mg, torch, dtypes, be, core, code = _env()
    for name in ("float32", "float64", "bfloat16"):
        p, g, m, v = (_arr(np.zeros(0), "float32") if name == "bfloat16" else _arr(np.zeros(0), name)
                      for _ in range(4))
        core.sgd_step_(p, g, m, lr=0.1, momentum=0.9, dampening=0.0, nesterov=False,
                       weight_decay=0.0, maximize=False, first_step=True)
        core.adam_step_(p, g, m, v, None, step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                        weight_decay=0.01, decoupled_weight_decay=True, amsgrad=False,
                        maximize=False)
        assert p.shape == (0,)


# -------------------------------------------------------------- non-canonical bools

@probe()
def hostile_bools_from_host_are_stored_as_0_1():
    src = np.array([2, 255, 0, 128], np.uint8).view(np.bool_)
    x = _arr(src, "bool")
    assert np.asarray(x).view(np.uint8).tolist() == [1, 1, 0, 1]


@probe()
def hostile_bools_nonzero_counts_and_fills_alike():
    _, _, _, be, _, _ = _env()
    x = _hostile_bools()
    assert _host(be.nonzero(x)).tolist() == [[0], [1], [3]]   # 385 rows of freed heap before
    m = be.reshape(x, (2, 2))
    assert _host(be.nonzero(m)).tolist() == [[0, 0], [0, 1], [1, 1]]


@probe()
def hostile_bools_in_every_bool_kernel():
    mg, torch, dtypes, be, core, code = _env()
    x, truth = _hostile_bools(), np.array([True, True, False, True])
    want = {
        "logical_not": ~truth, "bitwise_not": ~truth,
        "eq_true": truth, "and_true": truth, "xor_true": ~truth, "or_false": truth,
    }
    t, f = be.full((4,), True, dtypes.bool), be.full((4,), False, dtypes.bool)
    got = {
        "logical_not": be.unary("logical_not", x), "bitwise_not": be.unary("bitwise_not", x),
        "eq_true": be.binary("eq", x, t), "and_true": be.binary("logical_and", x, t),
        "xor_true": be.binary("logical_xor", x, t), "or_false": be.binary("bitwise_or", x, f),
    }
    for k in want:
        assert np.asarray(got[k]).view(np.uint8).tolist() == want[k].astype(np.uint8).tolist(), k
    strided = be.slice(be.cat([x, x], 0), (slice(0, 8, 2),))   # bytes 2, 0, 2, 0, not dense
    assert _host(be.unary("logical_not", strided)).tolist() == [False, True, False, True]
    assert _host(be.where(x, _arr([1, 2, 3, 4], "int32"), _arr([0, 0, 0, 0], "int32"))).tolist() == [1, 2, 0, 4]
    assert _host(be.where(strided, _arr(np.ones(4)), _arr(np.zeros(4)))).tolist() == [1, 0, 1, 0]
    assert _host(be.astype(x, dtypes.int64)).tolist() == [1, 1, 0, 1]
    assert _host(be.astype(x, dtypes.float32)).tolist() == [1, 1, 0, 1]
    assert _host(be.reduce("sum", be.astype(x, dtypes.int64), (0,), False)) == 3
    assert np.asarray(be.reduce("sum", x, (0,), False)).view(np.uint8) == 1   # any()
    assert np.asarray(be.reduce("prod", x, (0,), False)).view(np.uint8) == 0  # all()
    assert _host(be.reduce("max", x, (0,), False)) and not _host(be.reduce("min", x, (0,), False))
    assert _host(be.argreduce("argmin", x, 0, False)) == 2
    mat = be.matmul(be.reshape(x, (2, 2)), be.reshape(x, (2, 2)))
    assert np.asarray(mat).view(np.uint8).tolist() == [[1, 1], [0, 1]]


# ------------------------------------------------------ contract-breaking direct calls

def _x():
    return _arr(np.arange(12.0).reshape(3, 4))


def _i64(values):
    return _arr(values, "int64")


_CONTRACT = [
    # (name, call, expected exception)
    ("to_host_none", lambda c: c.to_host(None), TypeError),
    ("from_host_none", lambda c: c.from_host(None, 11), TypeError),
    ("from_host_bad_dtype_code", lambda c: c.from_host(np.zeros(2), 99), ValueError),
    ("from_host_strings", lambda c: c.from_host(np.array(["a", "b"]), 11), ValueError),
    ("full_value_none", lambda c: c.full((2,), None, 11), TypeError),
    ("full_value_beyond_64_bits", lambda c: c.full((2,), 2**70, 7), ValueError),
    ("full_shape_none", lambda c: c.full(None, 1.0, 11), TypeError),
    ("full_shape_float", lambda c: c.full((2.5,), 1.0, 11), TypeError),
    ("astype_bad_code", lambda c: c.astype(_x(), -1), ValueError),
    ("copy_dtype_mismatch", lambda c: c.copy_(_x(), c.full((3, 4), 1, 7)), TypeError),
    ("copy_shape_mismatch", lambda c: c.copy_(_x(), c.full((2, 4), 1.0, 11)), ValueError),
    ("unary_none", lambda c: c.unary("neg", None), TypeError),
    ("unary_op_not_a_string", lambda c: c.unary(5, _x()), ValueError),
    ("unary_int_op_on_float", lambda c: c.unary("bitwise_not", _x()), TypeError),
    ("unary_neg_bool", lambda c: c.unary("neg", c.full((2,), True, 0)), TypeError),
    ("binary_dtype_mismatch", lambda c: c.binary("add", _x(), c.full((3, 4), 1, 7)), TypeError),
    ("binary_shape_mismatch", lambda c: c.binary("add", _x(), c.full((5,), 1.0, 11)), ValueError),
    ("binary_into_wrong_shape", lambda c: c.binary_("add", c.full((4,), 0.0, 11), _x(), _x()), ValueError),
    ("binary_into_broadcast_view", lambda c: c.binary_("add", c.expand(c.full((1,), 0.0, 11), (3, 4)), _x(), _x()), ValueError),
    ("where_float_condition", lambda c: c.where(_x(), _x(), _x()), TypeError),
    ("where_branch_dtypes", lambda c: c.where(c.full((3, 4), True, 0), _x(), c.full((3, 4), 1, 7)), TypeError),
    ("reduce_axis_out_of_range", lambda c: c.reduce("sum", _x(), (2,), False), ValueError),
    ("reduce_negative_axis", lambda c: c.reduce("sum", _x(), (-1,), False), ValueError),
    ("reduce_axes_none", lambda c: c.reduce("sum", _x(), None, False), TypeError),
    ("reduce_unknown_op", lambda c: c.reduce("mean", _x(), (0,), False), ValueError),
    ("argreduce_negative_axis", lambda c: c.argreduce("argmax", _x(), -1, False), ValueError),
    ("argreduce_unknown_op", lambda c: c.argreduce("argfoo", _x(), 0, False), ValueError),
    ("cumsum_axis_out_of_range", lambda c: c.cumsum(_x(), 2), ValueError),
    ("argreduce_0d", lambda c: c.argreduce("argmax", c.full((), 1.0, 11), 0, False), ValueError),
    ("matmul_1d", lambda c: c.matmul(c.full((4,), 1.0, 11), c.full((4,), 1.0, 11)), ValueError),
    ("matmul_inner_mismatch", lambda c: c.matmul(_x(), _x()), ValueError),
    ("matmul_dtype_mismatch", lambda c: c.matmul(_x(), c.full((4, 2), 1.0, 12)), ValueError),
    ("reshape_count_mismatch", lambda c: c.reshape(_x(), (5, 5)), ValueError),
    ("reshape_minus_one", lambda c: c.reshape(_x(), (-1,)), ValueError),
    ("permute_repeated_axis", lambda c: c.permute(_x(), (0, 0)), ValueError),
    ("permute_negative_axis", lambda c: c.permute(_x(), (-1, 0)), ValueError),
    ("expand_fewer_dims", lambda c: c.expand(_x(), (12,)), ValueError),
    ("expand_negative", lambda c: c.expand(c.full((1,), 1.0, 11), (-1,)), ValueError),
    ("slice_non_slice_entry", lambda c: c.slice(_x(), (1,)), TypeError),
    ("slice_too_many", lambda c: c.slice(_x(), (slice(0, 1, 1),) * 3), IndexError),
    ("slice_negative_start", lambda c: c.slice(_x(), (slice(-1, 2, 1),)), IndexError),
    ("slice_step_zero", lambda c: c.slice(_x(), (slice(0, 2, 0),)), IndexError),
    ("slice_stop_beyond_int64", lambda c: c.slice(_x(), (slice(0, 2**70, 1),)), TypeError),
    ("flip_axis_out_of_range", lambda c: c.flip(_x(), (9,)), ValueError),
    ("cat_nothing", lambda c: c.cat([], 0), ValueError),
    ("cat_negative_axis", lambda c: c.cat([_x(), _x()], -1), ValueError),
    ("cat_dtype_mismatch", lambda c: c.cat([_x(), c.full((3, 4), 1, 7)], 0), ValueError),
    ("cat_none_member", lambda c: c.cat([_x(), None], 0), TypeError),
    ("take_2d_indices", lambda c: c.take(_x(), _i64([[0]]), 0), ValueError),
    ("take_int32_indices", lambda c: c.take(_x(), _arr([0], "int32"), 0), TypeError),
    ("take_out_of_range", lambda c: c.take(_x(), _i64([3]), 0), IndexError),
    ("take_negative_index", lambda c: c.take(_x(), _i64([-1]), 0), IndexError),
    ("gather_rank_mismatch", lambda c: c.gather(_x(), 0, _i64([0])), ValueError),
    ("gather_index_larger", lambda c: c.gather(_x(), 0, _i64(np.zeros((3, 5)))), IndexError),
    ("gather_negative_index", lambda c: c.gather(_x(), 1, _i64(np.full((3, 4), -1))), IndexError),
    ("scatter_src_shape", lambda c: c.scatter(_x(), 0, _i64(np.zeros((3, 4))), c.full((2, 4), 1.0, 11), False), ValueError),
    ("scatter_src_dtype", lambda c: c.scatter(_x(), 0, _i64(np.zeros((3, 4))), c.full((3, 4), 1.0, 12), True), ValueError),
    ("scatter_index_beyond", lambda c: c.scatter(_x(), 0, _i64(np.full((3, 4), 3)), _x(), False), IndexError),
    ("setitem_shape_mismatch", lambda c: c.setitem_(_x(), (slice(0, 1, 1),), c.full((2, 4), 1.0, 11)), ValueError),
    ("setitem_dtype_mismatch", lambda c: c.setitem_(_x(), (slice(0, 1, 1),), c.full((1, 4), 1, 7)), TypeError),
    ("nonzero_none", lambda c: c.nonzero(None), TypeError),
    ("activation_on_ints", lambda c: c.activation("relu", c.full((2,), 1, 7)), TypeError),
    ("activation_unknown", lambda c: c.activation("swish", _x()), ValueError),
    ("softmax_negative_axis", lambda c: c.softmax(_x(), -1, False), ValueError),
    ("softmax_on_ints", lambda c: c.softmax(c.full((2,), 1, 7), 0, False), TypeError),
    ("cross_entropy_float_target", lambda c: c.cross_entropy(_x(), c.full((3,), 0.0, 11), -100), ValueError),
    ("cross_entropy_target_length", lambda c: c.cross_entropy(_x(), _i64([0, 1]), -100), ValueError),
    ("cross_entropy_target_range", lambda c: c.cross_entropy(_x(), _i64([0, 1, 4]), -100), IndexError),
    ("cross_entropy_int_logits", lambda c: c.cross_entropy(c.full((3, 4), 1, 7), _i64([0, 1, 2]), -100), TypeError),
    ("batch_norm_1d_input", lambda c: c.batch_norm(c.full((4,), 1.0, 11), None, None, None, None, True, 0.1, 1e-5), ValueError),
    ("batch_norm_weight_shape", lambda c: c.batch_norm(_x(), c.full((3,), 1.0, 11), None, None, None, True, 0.1, 1e-5), ValueError),
    ("batch_norm_stats_dtype", lambda c: c.batch_norm(_x(), None, None, c.full((4,), 0.0, 12), c.full((4,), 1.0, 12), True, 0.1, 1e-5), TypeError),
    ("batch_norm_eval_without_stats", lambda c: c.batch_norm(_x(), None, None, None, None, False, 0.1, 1e-5), ValueError),
    ("batch_norm_backward_mean_shape", lambda c: c.batch_norm_backward(_x(), _x(), None, c.full((3,), 0.0, 11), c.full((4,), 1.0, 11), True), ValueError),
    ("conv2d_3d_input", lambda c: c.conv2d(c.full((1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 1, 0, 1, 1), ValueError),
    ("conv2d_int_dtype", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1, 7), c.full((1, 1, 3, 3), 1, 7), 1, 0, 1, 1), TypeError),
    ("conv2d_channel_mismatch", lambda c: c.conv2d(c.full((1, 2, 4, 4), 1.0, 11), c.full((1, 3, 3, 3), 1.0, 11), 1, 0, 1, 1), ValueError),
    ("conv2d_groups_zero", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 1, 0, 1, 0), ValueError),
    ("conv2d_stride_zero", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 0, 0, 1, 1), ValueError),
    ("conv2d_negative_padding", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 1, -2, 1, 1), ValueError),
    ("conv2d_kernel_larger", lambda c: c.conv2d(c.full((1, 1, 2, 2), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 1, 0, 1, 1), ValueError),
    ("conv2d_stride_triple", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), (1, 1, 1), 0, 1, 1), ValueError),
    ("conv2d_stride_string", lambda c: c.conv2d(c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), "1", 0, 1, 1), TypeError),
    ("conv2d_backward_grad_shape", lambda c: c.conv2d_backward(c.full((1, 1, 3, 3), 1.0, 11), c.full((1, 1, 4, 4), 1.0, 11), c.full((1, 1, 3, 3), 1.0, 11), 1, 0, 1, 1), ValueError),
    ("max_pool2d_kernel_zero", lambda c: c.max_pool2d(c.full((1, 1, 4, 4), 1.0, 11), 0, 1, 0, 1), ValueError),
    ("max_pool2d_dilation_zero", lambda c: c.max_pool2d(c.full((1, 1, 4, 4), 1.0, 11), 2, 1, 0, 0), ValueError),
    ("max_pool2d_padding_over_half", lambda c: c.max_pool2d(c.full((1, 1, 4, 4), 1.0, 11), 2, 1, 2, 1), ValueError),
    ("max_pool2d_3d_input", lambda c: c.max_pool2d(c.full((1, 4, 4), 1.0, 11), 2, 2, 0, 1), ValueError),
    ("max_pool2d_backward_index_range", lambda c: c.max_pool2d_backward(c.full((1, 1, 2, 2), 1.0, 11), c.full((1, 1, 2, 2), 99, 7), (1, 1, 4, 4)), IndexError),
    ("max_pool2d_backward_index_dtype", lambda c: c.max_pool2d_backward(c.full((1, 1, 2, 2), 1.0, 11), c.full((1, 1, 2, 2), 0, 5), (1, 1, 4, 4)), ValueError),
    ("avg_pool2d_backward_grad_shape", lambda c: c.avg_pool2d_backward(c.full((1, 1, 3, 3), 1.0, 11), (1, 1, 4, 4), 2, 2, 0, True), ValueError),
    ("sgd_grad_shape", lambda c: c.sgd_step_(c.full((3,), 1.0, 11), c.full((4,), 1.0, 11), None, lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False, first_step=True), ValueError),
    ("sgd_int_param", lambda c: c.sgd_step_(c.full((3,), 1, 7), c.full((3,), 1, 7), None, lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False, first_step=True), TypeError),
    ("sgd_momentum_without_buffer", lambda c: c.sgd_step_(c.full((3,), 1.0, 11), c.full((3,), 1.0, 11), None, lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False, first_step=True), ValueError),
    ("adam_step_zero", lambda c: c.adam_step_(*(c.full((3,), 1.0, 11) for _ in range(4)), None, step=0, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, amsgrad=False, maximize=False), ValueError),
    ("adam_amsgrad_without_max", lambda c: c.adam_step_(*(c.full((3,), 1.0, 11) for _ in range(4)), None, step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, amsgrad=True, maximize=False), ValueError),
    ("adam_state_dtype", lambda c: c.adam_step_(c.full((3,), 1.0, 11), c.full((3,), 1.0, 11), c.full((3,), 1.0, 12), c.full((3,), 1.0, 11), None, step=1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False, amsgrad=False, maximize=False), ValueError),
    ("dlpack_with_stream", lambda c: _x().__dlpack__(stream=1), ValueError),
    ("len_of_0d", lambda c: len(c.full((), 1.0, 11)), TypeError),
    ("set_cache_limit_negative", lambda c: c.set_cache_limit(-1), TypeError),
]


def _contract_probe(call):
    return lambda: call(_env()[4])


for _name, _call, _error in _CONTRACT:
    PROBES.append(Probe("contract_" + _name, _contract_probe(_call), _error))


@probe()
def non_contiguous_operands_match_dense_ones():
    mg, torch, dtypes, be, core, code = _env()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    xt = _arr(x.transpose(1, 0, 2, 3).copy())
    strided = be.permute(xt, (1, 0, 2, 3))                 # x's values, channel-major memory
    assert not strided.is_contiguous
    for got, want in ((core.batch_norm(strided, None, None, None, None, True, 0.1, 1e-5)[0],
                       core.batch_norm(_arr(x), None, None, None, None, True, 0.1, 1e-5)[0]),
                      (core.conv2d(strided, _arr(np.ones((2, 3, 3, 3))), 1, 1, 1, 1),
                       core.conv2d(_arr(x), _arr(np.ones((2, 3, 3, 3))), 1, 1, 1, 1)),
                      (core.max_pool2d(strided, 2, 2, 0, 1)[0], core.max_pool2d(_arr(x), 2, 2, 0, 1)[0]),
                      (core.softmax(strided, 1, True), core.softmax(_arr(x), 1, True))):
        _close(got, _host(want))
    logits = be.permute(_arr(rng.standard_normal((3, 6)).astype(np.float32)), (1, 0))
    target = be.slice(_i64([0, 9, 1, 9, 2, 9, 0, 9, 1, 9, 2, 9]), (slice(0, 12, 2),))
    want = torch.nn.functional.cross_entropy(torch.from_numpy(_host(logits)),
                                             torch.tensor([0, 1, 2, 0, 1, 2]), reduction="none")
    _close(core.cross_entropy(logits, target, -100), want)
    index = be.permute(_i64([[0, 1, 2], [2, 1, 0]]), (1, 0))
    _close(be.gather(_arr(np.arange(6.0).reshape(3, 2)), 0, index),
           np.take_along_axis(np.arange(6.0).reshape(3, 2), np.array([[0, 2], [1, 1], [2, 0]]), 0))
    # a fused step on a strided parameter writes through to it
    base = _arr(np.ones((4, 2)))
    param = be.slice(base, (slice(0, 4, 2),))
    core.sgd_step_(param, be.full((2, 2), 1.0, dtypes.float32), None, lr=0.5, momentum=0.0,
                   dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False,
                   first_step=True)
    assert _host(base)[:, 0].tolist() == [0.5, 1.0, 0.5, 1.0]


# ------------------------------------------------------------------------------ runner

def _outcome(p: Probe) -> dict:
    try:
        p.run()
    except BaseException as e:   # noqa: BLE001 - reported, judged by the parent
        return {"outcome": "raised", "type": type(e).__name__,
                "types": [c.__name__ for c in type(e).__mro__], "message": str(e)[:400]}
    return {"outcome": "returned"}


def main(start: int) -> None:
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        # Allocations that cannot succeed must also fail where the kernel overcommits memory
        # (vm.overcommit_memory=1 would hand out 4 TB and let the OOM killer strike on first
        # touch): cap the address space. (Under ASan, allocator_may_return_null does this.)
        import resource
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        soft = 1 << 40 if hard == resource.RLIM_INFINITY else min(1 << 40, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    for i in range(start, len(PROBES)):
        print(json.dumps({"start": i}), flush=True)
        print(json.dumps({"done": i, **_outcome(PROBES[i])}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
