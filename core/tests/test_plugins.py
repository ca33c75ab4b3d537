"""Plugin discovery with real throwaway plugin distributions (see ``plugin_site``)."""

import json

import pytest

import micrograd as mg
from plugin_site import make_site, run

# name -> module source. Each module is the whole plugin.
PLUGINS = {
    "mgt_import_error": """
        raise ImportError("mgt_import_error needs libfancy.so, which is missing")
    """,
    "mgt_hook_error": """
        import micrograd

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            raise RuntimeError("the hook of mgt_hook_error exploded")
    """,
    "mgt_old_contract": """
        import micrograd
        from micrograd.backends.numpy_backend import NumpyBackend

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("oldie", lambda index: NumpyBackend(micrograd.device("oldie")),
                     device_type="oldie", contract=(0, 3))
    """,
    "mgt_duplicate": """
        import micrograd
        from micrograd.backends.numpy_backend import NumpyBackend

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("numpy", lambda index: NumpyBackend(micrograd.device("cpu")),
                     device_type="cpu", contract=(1, 0), priority=99)
    """,
    "mgt_unavailable": """
        import micrograd

        def make(index):
            raise micrograd.BackendUnavailable("no Frobnicator accelerator is attached")

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("frob", make, device_type="frob", contract=(1, 0))
    """,
    # A working backend under another name and device type: numpy behind a different device.
    "mgt_fake": """
        import micrograd
        from micrograd.backends.numpy_backend import NumpyBackend

        class FakeBackend(NumpyBackend):
            name = "fake"
            capabilities = micrograd.Capabilities(dtypes=NumpyBackend.capabilities.dtypes,
                                                  device_type="fake", device_count=2)

            def describe(self):
                return "numpy pretending to be another device"

        def make(index):
            if index > 1:
                raise micrograd.BackendUnavailable(f"fake has 2 devices, not {index + 1}")
            return FakeBackend(micrograd.device("fake", index))

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("fake", make, device_type="fake", contract=(1, 0))
    """,
    # A preferred cpu backend whose factory fails on this machine (an extension that will not
    # load): device "cpu" falls back to numpy, and says so.
    "mgt_broken_cpu": """
        import micrograd

        def make(index):
            raise ImportError("libopenblas.so.0: cannot open shared object file")

        @micrograd.hookimpl
        def micrograd_register_backends(register):
            register("fastcpu", make, device_type="cpu", contract=(1, 0), priority=100)
    """,
}
# entry-point names of the main scenario (the broken cpu backend has its own test)
OURS = ",".join(m.removeprefix("mgt_") for m in PLUGINS if m != "mgt_broken_cpu")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_site(tmp_path_factory.mktemp("site"), PLUGINS)


SCENARIO = r"""
import json, micrograd as mg
from micrograd.registry import registry
out = {"imported_plugins_before_use": len(registry.plugins)}
x = mg.tensor([1.0, 2.0])
out["numpy_works"] = (x * 2).sum().item()
out["cpu_served_by"] = x.backend
errors = {}
for name in ["import_error", "hook_error", "oldie", "frob", "nonexistent", "fake"]:
    try:
        backend = registry.backend(name)
        errors[name] = "OK " + backend.name
    except mg.BackendError as exc:
        errors[name] = str(exc)
out["errors"] = errors
out["problems"] = [(p.plugin, p.stage, p.message) for p in registry.problems]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def scenario(site):
    proc = run(site, SCENARIO, env={"MICROGRAD_PLUGINS": OURS})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_import_is_lazy_and_numpy_keeps_working(scenario):
    assert scenario["imported_plugins_before_use"] == 0
    assert scenario["numpy_works"] == 6.0
    assert scenario["cpu_served_by"] == "numpy"      # the duplicate's priority 99 is ignored


def test_each_problem_is_recorded_with_its_stage(scenario):
    stages = {(plugin, stage) for plugin, stage, _ in scenario["problems"]}
    assert {("import_error", "import"), ("hook_error", "hook"), ("old_contract", "contract"),
            ("duplicate", "duplicate")} <= stages
    messages = " ".join(m for _, _, m in scenario["problems"])
    assert "libfancy.so" in messages and "exploded" in messages


def test_incompatible_contract_names_both_versions_and_a_pip_command(scenario):
    (message,) = [m for p, s, m in scenario["problems"] if s == "contract"]
    # both contract versions: the plugin's and the core's
    assert "contract 0.3" in message and "contract {}.{}".format(*mg.CONTRACT_VERSION) in message
    assert "pip install" in message and "mgt-old-contract" in message


def test_duplicate_name_names_both_owners(scenario):
    (message,) = [m for p, s, m in scenario["problems"] if s == "duplicate"]
    assert "'numpy'" in message and "mgt-duplicate" in message and "micrograd" in message


def test_naming_a_broken_backend_raises_its_reason(scenario):
    errors = scenario["errors"]
    assert "libfancy.so" in errors["import_error"]
    assert "exploded" in errors["hook_error"]
    assert "no Frobnicator accelerator" in errors["frob"] and "BackendUnavailable" in errors["frob"]
    assert "installed" in errors["nonexistent"] and "numpy" in errors["nonexistent"]
    assert errors["fake"] == "OK fake"


def test_old_contract_backend_named_explicitly(scenario):
    message = scenario["errors"]["oldie"]
    assert "contract" in message and "0.3" in message and "pip install" in message


def test_cli_info_lists_every_problem(site):
    proc = run(site, "", "info", module="micrograd", env={"MICROGRAD_PLUGINS": OURS})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for needle in ["import_error", "libfancy.so", "[import]", "hook_error", "[hook]",
                   "old_contract", "[contract]", "duplicate", "[duplicate]",
                   "frob", "UNAVAILABLE", "no Frobnicator accelerator", "fake", "mgt-fake 0.1"]:
        assert needle in text, f"{needle!r} missing from `micrograd info`:\n{text}"


def test_plugin_filter_skips_unlisted_plugins(site):
    code = ("import micrograd as mg; from micrograd.registry import registry; registry.load(); "
            "print(sorted(registry.specs), len(registry.problems))")
    proc = run(site, code, env={"MICROGRAD_PLUGINS": "fake"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("]")[0] + "]" == "['fake', 'numpy']"
    assert proc.stdout.strip().endswith("0")


def test_unfiltered_discovery_survives_every_broken_plugin(site):
    code = "import micrograd as mg; print((mg.ones(3) + 1).sum().item()); print(mg.info())"
    proc = run(site, code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("6.0") and "libfancy.so" in proc.stdout


FALLBACK = r"""
import warnings, micrograd as mg
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x = mg.ones(2, device="cpu")
    y = mg.zeros(2)
