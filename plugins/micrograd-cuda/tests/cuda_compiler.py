"""Compiles CUDA source without a GPU: NVRTC through CuPy's binding, else ``nvcc --ptx``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ARCH = "compute_80"     # Ampere: double atomicAdd and everything the kernels use


class CompileError(Exception):
    """The compiler rejected the source; the message is its log."""


def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc
        nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - missing libnvrtc shows up as any of several errors
        return None, f"NVRTC unusable ({type(exc).__name__}: {exc})"
    return nvrtc, None


def available_compiler() -> tuple[str | None, str]:
    """``("nvrtc" | "nvcc" | None, why)``: which compiler the checks use, or why none."""
    nvrtc, problem = _nvrtc()
    if nvrtc is not None:
        return "nvrtc", f"NVRTC {nvrtc.getVersion()}"
    if shutil.which("nvcc"):
        return "nvcc", f"{problem}; using nvcc"
    return None, f"{problem}, and no nvcc on PATH; pip install nvidia-cuda-nvrtc-cu12"


def compile_to_ptx(source: str, name: str, options=()) -> str:
    """PTX of ``source`` for ``ARCH``; raises CompileError with the compiler's log."""
    kind, why = available_compiler()
    if kind == "nvrtc":
        nvrtc, _ = _nvrtc()
        program = nvrtc.createProgram(source, f"{name}.cu", [], [])
        try:
            try:
                nvrtc.compileProgram(program, [f"-arch={ARCH}", *options])
            except nvrtc.NVRTCError as exc:
                raise CompileError(f"{exc}\n{nvrtc.getProgramLog(program)}") from None
            ptx = nvrtc.getPTX(program)
            return ptx.decode() if isinstance(ptx, bytes) else ptx
        finally:
            nvrtc.destroyProgram(program)
    if kind == "nvcc":
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp, f"{name}.cu")
            src.write_text(source)
            ptx = Path(tmp, f"{name}.ptx")
            done = subprocess.run(["nvcc", "--ptx", f"-arch={ARCH.replace('compute', 'sm')}",
                                   *options, str(src), "-o", str(ptx)],
                                  capture_output=True, text=True)
            if done.returncode:
                raise CompileError(done.stderr)
            return ptx.read_text()
    raise RuntimeError(why)
