"""Misbehaving plugins, as real installed distributions (``plugin_site``): name clashes are
resolved by a documented rule with a warning, never by entry-point order; SystemExit,
KeyboardInterrupt and other BaseExceptions from plugin code are recorded, not fatal; a plugin
that hangs at import or in its factory is reported after a bounded wait, and the built-in backend
never waits on it; an interrupted load leaves nothing half-built and is retried cleanly."""

import importlib.util
import json
import time

import pytest

from plugin_site import make_site, run

# A backend that lies: every binary op returns the first operand plus 1 (ones(3) + 1 -> 2 is fine,
# so it returns 3s to be caught).
LIAR = """
    import micrograd
    from micrograd.backends.numpy_backend import NumpyBackend

    class Liar(NumpyBackend):
        name = "{name}"
        capabilities = micrograd.Capabilities(dtypes=NumpyBackend.capabilities.dtypes,
                                              device_type="{device}")

        def binary(self, op, a, b):
            return super().binary(op, a, b) + 1

    @micrograd.hookimpl
    def micrograd_register_backends(register):
        register("{name}", lambda index: Liar(micrograd.device("{device}")),
                 device_type="{device}", contract=(1, 0), priority=1000)
"""

PLUGINS = {
    # sorts before "cpu" and claims its name: must lose to micrograd-cpu whatever the order
    "mgt_aaa": LIAR.format(name="cpu", device="cpu"),
    # two third-party distributions claiming one name: neither wins
    "mgt_clash_a": LIAR.format(name="dup", device="dup"),
    "mgt_clash_b": LIAR.format(name="dup", device="dup"),
    "mgt_exit_import": "raise SystemExit(3)\n",
    "mgt_interrupt_import": "raise KeyboardInterrupt\n",
    "mgt_exit_hook": """
        import micrograd

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            raise SystemExit("bye from the hook")
    """,
    "mgt_base_hook": """
        import micrograd

        class Weird(BaseException):
            pass

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            raise Weird("a BaseException subclass")
    """,
    "mgt_exit_factory": """
        import micrograd

        def make(index):
            raise SystemExit("the factory exits")

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("exiter", make, device_type="exiter", contract=(1, 0))
    """,
    "mgt_hang_import": "import time\ntime.sleep(600)\n",
    "mgt_slow_import": """
        import time
        import micrograd
        from micrograd.backends.numpy_backend import NumpyBackend
        time.sleep(3)

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("slow", lambda index: NumpyBackend(micrograd.device("slow")),
                     device_type="slow", contract=(1, 0))
    """,
    "mgt_hang_factory": """
        import time
        import micrograd

        def make(index):
            time.sleep(600)

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("hanger", make, device_type="hanger", contract=(1, 0))
    """,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("hostile"), PLUGINS)


