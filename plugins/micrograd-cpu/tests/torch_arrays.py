"""Moving values between torch tensors and the backend's arrays, for the tests that compare
kernels with PyTorch."""

import numpy as np
import torch

from micrograd import dtypes


def arr(be, t, dtype=dtypes.float64):
    """The backend array of a torch tensor's values, in ``dtype``."""
    return be.from_host(t.detach().numpy().astype(dtype.numpy), dtype)


def host(be, x):
    """A backend array's values as a torch tensor."""
    return torch.from_numpy(np.array(be.to_host(x)))
