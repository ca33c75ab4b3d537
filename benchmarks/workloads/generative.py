"""A DCGAN-style generator training step: ConvTranspose2d upsampling blocks (stride 2, kernel
4, padding 1) with BatchNorm and ReLU, a Tanh image, Adam with DCGAN's betas.

Every framework starts from the same numpy weights and the same latent batch; the loss is the
mean squared error to a fixed target image batch, so the step is deterministic and comparable.
"""

from __future__ import annotations

import numpy as np

from . import Workload, randn, rng
from .nnlib import load_weights, placed, submodule

GENERATOR_BATCH = {"smoke": (4,), "full": (16,)}
LATENT, WIDTH = 64, 32      # latent size and the narrowest block's channels (DCGAN's nz, ngf)
CHANNELS = [LATENT, WIDTH * 4, WIDTH * 2, WIDTH, 3]


def _weights():
    state = {}
    for i, (c_in, c_out) in enumerate(zip(CHANNELS, CHANNELS[1:])):
        # DCGAN's initialisation: N(0, 0.02) convolutions, BatchNorm weights N(1, 0.02)
        state[f"{3 * i}.weight"] = (rng(70 + i).standard_normal((c_in, c_out, 4, 4))
                                    * 0.02).astype(np.float32)
        if i < len(CHANNELS) - 2:
            state[f"{3 * i + 1}.weight"] = (1 + 0.02 * rng(80 + i).standard_normal(c_out)
                                            ).astype(np.float32)
            state[f"{3 * i + 1}.bias"] = np.zeros(c_out, np.float32)
            state[f"{3 * i + 1}.running_mean"] = np.zeros(c_out, np.float32)
            state[f"{3 * i + 1}.running_var"] = np.ones(c_out, np.float32)
            state[f"{3 * i + 1}.num_batches_tracked"] = np.array(0, np.int64)
    return state


def build_generator_step(fw, batch):
    nn = submodule(fw, "nn", "Sequential", "ConvTranspose2d", "BatchNorm2d", "ReLU", "Tanh")
    F = submodule(fw, "nn.functional", "mse_loss")
    optim = submodule(fw, "optim", "Adam")
    layers = []
    for i, (c_in, c_out) in enumerate(zip(CHANNELS, CHANNELS[1:])):
        first = i == 0   # a 1x1 latent to 4x4, then doubling: 8, 16, 32
        layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 1 if first else 2, 0 if first else 1,
                                         bias=False))
        layers += [nn.BatchNorm2d(c_out), nn.ReLU(True)] if i < len(CHANNELS) - 2 else [nn.Tanh()]
    model = placed(fw, nn.Sequential(*layers))
    load_weights(fw, model, _weights())
    optimizer = optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    z = fw.tensor(randn(batch, LATENT, 1, 1, seed=90))
    target = fw.tensor(np.tanh(randn(batch, 3, 32, 32, seed=91)))
    first = next(iter(model.parameters()))

    def step():
        optimizer.zero_grad()
        loss = F.mse_loss(model(z), target)
        loss.backward()
        optimizer.step()
        return loss, first
    return step


WORKLOADS = [
    Workload("dcgan_generator_step",
             "DCGAN-style generator training step (ConvTranspose2d + BatchNorm, Adam)", "batch",
             GENERATOR_BATCH, {"torchlike": build_generator_step}, rtol=1e-4, atol=1e-5),
]
