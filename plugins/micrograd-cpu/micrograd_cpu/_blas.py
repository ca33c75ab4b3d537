"""Loads scipy-openblas32's shared library before the extension that links against it.

The library lives in another wheel, so its path is known only at run time; loading it with
RTLD_GLOBAL first lets the dynamic linker resolve the extension's dependency by its soname
wherever that wheel is installed.

OpenBLAS reads OPENBLAS_NUM_THREADS once, when it loads, and starts that many worker threads,
which spin for a while after starting and after every call. The backend splits GEMMs over its
own pool and always calls OpenBLAS single-threaded, so it loads the library with the variable
set to 1 (no workers to compete with the pool for cores) and then restores the environment.
"""

import ctypes
import functools
import os


@functools.cache
def load() -> str:
    import scipy_openblas32

    path = os.path.join(scipy_openblas32.get_lib_dir(), f"lib{scipy_openblas32.get_library()}.so")
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    finally:
        if saved is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = saved
    return path
