"""Shape/movement ops and matmul, forward and backward, against PyTorch."""

import numpy as np
import pytest

import micrograd as mg
from micrograd.ops.movement import pad
from oracle import check

torch = pytest.importorskip("torch")
F = torch.nn.functional

# name -> (input shapes, micrograd fn, torch fn); the same expression spelled in both.
MOVEMENT = {
    "view": ([(2, 3, 4)], lambda x: x.view(6, 4), lambda x: x.view(6, 4)),
    "view_infer": ([(2, 3, 4)], lambda x: x.view(-1, 2), lambda x: x.view(-1, 2)),
    "reshape_noncontig": ([(3, 4)], lambda x: x.T.reshape(12), lambda x: x.T.reshape(12)),
    "transpose": ([(2, 3, 4)], lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
    "permute": ([(2, 3, 4)], lambda x: x.permute(1, 2, 0), lambda x: x.permute(1, 2, 0)),
    "T": ([(3, 4)], lambda x: x.T, lambda x: x.T),
    "mT": ([(2, 3, 4)], lambda x: x.mT, lambda x: x.mT),
    "expand": ([(3, 1)], lambda x: x.expand(2, 3, 4), lambda x: x.expand(2, 3, 4)),
    "expand_minus1": ([(3, 1)], lambda x: x.expand(-1, 5), lambda x: x.expand(-1, 5)),
    "squeeze": ([(1, 3, 1)], lambda x: x.squeeze(), lambda x: x.squeeze()),
    "squeeze_dim": ([(1, 3, 1)], lambda x: x.squeeze(-1), lambda x: x.squeeze(-1)),
    "unsqueeze": ([(3, 4)], lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1)),
    "unsqueeze_neg": ([(3, 4)], lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1)),
    "flatten": ([(2, 3, 4)], lambda x: x.flatten(), lambda x: x.flatten()),
    "flatten_range": ([(2, 3, 4, 5)], lambda x: x.flatten(1, 2), lambda x: x.flatten(1, 2)),
    "contiguous": ([(3, 4)], lambda x: x.T.contiguous(), lambda x: x.T.contiguous()),
    "flip": ([(3, 4)], lambda x: x.flip(0), lambda x: x.flip(0)),
    "flip_dims": ([(2, 3, 4)], lambda x: x.flip((0, 2)), lambda x: x.flip((0, 2))),
    "narrow": ([(5, 4)], lambda x: x.narrow(0, 1, 3), lambda x: x.narrow(0, 1, 3)),
    "repeat": ([(2, 3)], lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3)),
    "cat": ([(2, 3), (4, 3)], lambda a, b: mg.cat([a, b]), lambda a, b: torch.cat([a, b])),
    "cat_dim1": ([(2, 3), (2, 1)], lambda a, b: mg.cat([a, b], 1),
                 lambda a, b: torch.cat([a, b], 1)),
    "cat_empty": ([(0, 3), (2, 3)], lambda a, b: mg.cat([a, b]), lambda a, b: torch.cat([a, b])),
    "stack": ([(2, 3), (2, 3)], lambda a, b: mg.stack([a, b], 1),
              lambda a, b: torch.stack([a, b], 1)),
    "stack_neg": ([(2, 3), (2, 3)], lambda a, b: mg.stack([a, b], -1),
                  lambda a, b: torch.stack([a, b], -1)),
    "split": ([(7, 2)], lambda x: mg.cat([p * i for i, p in enumerate(x.split(3))]),
              lambda x: torch.cat([p * i for i, p in enumerate(x.split(3))])),
    "split_sizes": ([(6, 2)], lambda x: x.split([1, 5])[1], lambda x: x.split([1, 5])[1]),
    "chunk": ([(7, 2)], lambda x: x.chunk(3)[2] * 2, lambda x: x.chunk(3)[2] * 2),
    "pad": ([(2, 3)], lambda x: pad(x, (1, 2)), lambda x: F.pad(x, (1, 2))),
    "pad_2d_value": ([(2, 3)], lambda x: pad(x, (1, 0, 2, 1), value=0.5),
                     lambda x: F.pad(x, (1, 0, 2, 1), value=0.5)),
    "pad_negative": ([(2, 5)], lambda x: pad(x, (-1, 2)), lambda x: F.pad(x, (-1, 2))),
    "slice_step": ([(6, 5)], lambda x: x[1::2, ::3],
                   lambda x: x[1::2, ::3]),
    "view_of_view": ([(4, 6)], lambda x: x.T[1:3].reshape(-1) * 2,
                     lambda x: x.T[1:3].reshape(-1) * 2),
    "unbind": ([(3, 2)], lambda x: mg.unbind(x)[1], lambda x: torch.unbind(x)[1]),
    "movedim": ([(2, 3, 4)], lambda x: x.movedim(0, -1), lambda x: x.movedim(0, -1)),
    "zero_d_reshape": ([()], lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1)),
}


