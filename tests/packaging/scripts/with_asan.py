"""Run a command with the compiler's AddressSanitizer runtime preloaded.

Usage: python with_asan.py COMMAND [ARGS...]

A sanitized extension module (micrograd-cpu built with MGCPU_SANITIZE=ON) needs the ASan
runtime loaded before anything else in the process, and CPython is not built with it, so it must
be preloaded. The library is the one the compiler links against, found by asking the compiler.
"""

import os
import shutil
import subprocess
import sys


def asan_runtime() -> str:
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "g++"
    path = subprocess.run([compiler, "-print-file-name=libasan.so"], capture_output=True,
                          text=True, check=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        sys.exit(f"with_asan: {compiler} does not know libasan.so (got {path!r}); install the "
                 f"compiler's ASan runtime (Debian: libasan8) or set CXX")
    return path


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    # libstdc++ too: CPython does not link it, and ASan's __cxa_throw interceptor aborts on the
    # extension's first C++ exception when it is not loaded at startup.
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or "g++"
    stdcxx = subprocess.run([compiler, "-print-file-name=libstdc++.so"], capture_output=True,
                            text=True).stdout.strip()
    stdcxx = stdcxx if os.path.isabs(stdcxx) and os.path.exists(stdcxx) else None
    env["LD_PRELOAD"] = " ".join(filter(None, [asan_runtime(), stdcxx, env.get("LD_PRELOAD")]))
    # CPython's allocator and interned objects look like leaks to LeakSanitizer.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return subprocess.run(argv, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
