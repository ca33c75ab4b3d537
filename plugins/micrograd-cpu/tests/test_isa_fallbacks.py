"""The kernels built for AVX2 and for SSE2 run, and agree with the AVX-512 ones, on CPUs that
lack AVX-512: every kernel family runs on CPUs emulated by qemu-user (a CPU without AVX-512 is
not at hand; an instruction it lacks is a SIGILL under qemu as on the real chip). This checks
the runtime dispatch picks the right build, and that no AVX-512 code leaks into the fallbacks
(through link-time optimisation or a shared inline function). Needs ``qemu-x86_64`` (Debian's
qemu-user, installed by scripts/setup.sh); skipped without it. About 30 s per CPU."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("isa_probe.py")
QEMU = shutil.which("qemu-x86_64")

pytestmark = pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 (qemu-user) is not installed")


def _probe(tmp_path, name, prefix=(), env=None):
    out = tmp_path / f"{name}.npz"
    done = subprocess.run([*prefix, sys.executable, str(PROBE), str(out)], capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-3000:]}"
    described = done.stdout.strip().splitlines()[0]
    return described, dict(np.load(out))


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    return _probe(tmp_path_factory.mktemp("native"), "native")[1]


# SandyBridge has AVX but neither AVX2 nor FMA, so it runs the SSE2 build. (Nehalem, which
# lacks AVX too, no longer runs NumPy 2.4 under qemu, and the probe needs NumPy; so an AVX-only
# instruction leaking into the SSE2 build would go unseen here.) OpenBLAS is told the kernels
# of the emulated CPU: an OPENBLAS_CORETYPE inherited from the environment (this machine sets
# Haswell) would run AVX2 kernels on the emulated SandyBridge.
@pytest.mark.parametrize("cpu, isa, openblas_core", [("Haswell", "fma3+avx2", "Haswell"),
                                                     ("SandyBridge", "sse2", "Sandybridge")])
def test_fallback_kernels_run_and_agree_on_a_cpu_without_avx512(tmp_path, native, cpu, isa,
                                                                openblas_core):
    described, emulated = _probe(tmp_path, cpu, (QEMU, "-cpu", cpu),
                                 env={**os.environ, "OPENBLAS_CORETYPE": openblas_core})
    assert f"({isa} SIMD" in described, described
    assert emulated.keys() == native.keys()
    for name, want in native.items():
        # Different vector widths sum in different orders and the transcendental kernels
        # differ in their last bits: float32 to a few ulps of the result's scale.
        tol = 1e-10 if name.endswith("float64") else 2e-5
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        np.testing.assert_allclose(emulated[name], want, rtol=tol, atol=tol * scale,
                                   err_msg=f"{name} on {cpu} ({isa})")
