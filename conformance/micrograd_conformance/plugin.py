"""The pytest plugin: ``--backend``, xfail files, the report, and the suite's fixtures.

Registered through the ``pytest11`` entry point, so it is active in every pytest run once
installed; it only ever touches tests of ``micrograd_conformance.tests``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from . import compare, profile, xfail
from .report import Matrix
from .target import Target, resolve

SUITE_PACKAGE = "micrograd_conformance.tests"
DEFAULT_BACKEND = "numpy"

# The CI profile is derandomized (the same examples every run, so a failure reproduces);
# "thorough" explores far more. Choose with --hypothesis-profile thorough. "quick" goes with
# --conformance-profile quick.
settings.register_profile("ci", max_examples=30, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("quick", max_examples=8, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("thorough", max_examples=600, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)

_TARGET = pytest.StashKey[Target]()
_MATRIX = pytest.StashKey[Matrix]()
_XFAILS = pytest.StashKey[xfail.XfailList]()
_OBSERVED = pytest.StashKey[list]()
_CONFIG: list = []          # the running session's config, for pytest_runtest_logreport


def pytest_addoption(parser):
    group = parser.getgroup("micrograd-conformance", "micrograd backend conformance suite")
    group.addoption("--backend", default=None, metavar="NAME",
                    help="backend (or device) to check: numpy, cpu, metal, cuda, cuda:1, or a "
                         "third-party backend's name (default: $MICROGRAD_CONFORMANCE_BACKEND "
                         f"or {DEFAULT_BACKEND})")
    group.addoption("--xfail-file", action="append", default=[], metavar="PATH",
                    help="extra expected-failure file (added to the one the plugin registered)")
    group.addoption("--conformance-report", default=None, metavar="PATH",
                    help="write the op x dtype matrix to PATH.json and PATH.md")
    group.addoption("--conformance-profile", default="default", choices=profile.PROFILES,
                    help="quick: every op and dtype, one shape per shape class (under a minute "
                         "for most backends); default: everything")
    group.addoption("--strict-fast-ops", action="store_true", default=False,
                    help="a fast op the backend declares that falls back to the core's "
                         "decomposition raises (also: MICROGRAD_STRICT_FAST_OPS=1)")


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance_specs(specs): ops a test is parametrized "
                                       "over (with the dtypes each supports)")
    config.addinivalue_line("markers", "conformance_dtypes(dtypes): restrict a test's dtype "
                                       "parameter to these (and the backend's declared ones)")
    config.addinivalue_line("markers", "conformance_op(name): the op a test reports under")
    _CONFIG[:] = [config]
    profile.current = config.getoption("conformance_profile", "default") or "default"
    if config.getoption("strict_fast_ops", False):
        from micrograd.decompositions import dispatch
        dispatch.strict = True


def target(config) -> Target:
    """The backend under test (resolved on first use, once per session)."""
    found = config.stash.get(_TARGET, None)
    if found is None:
        name = config.getoption("backend") or os.environ.get(
            "MICROGRAD_CONFORMANCE_BACKEND", DEFAULT_BACKEND)
        found = config.stash[_TARGET] = resolve(name)
        if found.backend is not None:      # every primitive's result checked in the suite
            from micrograd.backend_check import check_backend
            check_backend(found.backend)
    return found


def _in_suite(item) -> bool:
    module = getattr(item, "module", None)
    return module is not None and module.__name__.startswith(SUITE_PACKAGE)


# ------------------------------------------------------------ parametrization
def pytest_generate_tests(metafunc):
    if not metafunc.module.__name__.startswith(SUITE_PACKAGE):
        return
    declared = target(metafunc.config).dtypes
    marker = metafunc.definition.get_closest_marker("conformance_dtypes")
    allowed = marker.args[0] if marker else declared
    if "spec" in metafunc.fixturenames:
        specs = metafunc.definition.get_closest_marker("conformance_specs").args[0]
        pairs = [(s, d) for s in specs for d in s.dtypes if d in declared and d in allowed]
        metafunc.parametrize(("spec", "dtype"), pairs,
                             ids=[f"{s.id}-{d.name}" for s, d in pairs])
    elif "dtype" in metafunc.fixturenames:
        chosen = [d for d in declared if d in allowed]
        metafunc.parametrize("dtype", chosen, ids=[d.name for d in chosen])


# ------------------------------------------------------------ collection
def pytest_collection_modifyitems(session, config, items):
    suite = [item for item in items if _in_suite(item)]
    if not suite:
        return
    # The suite's property tests run under the "ci" profile unless --hypothesis-profile names
    # another; other projects' tests (where this plugin is merely installed) keep theirs.
    # Hypothesis fixes a test's settings when @given decorates it, at import, before this hook
    # (loading the profile here came too late: they ran with the default 200 ms deadline and
    # random examples), so the profile is set on each of the suite's property tests.
    examples = settings.get_profile(config.getoption("hypothesis_profile", None) or (
        "quick" if profile.quick() else "ci"))
    for item in suite:
        test = getattr(item, "obj", None)
        if getattr(test, "is_hypothesis_test", False):
            test._hypothesis_internal_use_settings = examples
    found = target(config)
    if found.error:
        raise pytest.UsageError(f"micrograd-conformance: --backend {found.name}: {found.error}")
    if found.skip_reason:
        marker = pytest.mark.skip(reason=found.skip_reason)
        for item in suite:
            item.add_marker(marker)
        return
    files = ([found.xfail_file] if found.xfail_file else []) + \
        [Path(p) for p in config.getoption("xfail_file")]
    try:
        xfails = xfail.load(files)
    except xfail.XfailFileError as exc:
        raise pytest.UsageError(f"micrograd-conformance: {exc}") from None
    config.stash[_XFAILS] = xfails
    # inf and nan are answers here; numpy-based backends would warn about every one.
    quiet = pytest.mark.filterwarnings("ignore::RuntimeWarning")
    for item in suite:
        item.add_marker(quiet)
        entry = xfails.match(xfail.test_id(item.nodeid))
        if entry is not None:
            item.add_marker(pytest.mark.xfail(reason=f"{entry.reason} ({entry.source})",
                                              strict=True, run=True))
    config.stash[_MATRIX] = Matrix(found.name, found.describe())


# ------------------------------------------------------------ running
# What a test checked travels on its report (``user_properties``), so the matrix can be built
# wherever reports arrive: in this process, or in the controller of a pytest-xdist run.
_PROPERTY = "micrograd_conformance"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if not _in_suite(item):
        return (yield)
    compare.current = compare.Recorder()
    before = _fast_op_calls(item.config)
    try:
        return (yield)
    finally:
        item.stash[_OBSERVED] = compare.current.observations
        compare.current = compare.Recorder()
        after = _fast_op_calls(item.config)
        item.stash[_FAST_OPS] = {
            op: [n - before.get(op, (0, 0))[0], d - before.get(op, (0, 0))[1]]
            for op, (n, d) in after.items() if (n, d) != tuple(before.get(op, (0, 0)))}


_FAST_OPS = pytest.StashKey[dict]()


def _fast_op_calls(config) -> dict:
    """``op -> (native, decomposed)`` calls on the backend under test so far (this process)."""
    from micrograd.decompositions import counts
    found = config.stash.get(_TARGET, None)
    name = found.backend.name if found is not None and found.backend is not None else None
    return {op: tuple(c) for (backend, op), c in counts.items() if backend == name}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _in_suite(item) and call.when in ("setup", "call"):
        op, dtype = _op_and_dtype(item)
        observed = [(o.op, o.dtype, o.max_abs, o.max_rel, o.ok)
                    for o in item.stash.get(_OBSERVED, [])] if call.when == "call" else []
        fast_ops = item.stash.get(_FAST_OPS, {}) if call.when == "call" else {}
        report.user_properties.append((_PROPERTY, {"op": op, "dtype": dtype,
                                                   "observed": observed, "fast_ops": fast_ops}))
    return report


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    config = _CONFIG[0] if _CONFIG else None
    if config is None or hasattr(config, "workerinput"):    # an xdist worker: the controller
        return                                               # builds the matrix
    noted = next((v for k, v in report.user_properties if k == _PROPERTY), None)
    if noted is None:           # not the suite's, or a teardown
        return
    matrix = _matrix(config)
    matrix.add_time(xfail.test_id(report.nodeid).split("::", 1)[0], report.duration)
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    matrix.count_fast_ops(noted.get("fast_ops", {}))
    if hasattr(report, "wasxfail"):
        outcome = "xfail" if report.skipped else "fail"
    elif report.failed:
        outcome = "fail"        # an unexpected pass of a strict xfail lands here too
    elif report.skipped:
        outcome = "skip"
    else:
        outcome = "pass"
    message = f"{xfail.test_id(report.nodeid)}: {_short(report)}" if outcome == "fail" else None
    matrix.add(noted["op"], noted["dtype"], outcome, message)
    for op, result_dtype, max_abs, max_rel, ok in noted["observed"]:
        # A failed comparison inside an expected failure is expected too.
        checked = "pass" if ok else ("xfail" if outcome == "xfail" else "fail")
        # Columns are input dtypes (argmax of float32 is a float32 cell, though it gives int64).
        dtype = noted["dtype"] if noted["dtype"] != "any" else result_dtype
        matrix.observe(op, dtype, max_abs, max_rel, checked)


def _matrix(config) -> Matrix:
    matrix = config.stash.get(_MATRIX, None)
    if matrix is None:
        found = target(config)
        matrix = config.stash[_MATRIX] = Matrix(found.name, found.describe())
    return matrix


def _op_and_dtype(item) -> tuple[str, str]:
    params = getattr(getattr(item, "callspec", None), "params", {})
    marker = item.get_closest_marker("conformance_op")
    if "spec" in params:
        op = params["spec"].op
    elif "op" in params:
        op = str(params["op"])
    elif marker:
        op = marker.args[0]
    else:
        op = item.originalname.removeprefix("test_") if hasattr(item, "originalname") \
            else item.name
    dtype = params.get("dtype")
    return op, getattr(dtype, "name", "any" if dtype is None else str(dtype))


def _short(report) -> str:
    if hasattr(report, "wasxfail") and report.passed:
        return f"passed but is listed as an expected failure ({report.wasxfail})"
    text = getattr(report.longrepr, "reprcrash", None)
    message = text.message if text is not None else str(report.longrepr)
    return message.splitlines()[0][:400] if message else "failed"


# ------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def conformance_target(request) -> Target:
    return target(request.config)


@pytest.fixture(scope="session")
def backend(conformance_target):
    """The backend instance under test; pass it as ``device=`` to create tensors on it."""
    return conformance_target.backend


@pytest.fixture(scope="session")
def backend_name(conformance_target) -> str:
    return conformance_target.backend.name


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test id: every run draws the same inputs, wherever the
    suite is installed."""
    import zlib
    return np.random.default_rng(zlib.crc32(xfail.test_id(request.node.nodeid).encode()))


