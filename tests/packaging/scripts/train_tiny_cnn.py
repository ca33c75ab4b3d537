"""Train a tiny CNN for a few steps on one backend and print the losses as JSON.

Usage: python train_tiny_cnn.py DEVICE [STEPS]. The data and initial weights come from fixed
seeds on the host, so every backend starts from the same numbers and its losses can be compared
step by step with the numpy reference. Conv, max-pool, cross-entropy and Adam are all optional
fast ops: on a backend without them this exercises the core's decompositions end to end.
"""

import json
import sys

import numpy as np

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F
import micrograd.optim as optim


def main(device: str, steps: int) -> list[float]:
    rng = np.random.default_rng(0)
    # 32 noisy 8x8 images of 4 classes: a bright 4x4 quadrant per class.
    labels = rng.integers(0, 4, 32)
    images = rng.normal(0, 0.3, (32, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(labels):
        images[i, 0, (c // 2) * 4:(c // 2) * 4 + 4, (c % 2) * 4:(c % 2) * 4 + 4] += 1.0

    mg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 4))
    # Same initial weights everywhere: initialise on the host, then move.
    model = model.to(device)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    x = mg.tensor(images, device=device)
    y = mg.tensor(labels, dtype=mg.int64, device=device)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8)))
