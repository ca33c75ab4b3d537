"""`micrograd launch` end to end: two mpi ranks on loopback, then a failing rank."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launching import RANKS, engine_env, mpiexec

pytestmark = pytest.mark.skipif(mpiexec() is None, reason="mpiexec not installed "
                                "(pip install 'micrograd[mpi]')")


def launch(tmp_path, *args, backend="mpi"):
    return subprocess.run([str(Path(sys.executable).parent / "micrograd"), "launch",
                           "--nproc-per-node", "2", "--backend", backend,
                           str(RANKS / "launched.py"), *args],
                          env=engine_env(tmp_path), capture_output=True, text=True, timeout=60)


def test_launch_starts_ranks_with_their_environment(tmp_path):
    proc = launch(tmp_path, "--lr", "0.1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        assert (f"rank {rank} of 2 local {rank} sum [3.0, 3.0] args ['--lr', '0.1'] via mpi"
                in proc.stdout)


def test_launch_through_mlx_launch_picks_the_mlx_communicator(tmp_path):
    pytest.importorskip("micrograd_metal")
    proc = launch(tmp_path, "x", backend="mlx")      # the script asks for no communicator
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank} of 2 local {rank} sum [3.0, 3.0] args ['x'] via mlx" in proc.stdout


def test_launch_names_the_failing_rank_and_exits_with_its_status(tmp_path):
    proc = launch(tmp_path, "fail")
    assert proc.returncode == 7, proc.stderr[-3000:]
    assert "micrograd launch: rank 1 failed: exited with status 7" in proc.stderr
    # the other rank failed too, naming rank 1, instead of hanging
    assert "all_reduce on rank 0 cannot complete: rank 1 exited" in proc.stderr


def test_launch_rejects_bad_arguments(tmp_path):
    proc = subprocess.run([str(Path(sys.executable).parent / "micrograd"), "launch",
                           "--nproc-per-node", "0", "x.py"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--nproc-per-node must be at least 1" in proc.stderr
    proc = subprocess.run([str(Path(sys.executable).parent / "micrograd"), "launch",
                           "--backend", "carrier-pigeon", "x.py"], capture_output=True, text=True)
    assert proc.returncode == 2 and "no communicator named 'carrier-pigeon'" in proc.stderr


def test_launch_forwards_sigterm_to_the_ranks(tmp_path):
    command = [str(Path(sys.executable).parent / "micrograd"), "launch", "--nproc-per-node", "2",
               "--backend", "mpi", str(RANKS / "launched.py"), "sleep"]
    proc = subprocess.Popen(command, env=engine_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    line = proc.stdout.readline()            # both ranks are up once rank 0 printed
    assert line.startswith("rank "), line + proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
    assert proc.returncode != 0
    assert "slept" not in out                # the ranks were ended, not left to finish