@pytest.fixture(scope="session")
def torch_oracle():
    """PyTorch, the extra oracle, or a skip where it is not installed."""
    return pytest.importorskip("torch", reason="PyTorch (the extra oracle) is not installed")


# ------------------------------------------------------------ end of session
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    matrix = config.stash.get(_MATRIX, None)
    path = config.getoption("conformance_report")
    if matrix is not None and path and not hasattr(config, "workerinput"):
        json_path, md_path = matrix.write(Path(path))
        config.stash[_REPORTED] = f"conformance report: {json_path} and {md_path}"


_REPORTED = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    found = config.stash.get(_TARGET, None)
    if found is not None:
        terminalreporter.write_line(f"micrograd-conformance: backend {found.describe()}")
    xfails = config.stash.get(_XFAILS, None)
    if xfails is not None:
        for entry in xfails.unmatched():
            terminalreporter.write_line(
                f"micrograd-conformance: xfail entry {entry.pattern!r} ({entry.source}) "
                f"matched no test collected in this run")
    matrix = config.stash.get(_MATRIX, None)
    if matrix is not None and found is not None and found.backend is not None:
        from micrograd.decompositions import offered_ops
        offered = set(offered_ops(found.backend))
        calls = matrix.fast_ops
        native = [f"{op} {n}/{d}" for op, (n, d) in sorted(calls.items()) if op in offered]
        decomposed = [f"{op} {d}" for op, (_, d) in sorted(calls.items()) if op not in offered]
        never = sorted(op for op in offered if not calls.get(op, [0])[0])
        terminalreporter.write_line(
            "micrograd-conformance: declared fast ops, native/decomposed calls: "
            + (", ".join(native) or "none called"))
        if decomposed:
            terminalreporter.write_line("micrograd-conformance: decomposed by the core (not "
                                        "declared): " + ", ".join(decomposed))
        if never and calls:
            terminalreporter.write_line("micrograd-conformance: declared but never run "
                                        "natively in this run: " + ", ".join(never))
        if matrix.module_seconds:
            terminalreporter.write_line("micrograd-conformance: seconds per module: " + ", ".join(
                f"{m.removeprefix('test_').removesuffix('.py')} {t:.1f}"
                for m, t in sorted(matrix.module_seconds.items(), key=lambda kv: -kv[1])))
    line = config.stash.get(_REPORTED, None)
    if line:
        terminalreporter.write_line(line)
