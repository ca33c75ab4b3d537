"""Backend discovery: pluggy hooks over entry points, lazy and isolated.

Nothing here runs at ``import micrograd``. The first time a device is needed, every plugin under
the ``micrograd.backends`` entry-point group is imported and asked to register its backends. A
plugin that fails to import, raises in its hook, speaks another contract version or reuses a
taken name is recorded as a :class:`LoadProblem` (shown by ``micrograd info``) and skipped; a
backend the user names explicitly then fails loudly with that reason.

After resolution a tensor holds its backend instance directly: pluggy is never on the per-op path.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import pluggy

from . import hookspecs
from .backend import CONTRACT_VERSION, Backend, BackendUnavailable, missing_primitives
from .device import device as Device

ENTRY_POINT_GROUP = "micrograd.backends"


class BackendError(RuntimeError):
    """A backend was asked for by name or device and cannot be used; the message says why."""


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


@dataclass
class LoadProblem:
    plugin: str
    distribution: str | None
    stage: str                       # "import", "hook", "contract", "duplicate", "factory"
    message: str
    backend: str | None = None       # the backend it concerns, when the hook got that far


class Registry:
    """All known backends; built on first use."""

    def __init__(self):
        self._lock = threading.RLock()
        self._loaded = False
        self.specs: dict[str, BackendSpec] = {}
        self.problems: list[LoadProblem] = []
        self.plugins: list[tuple[str, str | None]] = []     # (plugin name, distribution)
        self.preferred: dict[str, str] = {}                 # device type -> backend name

    # ------------------------------------------------------------ discovery
    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            pm = pluggy.PluginManager("micrograd")
            pm.add_hookspecs(hookspecs)
            from .backends import numpy_plugin
            self._register_plugin(pm, numpy_plugin, "numpy", "micrograd (built in)")
            allowed = _plugin_filter()
            for ep in _entry_points():
                if ep.name == "numpy" or (allowed is not None and ep.name not in allowed):
                    continue
                dist = _dist_label(ep)
                try:
                    module = ep.load()
                except BaseException as exc:  # noqa: BLE001 - a plugin must never break us
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    self.problems.append(LoadProblem(ep.name, dist, "import", _describe(exc)))
                    continue
                self._register_plugin(pm, module, ep.name, dist)

    def _register_plugin(self, pm, module, plugin_name: str, dist: str | None) -> None:
        try:
            pm.register(module, name=plugin_name)
        except Exception as exc:  # pluggy validates hook signatures here
            self.problems.append(LoadProblem(plugin_name, dist, "hook", _describe(exc)))
            return
        self.plugins.append((plugin_name, dist))
        for impl in pm.hook.micrograd_register_backends.get_hookimpls():
            if impl.plugin is not module:
                continue
            register = self._register_callback(plugin_name, dist)
            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001
                self.problems.append(LoadProblem(plugin_name, dist, "hook", _describe(exc)))

    def _register_callback(self, plugin_name, dist):
        def register(name, factory, *, device_type, contract, priority=0, xfail_file=None):
            if not _is_version(contract):
                self.problems.append(LoadProblem(plugin_name, dist, "contract", (
                    f"backend {name!r} from {dist or plugin_name} passes contract={contract!r}; "
                    f"it must be the (major, minor) tuple of ints the plugin was written for, "
                    f"e.g. contract={CONTRACT_VERSION!r}"), name))
                return
            contract = tuple(contract)
            if contract[0] != CONTRACT_VERSION[0] or contract[1] > CONTRACT_VERSION[1]:
                from . import __version__
                fix = _fix_command(dist, plugin_name)
                self.problems.append(LoadProblem(plugin_name, dist, "contract", (
                    f"backend {name!r} from {dist or plugin_name} implements backend contract "
                    f"{_v(contract)}, but micrograd {__version__} speaks contract "
                    f"{_v(CONTRACT_VERSION)}; install a matching pair: {fix}"), name))
                return
            if name in self.specs:
                other = self.specs[name]
                self.problems.append(LoadProblem(plugin_name, dist, "duplicate", (
                    f"backend name {name!r} is already registered by "
                    f"{other.distribution or other.plugin}; ignoring the one from "
                    f"{dist or plugin_name}")))
                return
            self.specs[name] = BackendSpec(
                name, factory, device_type, contract, priority, plugin_name, dist,
                Path(xfail_file) if xfail_file else None)
        return register

    # ------------------------------------------------------------ resolution
    def backend(self, name: str, index: int = 0) -> Backend:
        """The backend called ``name`` for device index ``index``; raises with the reason."""
        self.load()
        spec = self.specs.get(name)
        if spec is None:
            raise BackendError(self._unknown_message(name))
        if index in spec.instances:
            return spec.instances[index]
        with self._lock:
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
            except Exception as exc:  # noqa: BLE001 - recorded and re-raised with context
                reason = (f"backend {name!r} ({spec.distribution or spec.plugin}) is "
                          f"unavailable: {_describe(exc)}")
                spec.unavailable[index] = reason
                raise BackendError(reason) from exc
            spec.instances[index] = instance
            return instance

    def backend_for(self, spec_or_device) -> Backend:
        """Resolve a device (``"cuda:1"``) or backend name (``"numpy"``) to a backend."""
        dev = Device(spec_or_device)
        self.load()
        index = dev.index or 0
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
                return self.backend(spec.name, index)
            except BackendError as exc:
                reasons.append(str(exc))
        if not candidates:
            if any(dev.type in (p.plugin, p.backend) for p in self.problems):
                # A plugin that failed to load claimed this name: its reason is the answer.
                raise BackendError(self._unknown_message(dev.type))
            known = ", ".join(sorted(self._device_types() | set(self.specs)))
            raise BackendError(f"no backend serves device {str(dev)!r}; known devices and "
                               f"backends: {known}. " + self._problem_hint())
        raise BackendError(f"no backend for device {str(dev)!r} is available: "
                           + "; ".join(reasons))

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
            if p.plugin == name or (p.backend == name and p.stage == "contract"):
                return f"backend {name!r} failed to load ({p.stage}): {p.message}"
        known = ", ".join(sorted(self.specs)) or "none"
        return f"no backend named {name!r} is installed (installed: {known}). " + \
            self._problem_hint()

    def _problem_hint(self) -> str:
        return "Run `micrograd info` to see plugin load problems." if self.problems else ""


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


def _fix_command(dist: str | None, plugin_name: str) -> str:
    from . import __version__
    major, minor = __version__.split(".")[:2]
    package = dist.split()[0] if dist else f"micrograd-{plugin_name}"
    return f"pip install 'micrograd=={__version__}' '{package}>={major}.{minor},<{major}.{int(minor) + 1}'"


def _is_version(contract) -> bool:
    return (isinstance(contract, (tuple, list)) and len(contract) == 2
            and all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in contract))


def _v(version) -> str:
    return ".".join(str(p) for p in version)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


registry = Registry()
