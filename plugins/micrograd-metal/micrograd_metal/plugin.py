"""Registers the ``metal`` backend. Importing MLX is deferred to the factory, so a machine
without MLX lists the problem in ``micrograd info`` instead of failing at discovery."""

from __future__ import annotations

from pathlib import Path

from micrograd import hookimpl

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")


def _make_metal_backend(index: int):
    from micrograd.backend import BackendUnavailable

    if index != 0:
        raise BackendUnavailable(f"MLX drives one device per process (metal:0), not metal:{index}")
    try:
        import mlx.core  # noqa: F401  (the reason, if MLX is missing or broken)
    except ImportError as exc:
        raise BackendUnavailable(
            f"MLX cannot be imported ({exc}); install it with "
            "pip install 'mlx[cpu]' (Linux) or pip install mlx (macOS)") from exc
    from .backend import MLXBackend
    return MLXBackend()


@hookimpl
def micrograd_register_backends(register):
    register("metal", _make_metal_backend, device_type="metal", contract=(1, 0), priority=0,
             xfail_file=XFAIL_FILE)