print(x.backend, y.backend)
for w in caught:
    print(w.category.__name__, w.message)
"""


def test_a_failing_preferred_backend_falls_back_with_a_warning(site):
    proc = run(site, FALLBACK, env={"MICROGRAD_PLUGINS": "broken_cpu"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "numpy numpy"
    warned = [line for line in lines[1:] if line.startswith("BackendFallbackWarning")]
    assert warned, proc.stdout
    assert all("'fastcpu'" in line and "libopenblas.so.0" in line and "'numpy'" in line
               for line in warned), warned


MIXED = r"""
import micrograd as mg
a = mg.ones(2)
b = mg.ones(2, device="fake")
print(b.device, b.backend)
try:
    a + b
except RuntimeError as exc:
    print("MIXED:", exc)
c = b.to("cpu")
print("moved", c.device, c.backend, (a + c).tolist())
g = mg.tensor([1.0, 2.0], requires_grad=True)
(g.to("fake") * mg.tensor([3.0, 4.0], device="fake")).sum().backward()
print("grad", g.grad.tolist(), g.grad.backend)
print("fake:1", mg.zeros(1, device="fake:1").device)
try:
    mg.zeros(1, device="fake:5")
except mg.BackendError as exc:
    print("INDEX:", exc)
try:
    mg.zeros(1, device="warp")
except mg.BackendError as exc:
    print("UNKNOWN:", exc)
for name, fn in [("cat", lambda: mg.cat([a, b])), ("matmul", lambda: a @ b),
                 ("where", lambda: mg.where(a > 0, a, b)), ("index", lambda: a[mg.tensor([0], device="fake")]),
                 ("setitem", lambda: a.__setitem__(0, b[0])), ("gather", lambda: a.gather(0, mg.tensor([0], device="fake"))),
                 ("inplace", lambda: a.add_(b))]:
    try:
        fn()
        print("NO ERROR", name)
    except RuntimeError as exc:
        print("DEVICES", name, "cpu" in str(exc) and "fake" in str(exc), exc)
