"""Communicators come from plugins through the same discovery as backends, isolated the same way:
real throwaway plugin distributions (a module and a dist-info) in a fresh interpreter."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

PLUGINS = {
    "mgc_broken": """
        import micrograd

        @micrograd.hookimpl
        def micrograd_register_communicators(register):
            raise RuntimeError("the communicator hook of mgc_broken exploded")
    """,
    "mgc_old": """
        import micrograd

        @micrograd.hookimpl
        def micrograd_register_communicators(register):
            register("oldcomm", lambda: None, contract=(0, 9))
            register("mpi", lambda: None, contract=(1, 0))        # a taken name
    """,
    # A whole (one-rank) communicator: the contract is small enough to fit here.
    "mgc_loop": """
        import numpy as np
        import micrograd
        from micrograd.communicator import Communicator

        class Loop(Communicator):
            name = "loop"
            dtypes = micrograd.dtypes.ALL_DTYPES[:-4] + (micrograd.float32, micrograd.float64)
            def all_reduce(self, x, op): return x
            def broadcast(self, x, src): return x
            def reduce(self, x, dst, op): return x
            def all_gather(self, x, out):
                np.asarray(out)[0] = np.asarray(x)
                return out
            def reduce_scatter(self, x, out, op): return x
            def send(self, x, dst, tag): raise RuntimeError("one rank: no peer")
            def recv(self, like, src, tag): raise RuntimeError("one rank: no peer")
            def barrier(self): pass
            def split(self, ranks): return Loop()

        @micrograd.hookimpl
        def micrograd_register_communicators(register):
            register("loop", Loop, contract=(1, 0), native_backends=("numpy",), priority=5)
    """,
}

SCENARIO = r"""
import json, micrograd as mg, micrograd.distributed as dist
from micrograd.registry import registry
out = {"problems": [(p.plugin, p.stage, p.message) for p in (registry.load() or registry.problems)]}
out["names"] = sorted(registry.communicators)
mg.set_default_device("numpy")
dist.init_process_group()                                 # the loop: native numpy, priority 5
out["chosen"] = dist.get_backend()
t = mg.tensor([1.0, 2.0])
dist.all_reduce(t, op=dist.ReduceOp.AVG)
big = mg.zeros(1, 2)
dist.all_gather_into_tensor(big, t)
h = mg.tensor([1.5], dtype=mg.float16)                    # not carried: widened to float32
dist.broadcast(h, 0)
out["values"] = [t.tolist(), big.tolist(), h.tolist()]
dist.destroy_process_group()
try:
    dist.init_process_group("oldcomm")
except ValueError as exc:
    out["oldcomm"] = str(exc)
out["info"] = mg.info()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    for module, source in PLUGINS.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{module}-0.1.dist-info"
        info.mkdir()
        name = module.replace("_", "-")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[micrograd.backends]\n{module} = {module}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROGRAD_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in sys.path if p])
    proc = subprocess.run([sys.executable, "-c", SCENARIO], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_plugin_registers_a_communicator_that_runs_the_collectives(scenario):
    assert {"loop", "mpi"} <= set(scenario["names"])
    assert scenario["chosen"] == "loop"
    assert scenario["values"] == [[1.0, 2.0], [[1.0, 2.0]], [1.5]]


def test_broken_plugins_are_recorded_not_raised(scenario):
    problems = {(plugin, stage): message for plugin, stage, message in scenario["problems"]}
    assert "exploded" in problems[("mgc_broken", "hook")]
    assert "communicator contract 0.9" in problems[("mgc_old", "contract")]
    assert "already registered by micrograd (built in)" in problems[("mgc_old", "duplicate")]
    assert "oldcomm" not in scenario["names"]
    assert "it failed to load: communicator 'oldcomm'" in scenario["oldcomm"]
    assert "mgc_old" in scenario["info"] and "loop     available" in scenario["info"]
