"""Host-side logic of the kernels (dtype mapping, grids, argument packing, shape arithmetic),
checked without a GPU; shape arithmetic and scatter addressing against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from micrograd import dtypes
from micrograd_cuda import kernels, launch


def test_every_kernel_ctype_has_a_numpy_dtype_and_back():
    for family in kernels.FAMILIES.values():
        for ctype in family.ctypes:
            assert launch.ctype_for(launch.NUMPY_OF_CTYPE[ctype].name) == ctype


def test_ctype_for_unsupported_dtype_lists_the_supported():
    with pytest.raises(TypeError, match="int8.*float32, float64"):
        launch.ctype_for("int8")


def test_fused_ops_compute_half_in_float32_and_refuse_integers():
    assert launch.float_compute_dtype("float16", "softmax") == "float32"
    assert launch.float_compute_dtype("float64", "softmax") == "float64"
    with pytest.raises(TypeError, match="softmax .* floating dtype .* got int64"):
        launch.float_compute_dtype("int64", "softmax")


def test_scatter_accumulates_every_declared_dtype_in_an_atomic_type():
    from micrograd_cuda.backend import DECLARED_DTYPES   # imports CuPy, not the driver
    for dtype in DECLARED_DTYPES:
        acc = launch.SCATTER_ACCUMULATOR[dtype.name]
        assert launch.ctype_for(acc) in kernels.SCATTER.ctypes
        assert np.dtype(acc).itemsize >= dtype.itemsize


@pytest.mark.parametrize("n,blocks", [(1, 1), (256, 1), (257, 2), (10**6, 3907),
                                      (10**10, launch.MAX_BLOCKS)])
def test_elementwise_grid_covers_n_and_is_capped(n, blocks):
    got_blocks, threads = launch.elementwise_launch(n)
    assert (got_blocks, threads) == (blocks, 256)
    # the kernels' grid-stride loop reaches every element with the capped grid too
    assert got_blocks * threads >= min(n, launch.MAX_BLOCKS * threads)


def test_empty_launch_is_refused():
    with pytest.raises(ValueError, match="0 elements"):
        launch.elementwise_launch(0)
    with pytest.raises(ValueError, match="3 rows of 0 columns"):
        launch.row_launch(3, 0, 4)


@pytest.mark.parametrize("cols,threads", [(1, 32), (32, 32), (33, 64), (1000, 1024),
                                          (10**6, 1024)])
def test_row_launch_uses_a_power_of_two_block_with_matching_shared_memory(cols, threads):
    blocks, got, shared = launch.row_launch(10, cols, 8)
    assert (blocks, got, shared) == (10, threads, threads * 8)
    assert got & (got - 1) == 0


def test_pack_args_converts_scalars_to_declared_widths():
    entry = kernels.ROWWISE.entry("softmax_rows")
    x = np.zeros((2, 3), np.float32)
    packed = launch.pack_args(entry, "float", (x, x, 2, 3, 1))
    assert [type(a) for a in packed[2:]] == [np.int64, np.int64, np.int32]
    sgd = launch.pack_args(kernels.OPTIMIZERS.entry("sgd_step"), "double",
                           (np.zeros(3), np.zeros(3), np.zeros(3), 3, 0.1, 0.9, 0.0, 0, 0.0,
                            0, 1, 1))
    assert type(sgd[4]) is np.float64


def test_pack_args_rejects_wrong_dtype_count_and_layout():
    entry = kernels.ROWWISE.entry("cross_entropy_rows")
    logits = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"argument 1 \(const long long\*\) needs an array of "
                                        r"int64, got int32"):
        launch.pack_args(entry, "float", (logits, np.zeros(2, np.int32), np.zeros(2, np.float32),
                                          2, 3, -100))
    with pytest.raises(TypeError, match="takes 6 arguments"):
        launch.pack_args(entry, "float", (logits,))
    with pytest.raises(ValueError, match="C-contiguous"):
        launch.pack_args(kernels.ACTIVATIONS.entry("relu"), "float",
                         (logits.T, np.zeros((3, 2), np.float32), 6))


@pytest.mark.parametrize("x,w,stride,padding,dilation,groups", [
    ((2, 3, 9, 7), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 10, 11), (6, 2, 3, 2), (2, 3), (1, 2), (2, 1), 2),
    ((3, 6, 5, 5), (6, 1, 5, 5), (1, 1), (2, 2), (1, 1), 6),
])
def test_conv2d_output_shape_matches_torch(x, w, stride, padding, dilation, groups):
    expected = torch.nn.functional.conv2d(torch.zeros(x), torch.zeros(w), None, stride, padding,
                                          dilation, groups).shape
    assert launch.conv2d_output_shape(x, w, stride, padding, dilation, groups) == expected


def test_conv2d_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"groups=2: x has 3 channels and w \(4, 1, 3, 3\)"):
        launch.conv2d_output_shape((1, 3, 8, 8), (4, 1, 3, 3), (1, 1), (0, 0), (1, 1), 2)
    with pytest.raises(ValueError, match="smaller than the dilated kernel 5x5"):
        launch.conv2d_output_shape((1, 1, 3, 3), (1, 1, 5, 5), (1, 1), (0, 0), (1, 1), 1)


@pytest.mark.parametrize("hw,kernel,stride,padding,dilation", [
    ((8, 8), (2, 2), (2, 2), (0, 0), (1, 1)),
    ((7, 9), (3, 2), (2, 1), (1, 1), (1, 2)),
])
def test_pool_output_matches_torch(hw, kernel, stride, padding, dilation):
    expected = torch.nn.functional.max_pool2d(torch.zeros(1, 1, *hw), kernel, stride, padding,
                                              dilation).shape[-2:]
    assert launch.pool2d_output_hw(hw, kernel, stride, padding, dilation) == tuple(expected)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flat_destinations_address_what_torch_scatter_add_does(axis):
    rng = np.random.default_rng(axis)
    shape = (4, 5, 3)
    index_shape = tuple(s - 1 for s in shape)     # smaller than x, as torch allows
    index = rng.integers(0, shape[axis], index_shape)
    src = rng.standard_normal(index_shape)
    out = np.zeros(shape)
    # what the scatter_add_flat kernel does, one atomic add per source element
    np.add.at(out.reshape(-1), launch.flat_destinations(shape, axis, index).reshape(-1),
              src.reshape(-1))
    expected = torch.zeros(shape, dtype=torch.float64).scatter_add_(
        axis, torch.from_numpy(index), torch.from_numpy(src))
    np.testing.assert_allclose(out, expected.numpy())


def test_bfloat16_is_not_declared():
    from micrograd_cuda.backend import DECLARED_DTYPES
    assert dtypes.bfloat16 not in DECLARED_DTYPES
    assert dtypes.float16 in DECLARED_DTYPES
