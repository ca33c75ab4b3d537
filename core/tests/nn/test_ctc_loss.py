"""``F.ctc_loss`` / ``nn.CTCLoss`` against PyTorch 2.13: losses and gradients (through
log_softmax, where PyTorch's gradient convention and the exact derivative agree) for padded and
concatenated targets, every reduction, repeated labels, empty targets and inputs, a blank other
than 0, impossible alignments with and without ``zero_infinity``, unbatched input; the errors."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def _both(logits, labels, input_lengths, target_lengths, concat, **kwargs):
    results = []
    for lib in (mg, torch):
        x = lib.tensor(logits, requires_grad=True)
        targets = (np.concatenate([row[:n] for row, n in zip(labels, target_lengths)])
                   if concat else labels)
        loss = lib.nn.functional.ctc_loss(x.log_softmax(-1), lib.tensor(targets),
                                          lib.tensor(input_lengths), lib.tensor(target_lengths),
                                          **kwargs)
        finite = bool(np.isfinite(loss.detach().numpy()).all())
        if finite:
            weights = np.linspace(0.5, 1.5, loss.numel()).reshape(tuple(loss.shape))
            (loss * lib.tensor(weights, dtype=loss.dtype)).sum().backward()
        results.append((loss.detach().numpy(), x.grad.numpy() if finite else None))
    return results


CASES = {   # T, N, C, S, input lengths, target lengths, and what is special
    "full": (12, 3, 5, 4, [12, 10, 7], [4, 3, 2], {}),
    "repeats_and_an_empty_target": (12, 3, 5, 4, [12, 10, 7], [4, 0, 2], {"repeat": True}),
    "impossible": (6, 2, 5, 4, [6, 2], [4, 3], {}),
    "no_frames": (9, 2, 6, 3, [9, 0], [3, 0], {"blank": 5}),
    "long": (40, 4, 8, 6, [40, 31, 12, 6], [6, 6, 3, 1], {"repeat": True}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("concat", [False, True], ids=["padded", "concatenated"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_matches_pytorch(case, reduction, concat, zero_infinity):
    frames, batch, classes, width, input_lengths, target_lengths, special = CASES[case]
    rng = np.random.default_rng(len(case) + frames)
    blank = special.get("blank", 0)
    labels = rng.integers(0, classes - 1, (batch, width))
    labels = labels + (labels >= blank)               # any class but the blank
    if special.get("repeat"):
        labels[:, 1] = labels[:, 0]
    (ours, our_grad), (theirs, their_grad) = _both(
        rng.standard_normal((frames, batch, classes)), labels, input_lengths, target_lengths,
        concat, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)
    assert (our_grad is None) == (their_grad is None)
    if their_grad is not None:
        np.testing.assert_allclose(our_grad, their_grad, rtol=1e-7, atol=1e-9)


def test_float32_unbatched_and_the_module():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((15, 6)).astype(np.float32)
    results = []
    for lib in (mg, torch):
        x = lib.tensor(logits, requires_grad=True)
        loss = lib.nn.CTCLoss(blank=0)(x.log_softmax(-1), lib.tensor([1, 3, 3, 5]), lib.tensor(15),
                                      lib.tensor(4))
        loss.backward()
        results.append((loss.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)


def test_ctc_loss_errors_name_the_problem():
    lp = mg.randn(5, 2, 4).log_softmax(-1)
    targets = mg.tensor([[1, 2], [2, 3]])
    with pytest.raises(RuntimeError, match="must differ from|differ from the blank 0"):
        mg.nn.functional.ctc_loss(lp, mg.tensor([[0, 2], [2, 3]]), [5, 5], [2, 2])
    with pytest.raises(RuntimeError, match=r"input_lengths \[6, 5\] must lie in \[0, 5\]"):
        mg.nn.functional.ctc_loss(lp, targets, [6, 5], [2, 2])
    with pytest.raises(RuntimeError, match="target_lengths must be 2 integers"):
        mg.nn.functional.ctc_loss(lp, targets, [5, 5], [2])
    with pytest.raises(RuntimeError, match="blank must be in label range"):
        mg.nn.functional.ctc_loss(lp, targets, [5, 5], [2, 2], blank=4)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        mg.nn.functional.ctc_loss(lp.half(), targets, [5, 5], [2, 2])
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        mg.nn.functional.ctc_loss(lp, targets, [5, 5], [2, 2], reduction="avg")