@pytest.mark.parametrize("name", MOVEMENT)
def test_movement(name):
    shapes, fm, ft = MOVEMENT[name]
    check(fm, ft, shapes)


def test_reshape_error_names_shapes():
    with pytest.raises(RuntimeError, match=r"\[5\].*12|12.*\[5\]|\(5,\)"):
        mg.ones(3, 4).reshape(5)


def test_view_dtype_never_silently_casts():
    x = mg.ones(3)
    assert x.view(mg.float32) is x
    with pytest.raises(NotImplementedError, match=r"\.to\(micrograd\.int32\)"):
        x.view(mg.int32)


def test_expand_error_names_sizes():
    with pytest.raises(RuntimeError, match="3"):
        mg.ones(3, 2).expand(4, 2)


def test_cat_errors():
    with pytest.raises(RuntimeError, match=r"\(2, 3\)|\[2, 3\]|size"):
        mg.cat([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises((RuntimeError, ValueError)):
        mg.cat([])


def test_views_share_storage_and_version():
    x = mg.zeros(3, 4)
    v = x[1]
    v.fill_(2.0)
    assert x.sum().item() == 8.0
    assert x._version[0] == v._version[0] >= 1
    r = x.view(12)
    r[0] = 5.0
    assert x[0, 0].item() == 5.0


MATMUL = {
    "mm": [(3, 4), (4, 5)],
    "vec_vec": [(4,), (4,)],
    "mat_vec": [(3, 4), (4,)],
    "vec_mat": [(4,), (4, 5)],
    "batched": [(2, 3, 4), (2, 4, 5)],
    "broadcast_batch": [(2, 1, 3, 4), (5, 4, 2)],
    "batch_vec": [(2, 3, 4), (4,)],
    "vec_batch": [(4,), (2, 4, 3)],
    "empty_k": [(3, 0), (0, 2)],
}


@pytest.mark.parametrize("name", MATMUL)
def test_matmul(name):
    check(lambda a, b: a @ b, lambda a, b: a @ b, MATMUL[name])


def test_matmul_float32_noncontiguous():
    check(lambda a, b: a.T @ b, lambda a, b: a.T @ b, [(4, 3), (4, 5)], dtype=mg.float32)


def test_mm_bmm_dot_outer_addmm():
    check(mg.mm, torch.mm, [(2, 3), (3, 4)])
    check(mg.bmm, torch.bmm, [(2, 2, 3), (2, 3, 4)])
    check(mg.dot, torch.dot, [(5,), (5,)])
    check(mg.outer, torch.outer, [(3,), (4,)])
    check(mg.addmm, torch.addmm, [(4,), (2, 3), (3, 4)])


def test_matmul_errors_name_shapes():
    with pytest.raises(RuntimeError, match=r"3x4.*5x2|\(3, 4\).*\(5, 2\)"):
        mg.ones(3, 4) @ mg.ones(5, 2)
    with pytest.raises(RuntimeError, match="at least 1D.*0D and 1D"):
        mg.ones(()) @ mg.ones(3)


def test_integer_matmul():
    a = np.arange(6).reshape(2, 3)
    got = mg.tensor(a) @ mg.tensor(a.T)
    assert got.dtype is mg.int64 and got.tolist() == (a @ a.T).tolist()


def test_expand_minus_one_in_a_new_leading_dim_raises():
    with pytest.raises(RuntimeError, match="leading, non-existing dimension 0"):
        mg.ones(3, 4).expand(-1, 3, 4)
