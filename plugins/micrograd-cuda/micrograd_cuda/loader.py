"""Compiles kernel families on first use (one CuPy RawModule per family and C type) and launches
them with arguments checked against their declarations."""

from __future__ import annotations

import cupy

from .kernels import COMPILE_OPTIONS, FAMILIES
from .launch import ctype_for, pack_args


class KernelLoader:
    """The kernels of one device. CuPy caches compiled binaries on disk, so a module compiles
    once per machine; loading it onto the device happens here, once per backend instance."""

    def __init__(self):
        self._modules: dict[tuple[str, str], cupy.RawModule] = {}

    def function(self, family_name: str, entry_name: str, ctype: str):
        key = (family_name, ctype)
        module = self._modules.get(key)
        if module is None:
            module = cupy.RawModule(code=FAMILIES[family_name].source(ctype),
                                    options=COMPILE_OPTIONS)
            self._modules[key] = module
        return module.get_function(entry_name)

    def launch(self, family_name: str, entry_name: str, dtype, grid: int, block: int, args,
               shared_bytes: int = 0) -> None:
        """Launch ``entry_name`` instantiated for the numpy ``dtype`` on a 1-D grid."""
        ctype = ctype_for(dtype.name)
        entry = FAMILIES[family_name].entry(entry_name)
        packed = pack_args(entry, ctype, args)
        self.function(family_name, entry_name, ctype)((grid,), (block,), packed,
                                                      shared_mem=shared_bytes)
