"""The smoke profile end to end: JSON, Markdown and plots come out and make sense."""

import json
import statistics

import pytest

from benchmarks.cli import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = main(["--profile", "smoke", "--out", str(out), "--only", "add_1,add_1_grad,add,matmul",
                 "--frameworks", "torch,numpy,micrograd:numpy,micrograd:cpu"])
    return code, out, json.loads((out / "results.json").read_text())


def test_every_contender_is_checked_and_timed(smoke):
    code, _, data = smoke
    assert code == 0
    ok = [r for r in data["results"] if r["status"] == "ok"]
    assert {r["framework"] for r in ok} == {"torch", "numpy", "micrograd:numpy", "micrograd:cpu"}
    for r in ok:
        s = r["seconds"]
        assert 0 < s["min"] <= s["median"] <= s["max"], r
        assert s["median"] == statistics.median(r["round_seconds"])
        # The ratio to PyTorch is taken within each interleaved round, then summarised.
        torch = next(t for t in ok if t["framework"] == "torch"
                     and t["workload"] == r["workload"] and t["size"] == r["size"])
        per_round = [a / b for a, b in
                     zip(r["round_seconds"], torch["round_seconds"], strict=True)]
        assert r["ratio_vs_torch"] == r["ratio"]["median"] == pytest.approx(
            statistics.median(per_round))
        assert r["ratio"]["min"] <= r["ratio"]["q1"] <= r["ratio"]["q3"] <= r["ratio"]["max"]
    # numpy has no autograd: the requires_grad add is not applicable there, and says so.
    grad = [r for r in data["results"]
            if r["workload"] == "add_1_grad" and r["framework"] == "numpy"]
    assert grad[0]["status"] == "n/a"


def test_machine_threads_and_command_are_recorded(smoke):
    _, _, data = smoke
    machine = data["machine"]
    assert machine["cores"] >= 1 and "torch.set_num_threads" in machine["threads"]
    assert machine["command"].startswith("python -m benchmarks --profile smoke")


def test_markdown_table_and_log_log_plots(smoke):
    _, out, _ = smoke
    text = (out / "results.md").read_text()
    assert "### matmul: matmul n x n @ n x n" in text
    assert "| n | torch | numpy | micrograd:numpy | micrograd:cpu |" in text
    # every non-reference cell carries the ratio and its spread over the rounds: "(1.05x ±3%)"
    matmul_row = next(line for line in text.splitlines() if line.startswith("| 64 |"))
    assert matmul_row.count("x ±") == 3, matmul_row
    # micrograd:numpy's overhead over numpy itself, round by round
    assert "## micrograd:numpy over numpy" in text
    assert "| add | 1,024 |" in text.split("## micrograd:numpy over numpy")[1]
    for name in ("add", "matmul"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_peak_memory_is_measured_by_the_kernel(smoke):
    _, _, data = smoke
    assert "VmHWM" in data["memory"]["method"]
    torch_row = next(m for m in data["memory"]["results"] if m["framework"] == "torch")
    # Gradients, momentum and activations of the MLP: well over 1 MiB on the first step.
    assert torch_row["first_step_bytes"] > 2**20
