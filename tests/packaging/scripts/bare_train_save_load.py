"""What a bare ``pip install micrograd`` must do: train a small model with a tqdm progress bar,
save its state dict with ``micrograd.save`` and load it back into a fresh model.

Prints JSON: the first and last loss and whether the reloaded model's outputs are identical.
"""

import json
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F


def model():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


mg.manual_seed(0)
net = model()
opt = mg.optim.Adam(net.parameters(), lr=1e-2)
x, y = mg.randn(64, 8), mg.randint(0, 3, (64,))
losses = []
for _ in tqdm(range(40), desc="train", file=sys.stderr):
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "net.safetensors"
    mg.save(net.state_dict(), path)
    again = model()
    again.load_state_dict(mg.load(path))
same = bool((again(x) == net(x)).all().item())
print(json.dumps({"first": losses[0], "last": losses[-1], "same": same}))
