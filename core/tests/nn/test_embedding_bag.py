"""F.embedding's max_norm and scale_grad_by_freq, F.embedding_bag / nn.EmbeddingBag (sum, mean,
max; offsets, include_last_offset, padding_idx, per_sample_weights), from_pretrained and
per-element repeat_interleave, against PyTorch 2.13 in float64."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TABLE = np.random.default_rng(0).standard_normal((10, 4))
INDICES = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0])
OFFSETS = np.array([0, 4, 4, 7])           # the second bag is empty


def tables():
    return mg.tensor(TABLE, requires_grad=True), torch.tensor(TABLE, requires_grad=True)


def compare(ours, theirs, a, b, seed=1):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=1e-14)
    weights = np.random.default_rng(seed).standard_normal(tuple(theirs.shape))
    (ours * mg.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-14)


@pytest.mark.parametrize("include_last_offset", [False, True])
@pytest.mark.parametrize("padding_idx", [None, 0, 2])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_with_offsets_matches_pytorch(mode, padding_idx, include_last_offset):
    offsets = np.append(OFFSETS, INDICES.size) if include_last_offset else OFFSETS
    a, b = tables()
    ours = F.embedding_bag(mg.tensor(INDICES), a, mg.tensor(offsets), mode=mode,
                           padding_idx=padding_idx, include_last_offset=include_last_offset)
    theirs = TF.embedding_bag(torch.tensor(INDICES), b, torch.tensor(offsets), mode=mode,
                              padding_idx=padding_idx, include_last_offset=include_last_offset)
    compare(ours, theirs, a, b)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_of_fixed_length_rows_and_sample_weights(mode):
    a, b = tables()
    ours = F.embedding_bag(mg.tensor(INDICES.reshape(2, 5)), a, mode=mode)
    theirs = TF.embedding_bag(torch.tensor(INDICES.reshape(2, 5)), b, mode=mode)
    compare(ours, theirs, a, b)
    weights = np.random.default_rng(3).standard_normal((2, 5))
    a, b = tables()
    ours = F.embedding_bag(mg.tensor(INDICES.reshape(2, 5)), a, mode="sum",
                           per_sample_weights=mg.tensor(weights))
    theirs = TF.embedding_bag(torch.tensor(INDICES.reshape(2, 5)), b, mode="sum",
                              per_sample_weights=torch.tensor(weights))
    compare(ours, theirs, a, b)


@pytest.mark.parametrize("options", [
    {"max_norm": 1.0}, {"scale_grad_by_freq": True},
    {"max_norm": 0.5, "norm_type": 1.0, "padding_idx": 0},
], ids=["max_norm", "scale_grad_by_freq", "max_norm_l1_padding"])
def test_embedding_options_match_pytorch(options):
    a, b = tables()
    ours = F.embedding(mg.tensor(INDICES), a, **options)
    theirs = TF.embedding(torch.tensor(INDICES), b, **options)
    compare(ours, theirs, a, b)
    # max_norm renormalises the picked rows of the table itself, in place
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-15)


def test_embedding_bag_errors_as_pytorch():
    weight = mg.tensor(TABLE)
    with pytest.raises(ValueError, match="offsets"):
        F.embedding_bag(mg.tensor(INDICES), weight)
    with pytest.raises(ValueError, match="2D"):
        F.embedding_bag(mg.tensor(INDICES.reshape(2, 5)), weight, mg.tensor([0, 5]))
    with pytest.raises(ValueError, match="offsets\\[0\\]"):
        F.embedding_bag(mg.tensor(INDICES), weight, mg.tensor([1, 4]))
    with pytest.raises(ValueError, match="mode"):
        F.embedding_bag(mg.tensor(INDICES), weight, mg.tensor([0]), mode="median")
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(mg.tensor(INDICES), weight, mg.tensor([0]),
                        per_sample_weights=mg.ones(10, dtype=mg.float64))


def test_modules_and_from_pretrained_match_pytorch():
    ours = mg.nn.EmbeddingBag.from_pretrained(mg.tensor(TABLE), mode="max")
    theirs = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(TABLE), mode="max")
    assert repr(ours) == repr(theirs) and not ours.weight.requires_grad
    np.testing.assert_allclose(ours(mg.tensor(INDICES), mg.tensor(OFFSETS)).numpy(),
                               theirs(torch.tensor(INDICES), torch.tensor(OFFSETS)).numpy())
    table = mg.nn.Embedding.from_pretrained(mg.tensor(TABLE), freeze=False, padding_idx=3)
    reference = torch.nn.Embedding.from_pretrained(torch.tensor(TABLE), freeze=False,
                                                   padding_idx=3)
    assert repr(table) == repr(reference) and table.weight.requires_grad
    assert list(mg.nn.EmbeddingBag(5, 2).state_dict()) == \
        list(torch.nn.EmbeddingBag(5, 2).state_dict())
    with pytest.raises(ValueError, match="2-dimensional"):
        mg.nn.Embedding.from_pretrained(mg.zeros(3))


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_repeat_interleave_with_per_element_counts(dim):
    data = np.arange(6.0).reshape(2, 3)
    counts = [2, 0, 3] if dim in (None, 1) else [1, 3]
    if dim is None:
        counts = [1, 0, 2, 1, 1, 3]
    ours = mg.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    a = mg.repeat_interleave(ours, mg.tensor(counts), dim)
    b = torch.repeat_interleave(theirs, torch.tensor(counts), dim)
    compare(a, b, ours, theirs)
    assert mg.repeat_interleave(mg.tensor([2, 0, 1])).tolist() == [0, 0, 2]
    with pytest.raises(RuntimeError, match="negative"):
        mg.repeat_interleave(mg.tensor([1.0, 2.0]), mg.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="one count per element"):
        mg.repeat_interleave(mg.tensor([1.0, 2.0]), mg.tensor([1, 1, 1]))