c = mg.zeros(2)
c.copy_(b)          # copy_ moves across devices, as in torch
print("copy_", c.tolist(), c.backend)
h = mg.tensor([1.5, 2.5], dtype=mg.bfloat16).to("fake").to("numpy")
print("bf16 round trip", h.dtype, h.tolist())
"""


def test_mixed_backend_ops_raise_naming_both_devices(site):
    proc = run(site, MIXED, env={"MICROGRAD_PLUGINS": "fake"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "fake:0 fake" in out
    mixed = next(line for line in out.splitlines() if line.startswith("MIXED:"))
    assert "cpu" in mixed and "fake" in mixed and "numpy" in mixed and ".to(" in mixed
    assert "moved cpu numpy [2.0, 2.0]" in out
    assert "grad [3.0, 4.0] numpy" in out
    assert "fake:1 fake:1" in out
    assert "2 devices, not 6" in out
    assert "UNKNOWN:" in out and "'warp'" in out
    devices = [line for line in out.splitlines() if line.startswith(("DEVICES", "NO ERROR"))]
    assert len(devices) == 7 and all(line.startswith("DEVICES") and " True " in line
                                     for line in devices), "\n".join(devices)
    assert "copy_ [1.0, 1.0] numpy" in out
    assert "bf16 round trip micrograd.bfloat16 [1.5, 2.5]" in out


def test_micrograd_device_env_picks_the_default(site):
    code = "import micrograd as mg; t = mg.zeros(2); print(t.device, t.backend)"
    proc = run(site, code, env={"MICROGRAD_PLUGINS": "fake", "MICROGRAD_DEVICE": "fake:1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fake:1 fake"
    proc = run(site, code, env={"MICROGRAD_PLUGINS": "fake", "MICROGRAD_DEVICE": "numpy"})
    assert proc.stdout.strip() == "cpu numpy"


def test_set_backend_selects_who_serves_a_device():
    with pytest.raises(mg.BackendError, match="serves device type 'cpu', not 'cuda'"):
        mg.set_backend("cuda", "numpy")
    with pytest.raises(mg.BackendError, match="no backend named 'nope'"):
        mg.set_backend("cpu", "nope")
    from micrograd.registry import registry
    previous = registry.preferred.get("cpu")
    try:
        mg.set_backend("cpu", "numpy")
        assert mg.zeros(1, device="cpu").backend == "numpy"
    finally:
        if previous is None:
            registry.preferred.pop("cpu", None)
        else:
            registry.preferred["cpu"] = previous
        mg.set_default_device("numpy")


def test_hookspecs_are_documented():
    from micrograd import hookspecs
    spec = hookspecs.micrograd_register_backends
    assert spec.__name__.startswith("micrograd_") and ":param register:" in spec.__doc__


@pytest.mark.parametrize("contract, accepted, message", [
    ((1, 0), True, None),                          # older minors keep loading
    ((1, 1), True, None),
    ((1, 2), True, None),
    ((1, 3), True, None),
    ((1, 4), True, None),
    ((1, 5), True, None),
    ((1, 6), True, None),                          # this core's own version
    ((1, 7), False, "backend 'hs' from micrograd-hs 0.4 implements backend contract 1.7, but "
                    "micrograd {version} speaks contract 1.6; "),
    ((2, 0), False, "backend 'hs' from micrograd-hs 0.4 implements backend contract 2.0, but "
                    "micrograd {version} speaks contract 1.6; "),
    ((0, 9), False, "backend 'hs' from micrograd-hs 0.4 implements backend contract 0.9, but "
                    "micrograd {version} speaks contract 1.6; "),
    ("1.0", False, "backend 'hs' from micrograd-hs 0.4 passes contract='1.0'; it must be the "
                   "(major, minor) tuple of ints the plugin was written for, e.g. "
                   "contract=(1, 6)"),
    ((1,), False, "passes contract=(1,); it must be the (major, minor) tuple of ints"),
    ((1, "1"), False, "passes contract=(1, '1'); it must be the (major, minor) tuple of ints"),
    (None, False, "passes contract=None; it must be the (major, minor) tuple of ints"),
])
def test_contract_handshake_matrix(contract, accepted, message):
    from micrograd.backend import CONTRACT_VERSION
    from micrograd.registry import _checked_spec, _PluginLoad
    assert CONTRACT_VERSION == (1, 6)      # the expected messages below are written for it
    problems = []
    spec = _checked_spec(_PluginLoad("hs", "micrograd-hs 0.4"), ("hs", lambda index: None),
                         dict(device_type="hs", contract=contract), problems)
    assert (spec is not None) is accepted
    if accepted:
        assert spec.contract == tuple(contract) and not problems
        return
    (problem,) = problems
    assert problem.stage == "contract" and problem.backend == "hs"
    assert message.format(version=mg.__version__) in problem.message, problem.message


# ------------------------------------------------------------ single-device factories
def test_single_device_builds_index_0_and_refuses_the_others():
    @mg.single_device("mydev", "the board has one accelerator")
    def make_mydev_backend():
        return "the backend"

    assert make_mydev_backend(0) == "the backend"
    assert make_mydev_backend.__name__ == "make_mydev_backend"
    with pytest.raises(mg.BackendUnavailable, match=r"^mydev has one device, mydev:0, not "
                                                    r"mydev:2 \(the board has one accelerator\)$"):
        make_mydev_backend(2)


def test_the_numpy_backend_has_one_device():
    from micrograd.registry import BackendError, registry
    with pytest.raises(BackendError, match=r"numpy has one device, numpy:0, not numpy:1"):
        registry.backend("numpy", 1)
    assert registry.backend("numpy", 0).name == "numpy"
