"""The fusion family judged on known backends: a correct fusing backend passes it, one whose
code generator gets one op wrong is caught naming that op, and a backend without the hook is
skipped with the reason."""

import pytest

from test_suite_verdicts import finish, plugin_dir, start_suite  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def fusion_runs(tmp_path_factory, plugin_dir):
    started = {name: start_suite(tmp_path_factory.mktemp(name), name, "-k", "test_fusion",
                                 "-rfs", plugin_dir=plugin_dir)
               for name in ("fusing", "misfusing", "numpy")}
    return {name: finish(run) for name, run in started.items()}


def test_a_correct_fusing_backend_passes(fusion_runs):
    done, data = fusion_runs["fusing"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    cells = {c["dtype"]: c for c in data["cells"] if c["op"] == "compile_elementwise"}
    assert len(cells) >= 14, sorted(cells)            # every dtype, and the dtype-free tests
    assert all(c["tests"].get("pass") and not c["tests"].get("fail") for c in cells.values())
    assert "fusing does not offer" not in done.stdout


def test_a_fusing_backend_with_one_wrong_op_is_caught_naming_it(fusion_runs):
    done, data = fusion_runs["misfusing"]
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    for dtype in ("float16", "bfloat16", "float32", "float64"):
        assert f"::test_every_op_fused_equals_its_evaluation[{dtype}]" in done.stdout, dtype
    for dtype in ("int32", "bool", "uint8"):          # atan2 is float-only: these pass
        assert f"::test_every_op_fused_equals_its_evaluation[{dtype}]" not in done.stdout
    text = "\n".join(m for c in data["cells"] for m in c["failures"])
    assert "op atan2" in text and "backend 'misfusing': compile_elementwise" in text, text[:2000]


def test_a_backend_without_the_hook_is_skipped_with_the_reason(fusion_runs):
    done, data = fusion_runs["numpy"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "numpy does not offer compile_elementwise" in done.stdout
    assert not any(c["tests"].get("pass") for c in data["cells"]
                   if c["op"] == "compile_elementwise")
