"""Loads scipy-openblas32's shared library before the extension that links against it.

The library lives in another wheel, so its path is known only at run time; loading it with
RTLD_GLOBAL first lets the dynamic linker resolve the extension's dependency by its soname
wherever that wheel is installed.
"""

import ctypes
import os


def load() -> str:
    import scipy_openblas32

    path = os.path.join(scipy_openblas32.get_lib_dir(), f"lib{scipy_openblas32.get_library()}.so")
    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return path
