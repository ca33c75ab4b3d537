"""micrograd's NVIDIA GPU backend: CuPy arrays, cuBLAS matmul and fused CUDA kernels.

Installed, it serves ``"cuda"`` and ``"cuda:N"``::

    import micrograd as mg
    x = mg.randn(64, 10, device="cuda")

Importing this package does not import CuPy; the backend is built on first use of the device.
"""

__version__ = "2026.12.0"
