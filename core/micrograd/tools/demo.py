"""``micrograd demo``: train a small CNN on scikit-learn's bundled 8x8 handwritten digits.

Runs on the default device (``--device`` picks any backend or device), shows a tqdm bar with
the running loss and accuracy, prints the held-out accuracy, and writes a safetensors
checkpoint and a PNG of the loss and accuracy curves into ``--out``. Seeded, so a run is
reproducible on a given backend. Exits with status 1 if the held-out accuracy is below
``--min-accuracy`` (by default 0.97 for a full run; ``--epochs 1``, a quick look, succeeds).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import time

import numpy as np
from tqdm import tqdm

import micrograd as mg
from .. import nn

FULL_RUN_EPOCHS = 12
FULL_RUN_BAR = 0.97          # held-out accuracy a full run must reach

def build_model(device=None):
    """Two conv blocks (conv, batch norm, ReLU) with one 2x2 max-pool, then a small MLP."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, device=device), nn.BatchNorm2d(16, device=device),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, device=device), nn.BatchNorm2d(32, device=device),
        nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 64, device=device), nn.ReLU(),
        nn.Linear(64, 10, device=device),
    )


def load_digits_split(seed: int, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test) as numpy: images (N, 1, 8, 8) scaled to [0, 1]."""
    from sklearn.datasets import load_digits  # the [demo] extra: imported when the demo runs
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def accuracy(model, x, y, batch_size: int = 512) -> float:
    """Fraction of ``x`` classified as ``y`` (eval mode, no graph)."""
    model.eval()
    correct = 0
    with mg.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start:start + batch_size])
            correct += int((logits.argmax(1) == y[start:start + batch_size]).sum().item())
    return correct / x.shape[0]


def save_plot(history: dict, path: str) -> None:
    import matplotlib  # the [demo] extra, as above
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["train_loss"], marker="o")
    left.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    right.plot(epochs, history["train_acc"], marker="o", label="train")
    right.plot(epochs, history["test_acc"], marker="o", label="held-out")
    right.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(min(history["train_acc"] + history["test_acc"]) - 0.02, 1.005))
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(args) -> dict:
    device = mg.get_default_device()
    backend = mg.zeros(1).backend
    mg.manual_seed(args.seed)
    xtr, ytr, xte, yte = load_digits_split(args.seed)
    x_train, y_train = mg.tensor(xtr), mg.tensor(ytr)
    x_test, y_test = mg.tensor(xte), mg.tensor(yte)
    loader = mg.utils.data.DataLoader(mg.utils.data.TensorDataset(x_train, y_train),
                                      batch_size=args.batch_size, shuffle=True,
                                      generator=mg.Generator().manual_seed(args.seed))
    model = build_model()
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = mg.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr,
                                                 total_steps=args.epochs * len(loader))
    loss_fn = mg.nn.CrossEntropyLoss()
    history = {"train_loss": [], "train_acc": [], "test_acc": []}
    print(f"micrograd demo: digits CNN on {device} (backend {backend}), "
          f"{x_train.shape[0]} train / {x_test.shape[0]} held-out images")
    start = time.perf_counter()
    bar = tqdm(total=args.epochs * len(loader), unit="batch", disable=args.quiet,
               dynamic_ncols=True)
    for epoch in range(args.epochs):
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            logits = model(xb)
            loss = loss_fn(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            n = yb.shape[0]
            total_loss += loss.item() * n
            correct += int((logits.argmax(1) == yb).sum().item())
            seen += n
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / seen:.4f}",
                            acc=f"{correct / seen:.3f}")
        history["train_loss"].append(total_loss / seen)
        history["train_acc"].append(correct / seen)
        history["test_acc"].append(accuracy(model, x_test, y_test))
        bar.set_postfix(epoch=epoch + 1, loss=f"{total_loss / seen:.4f}",
                        acc=f"{correct / seen:.3f}", test=f"{history['test_acc'][-1]:.3f}")
    bar.close()
    history["seconds"] = time.perf_counter() - start
    history["model"] = model
    return history


def _single_threaded():
    """The model's arrays are tiny (at most 4096 x 288): a multithreaded BLAS or OpenMP
    runtime spends more on synchronisation than on arithmetic there, and on a busy machine
    its spinning threads slow a step down several-fold, so the host thread pools (numpy's
    BLAS, a C++ backend's OpenMP) run on one thread during training."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# What the demo alone needs beyond the core (import name -> distribution): the [demo] extra.
DEMO_REQUIREMENTS = {"sklearn": "scikit-learn", "matplotlib": "matplotlib"}


def missing_requirements() -> list[str]:
    """Distributions of the ``[demo]`` extra that are not installed."""
    return [dist for module, dist in DEMO_REQUIREMENTS.items()
            if importlib.util.find_spec(module) is None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="micrograd demo", description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None,
                        help="device or backend name (cpu, cuda:0, metal, numpy...); default: "
                             "MICROGRAD_DEVICE or cpu")
    parser.add_argument("--epochs", type=int, default=FULL_RUN_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate (1cycle)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join("runs", "demo"),
                        help="directory for the checkpoint and the plot")
    parser.add_argument("--min-accuracy", type=float, default=None,
                        help=f"exit with status 1 below this held-out accuracy (default: "
                             f"{FULL_RUN_BAR} for a full run of {FULL_RUN_EPOCHS} epochs or "
                             f"more; a shorter run, a quick look, only reports it)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    missing = missing_requirements()
    if missing:
        print(f"micrograd demo needs {' and '.join(missing)} (the bundled digits data and the "
              f"plot): pip install \"micrograd[demo]\"", file=sys.stderr)
        return 2

    try:
        if args.device:
            mg.set_default_device(args.device)
        # Start the backend first: a native backend loads its BLAS then, and the limit below
        # reaches only thread pools that are already loaded.
        mg.zeros(1)
        with _single_threaded():
            history = train(args)
    finally:
        if args.device:
            mg.set_default_device(None)   # back to MICROGRAD_DEVICE / cpu
    model = history.pop("model")
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "digits_cnn.safetensors")
    plot = os.path.join(args.out, "training.png")
    mg.save(model.state_dict(), checkpoint)
    save_plot(history, plot)
    test_acc = history["test_acc"][-1]
    print(f"held-out accuracy: {test_acc:.4f} ({history['seconds']:.1f} s, "
          f"{args.epochs} epochs)")
    print(f"checkpoint: {checkpoint}")
    print(f"plot:       {plot}")
    bar = args.min_accuracy
    if bar is None and args.epochs >= FULL_RUN_EPOCHS:
        bar = FULL_RUN_BAR
    if bar is not None and test_acc < bar:
        print(f"held-out accuracy {test_acc:.4f} is below the required {bar}")
        return 1
    if bar is None and test_acc < FULL_RUN_BAR:
        print(f"(a full run of {FULL_RUN_EPOCHS} epochs reaches {FULL_RUN_BAR}; this short run "
              f"is not held to it)")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
