"""The malformed-call corpus (``malformed_corpus.py``) on every installed backend, each in its
own interpreter so that a crash is a reported failure naming its case, and against PyTorch, the
oracle for which calls are malformed and which exception class they raise."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import malformed_corpus as corpus

HERE = Path(__file__).parent


def test_the_corpus_is_large_and_covers_every_family():
    assert len(corpus.CASES) >= 300
    families = Counter(c.family for c in corpus.CASES)
    for family in ("shapes", "arange", "movement", "dtypes", "broadcast", "reduction", "linalg",
                   "indexing", "devices", "autograd", "nn", "kernels", "optim"):
        assert families[family] >= 5, families


def _available(name: str) -> bool:
    from micrograd.registry import BackendError, registry
    try:
        registry.backend(name)
        return True
    except BackendError:
        return False


@pytest.mark.parametrize("backend", ["numpy", "cpu", "metal", "cuda"])
def test_every_malformed_call_raises_a_typed_clear_error(backend):
    if not _available(backend):
        pytest.skip(f"backend {backend!r} is not available here")
    proc = subprocess.run([sys.executable, str(HERE / "malformed_corpus.py"), "--backend",
                           backend], capture_output=True, text=True, timeout=300, cwd=HERE)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    results = {r["case"]: r for r in lines if "case" in r}
    if proc.returncode != 0 or len(results) != len(corpus.CASES):
        started = [r["start"] for r in lines if "start" in r]
        last = corpus.CASES[started[-1]].code if started else "(none)"
        pytest.fail(f"the corpus process on {backend} died with exit code {proc.returncode} "
                    f"after {len(results)} of {len(corpus.CASES)} cases, in case {last!r}:\n"
                    f"{proc.stderr[-3000:]}")
    counts = Counter(r["status"] for r in results.values())
    failures = [f"[{r['status']}] {corpus.CASES[i].code}\n    expected "
                f"{corpus.CASES[i].error} matching {corpus.CASES[i].message!r}\n    got "
                f"{r['detail']}" for i, r in sorted(results.items())
                if r["status"] not in ("ok", "skipped")]
    print(f"\nmalformed corpus on {backend}: {dict(counts)}")
    assert not failures, f"{len(failures)} of {len(results)} cases on {backend}:\n" + \
        "\n".join(failures)


TORCH_CASES = [c for c in corpus.CASES if c.torch]


def test_pytorch_raises_the_same_exception_class_for_each_shared_case():
    torch = pytest.importorskip("torch")
    disagreements = []
    for c in TORCH_CASES:
        namespace = {"mg": torch, "nn": torch.nn, "F": torch.nn.functional, "np": np,
                     **corpus.fixtures(torch, torch.nn)}
        try:
            exec(c.code, namespace)
            disagreements.append(f"{c.code}: PyTorch raised nothing")
        except Exception as exc:  # noqa: BLE001 - compared below
            if not isinstance(exc, c.error):
                disagreements.append(f"{c.code}: PyTorch raised {type(exc).__name__} ({exc}), "
                                     f"the corpus expects {c.error}")
    assert len(TORCH_CASES) >= 300
    assert not disagreements, "\n".join(disagreements)
