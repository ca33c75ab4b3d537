"""Whether this machine can run the cuda backend, and if not, why: one sentence for the user."""

from __future__ import annotations

INSTALL_HINT = "pip install 'micrograd-cuda' 'cupy-cuda12x>=13'"


def device_index_problem(index: int, count: int) -> str | None:
    """Why ``cuda:index`` cannot be used on a machine with ``count`` devices, or None."""
    if count <= 0:
        return "CUDA reports no GPU on this machine"
    if not 0 <= index < count:
        return (f"cuda:{index} does not exist: this machine has {count} CUDA device"
                f"{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})")
    return None


def unavailable_reason(index: int = 0) -> str | None:
    """None when ``cuda:index`` is usable, else the reason (missing CuPy, driver or device).

    ``cupy.is_available()`` only says False; asking the runtime for the device count gives the
    driver's own words (for example ``cudaErrorInsufficientDriver``)."""
    try:
        import cupy
    except Exception as exc:  # noqa: BLE001 - an unusable CuPy install is the reason itself
        return f"CuPy cannot be imported ({type(exc).__name__}: {exc}); {INSTALL_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - CUDARuntimeError when there is no driver
        return f"no usable CUDA driver or GPU ({type(exc).__name__}: {exc})"
    return device_index_problem(index, count)
