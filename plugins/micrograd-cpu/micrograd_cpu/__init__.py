"""micrograd-cpu: micrograd's C++ backend for the host CPU.

Installing the package is all it takes: its ``cpu`` backend registers through the
``micrograd.backends`` entry point with priority 100, so it serves ``device="cpu"`` ahead of the
numpy reference backend::

    >>> import micrograd as mg
    >>> mg.ones(3, device="cpu") + 1        # runs on micrograd_cpu's kernels

The extension is imported lazily (by the backend factory), so importing this package is cheap.

Freed arrays' memory is cached for reuse (up to the smaller of 1 GiB and 1/16 of physical memory;
``MICROGRAD_CPU_CACHE_LIMIT``, e.g. ``512M`` or ``0``, sets the bound before import)::

    >>> import micrograd_cpu
    >>> micrograd_cpu.empty_cache()                  # hand cached blocks back to the system
    >>> micrograd_cpu.memory_stats()["cached_bytes"]
    0
"""

__version__ = "0.1.0"


def empty_cache() -> None:
    """Return the memory the caching allocator keeps for reuse to the system (PyTorch's
    ``torch.cuda.empty_cache`` for this backend). Live arrays are untouched."""
    from . import _core as core
    core.empty_cache()


def memory_stats() -> dict[str, int]:
    """The allocator's counters in bytes: ``allocated_bytes`` (live arrays),
    ``peak_allocated_bytes``, ``cached_bytes``, ``cache_limit`` and ``alloc_retries``
    (allocations the system refused until the cache was emptied)."""
    from . import _core as core
    return core.memory_stats()


def set_cache_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` of freed memory for reuse (0: none); trims the cache now."""
    from . import _core as core
    core.set_cache_limit(nbytes)


def __getattr__(name: str):
    # `from micrograd_cpu import _core` asks here first: the extension links against
    # scipy-openblas32's library, which must be loaded before it (see _blas.py).
    if name == "_core":
        import importlib
        import os

        from . import _blas
        _blas.load()
        build = os.environ.get("MICROGRAD_CPU_EXTENSION")
        if build:   # another build of the extension (`make test-asan`: the sanitized one)
            return _load_extension(build)
        return importlib.import_module(f"{__name__}._core")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load_extension(path: str):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"{__name__}._core", path)
    if spec is None or not path.endswith(".so"):
        raise ImportError(f"MICROGRAD_CPU_EXTENSION={path!r} is not a built _core extension "
                          f"(a _core*.so file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
