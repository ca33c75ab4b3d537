"""micrograd-cpu: micrograd's C++ backend for the host CPU.

Installing the package is all it takes: its ``cpu`` backend registers through the
``micrograd.backends`` entry point with priority 100, so it serves ``device="cpu"`` ahead of the
numpy reference backend::

    >>> import micrograd as mg
    >>> mg.ones(3, device="cpu") + 1        # runs on micrograd_cpu's kernels

The extension is imported lazily (by the backend factory), so importing this package is cheap.
"""

__version__ = "2026.12.0"


def __getattr__(name: str):
    # `from micrograd_cpu import _core` asks here first: the extension links against
    # scipy-openblas32's library, which must be loaded before it (see _blas.py).
    if name == "_core":
        import importlib

        from . import _blas
        _blas.load()
        return importlib.import_module(f"{__name__}._core")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
