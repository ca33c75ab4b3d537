"""pytorch/examples' variational autoencoder, written once against the PyTorch API and scaled
to scikit-learn's bundled 8x8 digits: a linear encoder to a mean and log-variance, the
reparameterisation trick, a sigmoid decoder, summed binary cross-entropy plus the KL term, Adam.

The example draws ``eps`` with ``torch.randn_like``; here it comes from a seeded numpy generator
(``torch.from_numpy``) so that PyTorch and micrograd see the same noise.

``run(torch, ...)`` takes the framework module: PyTorch itself, or micrograd imported as torch.
"""

from __future__ import annotations

import time

import numpy as np


def run(torch, *, device: str, steps: int, init: dict | None = None, batch_size: int = 64,
        hidden: int = 48, latent: int = 8):
    nn, F = torch.nn, torch.nn.functional
    from sklearn.datasets import load_digits

    noise = np.random.default_rng(0)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, hidden)
            self.fc21 = nn.Linear(hidden, latent)
            self.fc22 = nn.Linear(hidden, latent)
            self.fc3 = nn.Linear(latent, hidden)
            self.fc4 = nn.Linear(hidden, 64)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = torch.from_numpy(noise.standard_normal(tuple(std.shape)).astype(np.float32))
            return mu + eps.to(std.device) * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 64))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    images = (load_digits().images / 16.0).astype(np.float32)
    torch.manual_seed(1)
    model = VAE()
    if init is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init.items()})
    start = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    model.train()
    losses, seconds = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        lo = (step * batch_size) % (len(images) - batch_size)
        data = torch.from_numpy(images[lo:lo + batch_size]).to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        seconds.append(time.perf_counter() - t0)
    return losses, seconds, start
