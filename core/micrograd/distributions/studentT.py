"""The import path ``torch.distributions.studentT``."""

from .continuous import StudentT

__all__ = ["StudentT"]
