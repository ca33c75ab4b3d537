#!/usr/bin/env bash
# The prepared CUDA check, for a machine with an NVIDIA GPU, CuPy, PyTorch (CUDA) and pytest
# already installed and no network (the device machine a task is sometimes lent): installs this
# checkout's core, conformance suite and CUDA plugin without dependencies into a scratch folder,
# then runs the plugin's tests, the conformance suite against `cuda` and the CUDA benchmark
# against PyTorch CUDA. Everything it prints also lands in $OUT (default build/gpu-check).
#
#   bash scripts/gpu_check.sh          # about 5-8 minutes on one H100/H200-class GPU
#
# CI never runs this: there is no GPU there. Without one it stops after `micrograd info`.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu-check}
PY=${PYTHON:-python3}
JOBS=${JOBS:-8}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

site=$(mktemp -d)
if ! "$PY" -m pip install -q --no-deps --no-build-isolation --no-index --target "$site" \
        . ./conformance ./plugins/micrograd-cuda > "$OUT/install.txt" 2>&1; then
    cat "$OUT/install.txt"; echo "gpu_check: installing this checkout failed" >&2; exit 1
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"

step() {   # step NAME TIMEOUT COMMAND...: run, keep its output in $OUT/NAME.txt, show the tail
    local name=$1 limit=$2; shift 2
    echo "== $name"
    timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.txt"
    echo "== $name: exit $rc"
    return $rc
}

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
step info 60 "$PY" -c "import micrograd; print(micrograd.info())"
if ! "$PY" -c "import micrograd as mg; mg.zeros(1, device='cuda')" 2>/dev/null; then
    echo "gpu_check: the cuda backend is unavailable here (see info above); nothing to check" >&2
    exit 2
fi
status=0
step cuda-plugin-tests 240 "$PY" -m pytest -q -n "$JOBS" -p no:cacheprovider \
    plugins/micrograd-cuda/tests || status=1
step conformance-cuda 300 "$PY" -m pytest -q -n "$JOBS" -p no:cacheprovider \
    --pyargs micrograd_conformance --backend cuda --conformance-report "$OUT/conformance" \
    || status=1
step bench-cuda 150 "$PY" plugins/micrograd-cuda/benchmarks/bench_cuda.py --quick \
    --json "$OUT/bench_cuda.json" || status=1
exit $status
