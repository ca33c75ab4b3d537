"""pytorch/examples' DCGAN, written once against the PyTorch API and scaled to scikit-learn's
bundled 8x8 digits: a generator of transposed convolutions with BatchNorm and ReLU ending in
Tanh, a discriminator of strided convolutions with BatchNorm and LeakyReLU ending in Sigmoid,
the example's weights_init, BCELoss and Adam(betas=(0.5, 0.999)); each step updates D on a real
and a fake batch, then G. The loss reported per step is errD + errG.

The example draws the latent noise with ``torch.randn``; here it comes from a seeded numpy
generator (``torch.from_numpy``) so that PyTorch and micrograd see the same noise.

``run(torch, ...)`` takes the framework module: PyTorch itself, or micrograd imported as torch.
"""

from __future__ import annotations

import time

import numpy as np


def run(torch, *, device: str, steps: int, init: dict | None = None, batch_size: int = 32,
        nz: int = 8, ngf: int = 16, ndf: int = 16):
    nn = torch.nn
    from sklearn.datasets import load_digits

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 2, 2, 1, 0, bias=False),      # 2x2
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),     # 4x4
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False),           # 8x8
                nn.Tanh(),
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(1, ndf, 4, 2, 1, bias=False),                    # 4x4
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),              # 2x2
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, 1, 2, 1, 0, bias=False),                # 1x1
                nn.Sigmoid(),
            )

        def forward(self, input):
            return self.main(input).view(-1, 1).squeeze(1)

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    class Pair(nn.Module):
        """Both networks under one state dict, so one checkpoint moves them."""

        def __init__(self):
            super().__init__()
            self.netG, self.netD = Generator(), Discriminator()

    torch.manual_seed(999)
    nets = Pair()
    nets.apply(weights_init)
    if init is not None:
        nets.load_state_dict({k: torch.tensor(v) for k, v in init.items()})
    start = {k: v.detach().cpu().numpy().copy() for k, v in nets.state_dict().items()}
    nets.to(device)
    netG, netD = nets.netG, nets.netD
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real_label, fake_label = 1.0, 0.0

    images = ((load_digits().images / 16.0 - 0.5) / 0.5).astype(np.float32)[:, None]
    noise_rng = np.random.default_rng(0)
    losses, seconds = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        lo = (step * batch_size) % (len(images) - batch_size)
        real = torch.from_numpy(images[lo:lo + batch_size]).to(device)
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((batch_size,), real_label, dtype=real.dtype, device=device)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.from_numpy(noise_rng.standard_normal((batch_size, nz, 1, 1))
                                 .astype(np.float32)).to(device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        optimizerG.step()
        losses.append(errD.item() + errG.item())
        seconds.append(time.perf_counter() - t0)
    return losses, seconds, start
