"""``micrograd.linalg``: the names of ``torch.linalg``.

>>> micrograd.linalg.norm(micrograd.tensor([[3., 0.], [0., 4.]]))
tensor(5.)
"""

from .norms import matrix_norm, norm, vector_norm

__all__ = ["matrix_norm", "norm", "vector_norm"]
