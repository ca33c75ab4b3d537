"""micrograd:metal and raw MLX are measured alike: the same wait, the same training step."""

import numpy as np
import pytest

from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, run_one
from benchmarks.workloads import all_workloads

pytest.importorskip("mlx.core")


@pytest.fixture(scope="module")
def contenders():
    found, _ = discover(1)
    by_name = {f.name: f for f in found}
    if "micrograd:metal" not in by_name or "mlx" not in by_name:
        pytest.skip("the metal backend or MLX is not available here")
    return by_name


def test_lazy_micrograd_waits_by_mx_eval_alone_like_raw_mlx(contenders, monkeypatch):
    metal = contenders["micrograd:metal"]
    waits = []
    monkeypatch.setattr(metal.extra["backend"], "synchronize", lambda: waits.append(1))
    x = metal.tensor(np.array([1.5, 2.0], np.float32))
    metal.sync(x + x)
    assert waits == []           # a second wait on MLX's stream would be charged to micrograd
    assert metal.to_numpy(x + x).tolist() == [3.0, 4.0]


def test_lazy_micrograd_sync_evaluates_every_result(contenders):
    import io

    import mlx.core as mx

    def pending_edges(tensor):
        dot = io.StringIO()
        mx.export_to_dot(dot, tensor._data)
        return dot.getvalue().count("->")

    metal = contenders["micrograd:metal"]
    x = metal.tensor(np.array([1.5, 2.0], np.float32))
    a, b = x + x, x * 3
    assert pending_edges(a) > 0 and pending_edges(b) > 0
    metal.sync((a, None, b))            # through the mx.eval looked up at discovery
    assert (pending_edges(a), pending_edges(b)) == (0, 0)
    assert metal.to_numpy(b).tolist() == [4.5, 6.0]


def test_raw_mlx_mlp_step_matches_pytorch_and_micrograd(contenders):
    mlp = next(w for w in all_workloads() if w.name == "mlp_train_step")
    fws = [contenders[n] for n in ("torch", "micrograd:metal", "mlx")]
    results = run_one(mlp, 8, fws, PROFILES["smoke"], log=lambda _: None)
    assert [r.status for r in results] == ["ok", "ok", "ok"], [r.message for r in results]
    assert [r.checked_against for r in results] == [None, "torch", "torch"]


def test_the_metal_plugins_overhead_benchmark_is_the_harness_on_chosen_sizes(contenders, capsys):
    import importlib.util
    from pathlib import Path
    path = (Path(__file__).resolve().parents[2] / "plugins" / "micrograd-metal" / "benchmarks"
            / "overhead_ab.py")
    spec = importlib.util.spec_from_file_location("overhead_ab", path)
    overhead_ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(overhead_ab)
    assert overhead_ab.main(["--threads", "1", "--profile", "smoke",
                             "--only", "add_1,add:1024"]) == 0
    table = capsys.readouterr().out.split("## micrograd:metal over mlx")[1]
    rows = [line for line in table.splitlines() if line.startswith("| add")]
    assert [row.split(" | ")[:2] for row in rows] == [["| add_1", "1"], ["| add", "1,024"]]
    assert all(row.endswith(f"| {PROFILES['smoke'].repeats} |") for row in rows)
