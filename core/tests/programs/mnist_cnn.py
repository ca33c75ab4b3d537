"""pytorch/examples' MNIST convolutional network, written once against the PyTorch API and
scaled to scikit-learn's bundled 8x8 digits: two 3x3 convolutions with ReLU, max-pooling,
dropout, two linear layers and log-softmax; NLL loss, Adadelta with StepLR, batches from a
DataLoader over a TensorDataset.

``run(torch, ...)`` takes the framework module: PyTorch itself, or micrograd imported as torch.
"""

from __future__ import annotations

import time

import numpy as np

NEEDS = ("optim.Adadelta",)     # beyond what every program uses; the test names what is missing


def run(torch, *, device: str, steps: int, init: dict | None = None, batch_size: int = 32):
    nn, F = torch.nn, torch.nn.functional
    from sklearn.datasets import load_digits

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.dropout1 = nn.Dropout(0.0)      # 0.25 in the example; 0 so runs compare
            self.dropout2 = nn.Dropout(0.0)      # 0.5 in the example
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    digits = load_digits()
    images = ((digits.images / 16.0 - 0.5) / 0.5).astype(np.float32)[:, None]
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(images),
                                             torch.from_numpy(digits.target.astype(np.int64)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)

    torch.manual_seed(1)
    model = Net()
    if init is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init.items()})
    start = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    model = model.to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.7)

    model.train()
    losses, seconds = [], []
    batches = iter(loader)
    for step in range(steps):
        t0 = time.perf_counter()
        data, target = next(batches)
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if step % 5 == 4:
            scheduler.step()
        losses.append(loss.item())
        seconds.append(time.perf_counter() - t0)
    return losses, seconds, start