def report(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CLASH = r"""
import json, warnings
import micrograd as mg
from micrograd.registry import registry
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    registry.load()
out = {"warnings": [str(w.message) for w in caught
                    if w.category.__name__ == "PluginConflictWarning"]}
out["cpu"] = registry.specs["cpu"].distribution
out["cpu_result"] = (mg.ones(3, device="cpu") + 1).tolist()
try:
    mg.ones(1, device="dup")
    out["dup"] = "served"
except mg.BackendError as exc:
    out["dup"] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(importlib.util.find_spec("micrograd_cpu") is None,
                    reason="needs the first-party micrograd-cpu plugin installed")
def test_a_third_party_cpu_never_replaces_the_first_party_one(site):
    out = report(run(site, CLASH, env={"MICROGRAD_PLUGINS": "aaa,cpu,clash_a,clash_b"}))
    assert out["cpu"].startswith("micrograd-cpu ")
    assert out["cpu_result"] == [2.0, 2.0, 2.0]
    (cpu_warning,) = [w for w in out["warnings"] if "'cpu'" in w]
    assert "mgt-aaa 0.1" in cpu_warning and "micrograd-cpu" in cpu_warning
    assert "MICROGRAD_PLUGINS" in cpu_warning


def test_two_third_party_claims_to_one_name_are_both_refused(site):
    out = report(run(site, CLASH.replace('out["cpu"] = registry.specs["cpu"].distribution', "")
                     .replace('out["cpu_result"] = (mg.ones(3, device="cpu") + 1).tolist()', ""),
                     env={"MICROGRAD_PLUGINS": "clash_a,clash_b"}))
    (warning,) = out["warnings"]
    assert "mgt-clash-a 0.1" in warning and "mgt-clash-b 0.1" in warning
    assert "'dup'" in out["dup"] and "MICROGRAD_PLUGINS" in out["dup"]


def test_the_user_chooses_with_the_plugin_filter(site):
    code = ("import micrograd as mg, json; t = mg.ones(1, device='dup'); "
            "from micrograd.registry import registry; "
            "print(json.dumps([t.backend, registry.specs['dup'].distribution]))")
    assert report(run(site, code, env={"MICROGRAD_PLUGINS": "clash_b"})) == [
        "dup", "mgt-clash-b 0.1"]


EXITS = r"""
import json, micrograd as mg
from micrograd.registry import registry
out = {"sum": (mg.ones(3) + 1).sum().item(), "backend": mg.ones(1).backend}
try:
    mg.ones(1, device="exiter")
except mg.BackendError as exc:
    out["exiter"] = str(exc)
out["problems"] = sorted((p.plugin, p.stage, p.message) for p in registry.problems)
print(json.dumps(out))
"""


def test_base_exceptions_from_plugin_code_are_recorded_not_fatal(site):
    out = report(run(site, EXITS, env={
        "MICROGRAD_PLUGINS": "exit_import,interrupt_import,exit_hook,base_hook,exit_factory"}))
    assert out["sum"] == 6.0 and out["backend"] == "numpy"
    problems = {(plugin, stage): message for plugin, stage, message in out["problems"]}
    assert problems[("exit_import", "import")] == "SystemExit: 3"
    assert problems[("interrupt_import", "import")].startswith("KeyboardInterrupt")
    assert "bye from the hook" in problems[("exit_hook", "hook")]
    assert "Weird: a BaseException subclass" in problems[("base_hook", "hook")]
    assert "SystemExit: the factory exits" in out["exiter"]


HANG = r"""
import json, time, micrograd as mg
from micrograd.registry import registry
start = time.perf_counter()
out = {"numpy": mg.ones(2, device="numpy").sum().item()}
out["numpy_s"] = time.perf_counter() - start
out["default"] = (mg.ones(2) * 3).tolist()
out["default_s"] = time.perf_counter() - start
out["problems"] = [(p.plugin, p.stage, p.message) for p in registry.problems]
print(json.dumps(out))
"""


def test_a_plugin_hanging_at_import_delays_nothing_built_in(site):
    out = report(run(site, HANG, env={"MICROGRAD_PLUGINS": "hang_import",
                                      "MICROGRAD_PLUGIN_TIMEOUT": "1"}, timeout=60))
    assert out["numpy"] == 2.0 and out["numpy_s"] < 0.9     # never waited on the plugin
    assert out["default"] == [3.0, 3.0] and out["default_s"] < 20
    ((plugin, stage, message),) = out["problems"]
    assert (plugin, stage) == ("hang_import", "import")
    assert "within 1 s" in message and "MICROGRAD_PLUGIN_TIMEOUT" in message


def test_micrograd_info_reports_a_hanging_factory(site):
    start = time.perf_counter()
    proc = run(site, "", "info", module="micrograd", timeout=60,
               env={"MICROGRAD_PLUGINS": "hang_factory", "MICROGRAD_PLUGIN_TIMEOUT": "1"})
    assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - start < 30
    assert "hanger" in proc.stdout and "did not return within 1 s" in proc.stdout


INTERRUPTED = r"""
import json, signal, time, micrograd as mg
from micrograd.registry import registry

def interrupt(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGALRM, interrupt)
signal.setitimer(signal.ITIMER_REAL, 0.5)       # Ctrl-C while the slow plugin imports
out = {}
try:
    registry.load()
    out["first"] = "loaded"
except KeyboardInterrupt:
    out["first"] = "interrupted"
out["after_interrupt"] = [registry._loaded, sorted(registry.specs)]
out["numpy_meanwhile"] = mg.ones(1, device="numpy").item()
registry.load()                                 # retried cleanly: nothing half-built
out["retried"] = [registry._loaded, sorted(registry.specs), len(registry.problems)]
out["slow"] = mg.ones(1, device="slow").backend
print(json.dumps(out))
"""


def test_an_interrupted_load_is_all_or_nothing_and_retried(site):
    out = report(run(site, INTERRUPTED, env={"MICROGRAD_PLUGINS": "slow_import"}, timeout=60))
    assert out["first"] == "interrupted"
    assert out["after_interrupt"] == [False, ["numpy"]]
    assert out["numpy_meanwhile"] == 1.0
    assert out["retried"] == [True, ["numpy", "slow"], 0]
    assert out["slow"] == "numpy"


def test_a_plugin_using_micrograd_at_import_does_not_wait_on_itself(tmp_path):
    site = make_site(tmp_path, {"mgt_eager": """
        import micrograd
        from micrograd.backends.numpy_backend import NumpyBackend
        ONE = micrograd.ones(1, device="numpy").item()     # tensors at import time

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("eager", lambda index: NumpyBackend(micrograd.device("eager")),
                     device_type="eager", contract=(1, 0))
    """})
    start = time.perf_counter()
    code = "import micrograd as mg; print(mg.ones(1, device='eager').sum().item())"
    proc = run(site, code, env={"MICROGRAD_PLUGINS": "eager", "MICROGRAD_PLUGIN_TIMEOUT": "20"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1.0" and time.perf_counter() - start < 15


def test_several_hanging_plugins_share_one_deadline(tmp_path):
    site = make_site(tmp_path, {f"mgt_hang{i}": "import time\ntime.sleep(600)\n"
                                for i in range(3)})
    start = time.perf_counter()
    proc = run(site, "import micrograd as mg; print(len(mg.info().split('did not finish')))",
               env={"MICROGRAD_PLUGIN_TIMEOUT": "3", "MICROGRAD_PLUGINS": "hang0,hang1,hang2"},
               timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"                      # all three reported
    assert time.perf_counter() - start < 8.5               # 3 s in all, not 3 s each
