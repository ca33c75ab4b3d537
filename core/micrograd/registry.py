"""Backend discovery: pluggy hooks over entry points, lazy, isolated and bounded.

Nothing here runs at ``import micrograd``. The first time a device is needed, the built-in numpy
backend registers (at once, in this thread: ``device="numpy"`` never waits on anyone), then every
plugin under the ``micrograd.backends`` entry-point group is imported and asked to register its
backends, each in its own thread with a bounded wait (``MICROGRAD_PLUGIN_TIMEOUT`` seconds, 30 by
default), so a plugin that hangs at import is reported, not waited on forever. A plugin that fails
to import, raises (even ``SystemExit`` or ``KeyboardInterrupt``) in its hook, speaks another
contract version or hangs is recorded as a :class:`LoadProblem` (shown by ``micrograd info``) and
skipped; a backend the user names explicitly then fails loudly with that reason. Loading is
all-or-nothing: the registry is filled in one step once every plugin has answered or timed out,
and an interrupted load (Ctrl-C while waiting) leaves it empty, to be retried on next use.

Name clashes never depend on entry-point order. When two distributions register one backend
name, the rule is: the built-in backend wins, then micrograd's own distributions
(:data:`FIRST_PARTY`); between third-party distributions neither wins and the name stays
unregistered. Every clash warns (:class:`PluginConflictWarning`) naming both distributions. To
choose a different winner, limit which plugins load with ``MICROGRAD_PLUGINS``.

After resolution a tensor holds its backend instance directly: pluggy is never on the per-op path.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import pluggy

from . import backend_check, hookspecs
from ._version import __version__
from .backend import CONTRACT_VERSION, Backend, BackendUnavailable, missing_primitives
from .communicator import CommunicatorTable
from .device import device as Device
from .extras import extra_for

ENTRY_POINT_GROUP = "micrograd.backends"
BUILT_IN = "micrograd (built in)"
FIRST_PARTY = frozenset({"micrograd", "micrograd-cpu", "micrograd-cuda", "micrograd-metal"})
"""Distributions of this project; their backends win a name clash against third-party ones."""
DEFAULT_TIMEOUT_S = 30.0


class BackendError(RuntimeError):
    """A backend was asked for by name or device and cannot be used; the message says why."""


class PluginConflictWarning(UserWarning):
    """Two installed distributions register the same backend name."""


class BackendFallbackWarning(UserWarning):
    """A device was served by a lower-priority backend because the preferred one failed (the
    C++ ``cpu`` backend unloadable, say, so ``cpu`` tensors run on numpy, many times slower)."""


@dataclass
class BackendSpec:
    name: str
    factory: Callable[[int], Backend]
    device_type: str
    contract: tuple[int, int]
    priority: int
    plugin: str                      # the plugin (entry point) that registered it
    distribution: str | None         # e.g. "micrograd-cpu 0.1.0"
    xfail_file: Path | None = None
    instances: dict[int, Backend] = field(default_factory=dict)
    unavailable: dict[int, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


@dataclass
class LoadProblem:
    plugin: str
    distribution: str | None
    stage: str                       # "import", "hook", "contract", "duplicate", "factory"
    message: str
    backend: str | None = None       # the backend it concerns, when the hook got that far


@dataclass
class _PluginLoad:
    """What one plugin's import and hook produced, gathered off the main thread."""

    plugin: str
    distribution: str | None
    registrations: list = field(default_factory=list)     # register(...) calls, unchecked
    communicators: list = field(default_factory=list)     # the same for communicators
    problem: LoadProblem | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Registry:
    """All known backends; built on first use."""

    def __init__(self):
        self._lock = threading.RLock()
        self._loaded = False
        self.specs: dict[str, BackendSpec] = {}
        self.problems: list[LoadProblem] = []
        self.plugins: list[tuple[str, str | None]] = []     # (plugin name, distribution)
        self.preferred: dict[str, str] = {}                 # device type -> backend name
        self.current_index: dict[str, int] = {}             # "cuda" means cuda:N (set_device)
        self.communicators = CommunicatorTable()            # micrograd.distributed's engines

    # ------------------------------------------------------------ discovery
    def load(self) -> None:
        """Register the built-in backend, then every plugin (bounded wait); idempotent."""
        self.load_builtin()
        if getattr(_plugin_thread, "active", False):
            return    # plugin code using micrograd while it loads sees what is there so far
        with self._lock:
            if self._loaded:
                return
            timeout = plugin_timeout()
            loads = []
            for ep in _selected_entry_points():
                job = _PluginLoad(ep.name, _dist_label(ep))
                threading.Thread(target=_load_plugin, args=(ep, job),
                                 name=f"micrograd-plugin-{ep.name}", daemon=True).start()
                loads.append(job)
            deadline = time.monotonic() + timeout
            for job in loads:       # one shared deadline; a Ctrl-C here commits nothing
                job.done.wait(max(0.0, deadline - time.monotonic()))
            specs, problems = dict(self.specs), list(self.problems)
            plugins = list(self.plugins)
            communicators = CommunicatorTable(self.communicators)
            from .distributed import mpi_plugin
            builtin_mpi = _PluginLoad("mpi", BUILT_IN)
            mpi_plugin.micrograd_register_communicators(register=_recorder(builtin_mpi.communicators))
            _commit_communicators(builtin_mpi, communicators, problems)
            candidates: dict[str, list[BackendSpec]] = {}
            for job in loads:
                if not job.done.is_set():
                    problems.append(LoadProblem(job.plugin, job.distribution, "import", (
                        f"plugin {job.plugin!r} ({job.distribution or 'unknown distribution'}) "
                        f"did not finish importing and registering within {timeout:g} s (it "
                        f"may hang at import); skipped. Raise MICROGRAD_PLUGIN_TIMEOUT or leave "
                        f"it out with MICROGRAD_PLUGINS")))
                    continue
                if job.problem is not None:
                    problems.append(job.problem)
                    continue
                plugins.append((job.plugin, job.distribution))
                _commit_communicators(job, communicators, problems)
                for args, kwargs in job.registrations:
                    spec = _checked_spec(job, args, kwargs, problems)
                    if spec is not None:
                        candidates.setdefault(spec.name, []).append(spec)
            for name, claims in sorted(candidates.items()):
                winner = _resolve_clash(name, specs.get(name), claims, problems)
                if winner is not None:
                    specs[name] = winner
            self.specs, self.problems, self.plugins = specs, problems, plugins
            self.communicators = communicators
            self._loaded = True

    def load_builtin(self) -> None:
        """Register the built-in numpy backend (no third-party code runs)."""
        if "numpy" in self.specs:
            return
        with self._lock:
            if "numpy" in self.specs:
                return
            from .backends import numpy_plugin
            job = _PluginLoad("numpy", BUILT_IN)
            numpy_plugin.micrograd_register_backends(register=_recorder(job.registrations))
            for args, kwargs in job.registrations:
                spec = _checked_spec(job, args, kwargs, self.problems)
                self.specs[spec.name] = spec
            self.plugins.append(("numpy", BUILT_IN))

    # ------------------------------------------------------------ resolution
    def backend(self, name: str, index: int = 0) -> Backend:
        """The backend called ``name`` for device index ``index``; raises with the reason."""
        if name == "numpy":
            self.load_builtin()         # the built-in backend never waits on plugins
        else:
            self.load()
        spec = self.specs.get(name)
        if spec is None:
            raise BackendError(self._unknown_message(name))
        if index in spec.instances:
            return spec.instances[index]
        if index in spec.unavailable:
            raise BackendError(spec.unavailable[index])
        with spec.lock:        # per backend: one hanging factory does not block the others
            if index in spec.instances:
                return spec.instances[index]
            if index in spec.unavailable:
                raise BackendError(spec.unavailable[index])
            try:
                instance = spec.factory(index)
                gaps = missing_primitives(type(instance))
                if gaps:
                    raise BackendUnavailable(
                        f"it does not implement the required primitives {', '.join(gaps)}")
            except KeyboardInterrupt:
                raise              # the user's Ctrl-C; nothing is cached, the next use retries
            except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin included
                reason = (f"backend {name!r} ({spec.distribution or spec.plugin}) is "
                          f"unavailable: {_describe(exc)}")
                spec.unavailable[index] = reason
                raise BackendError(reason) from exc
            if backend_check.enabled():      # bound once: off costs nothing per op
                backend_check.check_backend(instance)
            spec.instances[index] = instance
            return instance

    def backend_within(self, name: str, timeout: float | None = None) -> Backend:
        """``backend(name)``, but a factory that does not return within ``timeout`` seconds
        (default :func:`plugin_timeout`) is reported as unavailable instead of waited on: for
        ``micrograd info``, which must report, never hang."""
        timeout = plugin_timeout() if timeout is None else timeout
        result: dict = {}

        def build():
            try:
                result["backend"] = self.backend(name)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                result["error"] = exc
        worker = threading.Thread(target=build, name=f"micrograd-factory-{name}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            spec = self.specs[name]
            reason = (f"backend {name!r} ({spec.distribution or spec.plugin}) is unavailable: "
                      f"its factory did not return within {timeout:g} s (it may hang)")
            spec.unavailable.setdefault(0, reason)
            raise BackendError(reason)
        if "error" in result:
            error = result["error"]
            raise error if isinstance(error, Exception) else BackendError(
                f"backend {name!r} is unavailable: its factory raised {_describe(error)}")
        return result["backend"]

    def backend_for(self, spec_or_device) -> Backend:
        """Resolve a device (``"cuda:1"``) or backend name (``"numpy"``) to a backend."""
        dev = Device(spec_or_device)
        if dev.type == "numpy":
            return self.backend("numpy", dev.index or 0)
        self.load()
        index = dev.index if dev.index is not None else self.current_index.get(dev.type, 0)
        if dev.type in self.specs and dev.type not in self._device_types():
            return self.backend(dev.type, index)
        preferred = self.preferred.get(dev.type)
        if preferred is not None:
            return self.backend(preferred, index)
        candidates = sorted((s for s in self.specs.values() if s.device_type == dev.type),
                            key=lambda s: -s.priority)
        reasons = []
        for spec in candidates:
            try:
                backend = self.backend(spec.name, index)
            except BackendError as exc:
                reasons.append(str(exc))
                continue
            if reasons:     # same text each time: Python's warning filter shows it once
                warnings.warn(f"device {str(dev)!r} is served by backend {spec.name!r} because "
                              f"a preferred one failed: {'; '.join(reasons)}",
                              BackendFallbackWarning, stacklevel=3)
            return backend
        if not candidates:
            if any(dev.type in (p.plugin, p.backend) for p in self.problems):
                # A plugin that failed to load claimed this name: its reason is the answer.
                raise BackendError(self._unknown_message(dev.type))
            known = ", ".join(sorted(self._device_types() | set(self.specs)))
            raise BackendError(f"no backend serves device {str(dev)!r}; known devices and "
                               f"backends: {known}. " + self._problem_hint())
        raise BackendError(f"no backend for device {str(dev)!r} is available: "
                           + "; ".join(reasons))

    def refuse_device_types_except(self, keep: str, reason: str) -> None:
        """Make every backend not serving ``keep`` unavailable with ``reason`` (in a forked
        child, where accelerator runtimes do not work), so using one raises, never hangs."""
        with self._lock:
            for spec in self.specs.values():
                if spec.device_type != keep:
                    spec.instances.clear()
                    spec.unavailable = _AlwaysUnavailable(f"backend {spec.name!r}: {reason}")

    def set_preferred(self, device_type: str, name: str) -> None:
        self.load()
        if name not in self.specs:
            raise BackendError(self._unknown_message(name))
        if self.specs[name].device_type != device_type:
            raise BackendError(f"backend {name!r} serves device type "
                               f"{self.specs[name].device_type!r}, not {device_type!r}")
        self.preferred[device_type] = name

    def _device_types(self) -> set[str]:
        return {s.device_type for s in self.specs.values()}

    def _unknown_message(self, name: str) -> str:
        for p in self.problems:
            if p.plugin == name or (p.backend == name and p.stage in ("contract", "duplicate")):
                return f"backend {name!r} failed to load ({p.stage}): {p.message}"
        known = ", ".join(sorted(self.specs)) or "none"
        return f"no backend named {name!r} is installed (installed: {known}). " + \
            self._problem_hint()

    def _problem_hint(self) -> str:
        return "Run `micrograd info` to see plugin load problems." if self.problems else ""


def plugin_timeout() -> float:
    """Seconds to wait for plugins to import and register (``MICROGRAD_PLUGIN_TIMEOUT``)."""
    value = os.environ.get("MICROGRAD_PLUGIN_TIMEOUT", "").strip()
    if not value:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        raise BackendError(f"MICROGRAD_PLUGIN_TIMEOUT must be a number of seconds, got "
                           f"{value!r}") from None
    if not seconds > 0:
        raise BackendError(f"MICROGRAD_PLUGIN_TIMEOUT must be positive, got {value!r}")
    return seconds


def _selected_entry_points():
    allowed = _plugin_filter()
    return [ep for ep in _entry_points() if allowed is None or ep.name in allowed]


_plugin_thread = threading.local()     # set in the threads that import plugins


def _load_plugin(ep, job: _PluginLoad) -> None:
    """Import one plugin and run its hook with its own plugin manager (runs in a thread, so a
    hang costs only the wait). Anything it raises, SystemExit and KeyboardInterrupt included,
    becomes its LoadProblem: plugin code must never end the process."""
    stage = "import"
    _plugin_thread.active = True
    try:
        module = ep.load()
        stage = "hook"
        pm = pluggy.PluginManager("micrograd")
        pm.add_hookspecs(hookspecs)
        pm.register(module, name=job.plugin)      # pluggy validates hook signatures here
        pm.hook.micrograd_register_backends(register=_recorder(job.registrations))
        pm.hook.micrograd_register_communicators(register=_recorder(job.communicators))
    except BaseException as exc:  # noqa: BLE001 - a plugin must never break us
        job.problem = LoadProblem(job.plugin, job.distribution, stage, _describe(exc))
        job.registrations.clear()
        job.communicators.clear()
    finally:
        job.done.set()


def _recorder(calls: list):
    def register(*args, **kwargs):
        calls.append((args, kwargs))
    return register


def _commit_communicators(job: _PluginLoad, table: CommunicatorTable, problems) -> None:
    """Replay a plugin's recorded communicator registrations into ``table``; a refusal (contract,
    duplicate, bad arguments) becomes a LoadProblem like a backend's."""
    def problem(stage, message, name):
        problems.append(LoadProblem(job.plugin, job.distribution, stage, message, name))
    register = table.register_callback(job.plugin, job.distribution, problem)
    for args, kwargs in job.communicators:
        try:
            register(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - e.g. a missing keyword: the plugin's bug
            problem("hook", _describe(exc), args[0] if args else kwargs.get("name"))


def _checked_spec(job: _PluginLoad, args, kwargs, problems) -> BackendSpec | None:
    """One ``register(...)`` call as a spec, or None with the problem recorded."""
    plugin, dist = job.plugin, job.distribution
    try:
        return _spec(plugin, dist, *args, **kwargs)
    except _ContractMismatch as exc:
        problems.append(LoadProblem(plugin, dist, "contract", str(exc), exc.backend))
    except Exception as exc:  # noqa: BLE001 - a malformed register(...) call
        problems.append(LoadProblem(plugin, dist, "hook", (
            f"register{args!r} failed: {_describe(exc)}; see the micrograd_register_backends "
            f"hookspec for its arguments")))
    return None


class _ContractMismatch(Exception):
    def __init__(self, message: str, backend: str):
        super().__init__(message)
        self.backend = backend


def _spec(plugin_name, dist, name, factory, *, device_type, contract, priority=0,
          xfail_file=None) -> BackendSpec:
    if not _is_version(contract):
        raise _ContractMismatch(
            f"backend {name!r} from {dist or plugin_name} passes contract={contract!r}; it must "
            f"be the (major, minor) tuple of ints the plugin was written for, e.g. "
            f"contract={CONTRACT_VERSION!r}", name)
    contract = tuple(contract)
    if contract[0] != CONTRACT_VERSION[0] or contract[1] > CONTRACT_VERSION[1]:
        raise _ContractMismatch(
            f"backend {name!r} from {dist or plugin_name} implements backend contract "
            f"{_v(contract)}, but micrograd {__version__} speaks contract "
            f"{_v(CONTRACT_VERSION)}; {_fix_command(dist, plugin_name, contract)}", name)
    if not isinstance(name, str) or not callable(factory):
        raise TypeError(f"name must be a string and factory callable, got {name!r}, {factory!r}")
    return BackendSpec(name, factory, device_type, contract, int(priority), plugin_name, dist,
                       Path(xfail_file) if xfail_file else None)


def _rank(spec: BackendSpec) -> int:
    """0 for the built-in backend, 1 for micrograd's own distributions, 2 for third parties."""
    if spec.distribution == BUILT_IN:
        return 0
    package = (spec.distribution or "").split(" ")[0]
    return 1 if package in FIRST_PARTY else 2


def _resolve_clash(name, existing, claims, problems) -> BackendSpec | None:
    """The spec that owns ``name`` among ``existing`` (already registered) and ``claims``, by
    the documented rule (built-in, then first-party, beat third-party; a tie among the best
    means nobody). One warning per clash; a problem recorded for every claim that loses."""
    everyone = ([existing] if existing is not None else []) + claims
    if len(everyone) == 1:
        return claims[0]
    best = min(_rank(s) for s in everyone)
    top = [s for s in everyone if _rank(s) == best]
    winner = top[0] if len(top) == 1 else None
    owners = " and ".join(_owner(s) for s in everyone)
    if winner is not None:
        message = (f"backend name {name!r} is registered by {owners}; {_owner(winner)} is used "
                   f"(the built-in backend, then micrograd's own distributions, win over "
                   f"third-party ones). To use another, leave the winner's plugin out with "
                   f"MICROGRAD_PLUGINS")
    else:
        message = (f"backend name {name!r} is registered by {owners}, none of them first-party, "
                   f"so none is used; choose one by listing only its plugin in MICROGRAD_PLUGINS")
    warnings.warn(message, PluginConflictWarning, stacklevel=4)
    for spec in claims:
        if spec is not winner:
            problems.append(LoadProblem(spec.plugin, spec.distribution, "duplicate", message,
                                        name))
    return winner if winner is not existing else None


def _owner(spec: BackendSpec) -> str:
    return f"{spec.distribution or 'an unknown distribution'} (plugin {spec.plugin!r})"


class _AlwaysUnavailable(dict):
    """``spec.unavailable`` for a backend refused at every device index."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason

    def __contains__(self, index) -> bool:
        return True

    def __getitem__(self, index) -> str:
        return self.reason


def _entry_points():
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _plugin_filter() -> set[str] | None:
    # MICROGRAD_PLUGINS=cpu,metal limits which installed plugins load (numpy always does).
    value = os.environ.get("MICROGRAD_PLUGINS")
    if value is None:
        return None
    return {p.strip() for p in value.split(",") if p.strip()}


def _dist_label(ep) -> str | None:
    dist = getattr(ep, "dist", None)
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else None


def _fix_command(dist: str | None, plugin_name: str, contract: tuple[int, ...]) -> str:
    """How to make the plugin and this core speak one contract. Distribution versions say
    nothing about the contract, so only a plugin of this repository (one the core has an extra
    for) can be pinned to a release: the one tested with this core."""
    package = dist.split()[0] if dist else f"micrograd-{plugin_name}"
    ours = extra_for(package)
    if ours is not None:
        return f"install the release made for this micrograd: pip install '{ours.requirement}'"
    for_this_core = f"a {package} release written for contract {CONTRACT_VERSION[0]}.x"
    if tuple(contract) > CONTRACT_VERSION:
        return (f"install a micrograd that speaks contract {_v(contract)} (pip install "
                f"--upgrade micrograd) or {for_this_core}")
    return f"install {for_this_core} (pip install --upgrade {package})"


def _is_version(contract) -> bool:
    return (isinstance(contract, (tuple, list)) and len(contract) == 2
            and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in contract))


def _v(version) -> str:
    return ".".join(str(p) for p in version)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


registry = Registry()
