"""What ``micrograd info`` (and ``micrograd.info()``) prints: versions, plugins, backends,
devices, communicators and load problems, as the registry knows them."""

from __future__ import annotations

from ._version import __version__
from .backend import CONTRACT_VERSION
from .decompositions import offered_ops
from .extras import extra_for, install_command, not_installed
from .registry import registry


def render_info() -> str:
    registry.load()
    lines = [f"micrograd {__version__}",
             f"backend contract {CONTRACT_VERSION[0]}.{CONTRACT_VERSION[1]}", "", "plugins:"]
    for plugin, dist in registry.plugins:
        extra = extra_for(dist.split()[0]) if dist else None
        lines.append(f"  {plugin:<12} {dist or '(no distribution metadata)'}" + (
            f", installed by {install_command(extra.distribution)}" if extra else ""))
    # The core's extras that are not installed: what a user can add, and the command for it.
    # By name, these resolve to this project only from its wheels or a private index (README).
    lines += ["", "not installed:"]
    lines += [f"  {e.extra:<12} {install_command(e.distribution)}"
              for e in not_installed()] or ["  none"]
    lines += ["", "backends:"]
    for name, spec in sorted(registry.specs.items(), key=lambda kv: (kv[1].device_type, -kv[1].priority)):
        try:
            backend = registry.backend_within(name)      # a hanging factory is reported
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            lines.append(f"  {name:<8} device {spec.device_type:<6} priority {spec.priority:<4} "
                         f"UNAVAILABLE")
            lines.append(f"           reason: {exc}")
            continue
        caps = backend.capabilities
        lines.append(f"  {name:<8} device {spec.device_type:<6} priority {spec.priority:<4} "
                     f"available ({spec.distribution or spec.plugin})")
        lines.append(f"           runs on: {backend.describe()}")
        lines.append(f"           dtypes: {', '.join(d.name for d in caps.dtypes)}")
        if caps.matmul_dtypes is not None:
            lines.append(f"           matmul dtypes: {', '.join(d.name for d in caps.matmul_dtypes)}")
        lines.append(f"           optional ops: {', '.join(offered_ops(backend)) or 'none'}")
        for key, note in caps.notes.items():
            lines.append(f"           note ({key}): {note}")
    lines += ["", "devices:"]
    for device_type in sorted({s.device_type for s in registry.specs.values()}):
        try:
            chosen = registry.backend_for(device_type)
            lines.append(f"  {device_type:<8} served by {chosen.name}")
        except Exception as exc:  # noqa: BLE001
            lines.append(f"  {device_type:<8} unavailable: {exc}")
    lines += ["", "communicators (micrograd.distributed):"]
    for name, spec in sorted(registry.communicators.items()):
        reason = spec.unavailable_reason()
        state = "available" if reason is None else "UNAVAILABLE"
        lines.append(f"  {name:<8} {state} ({spec.distribution or spec.plugin}), native: "
                     f"{', '.join(spec.native_backends) or 'none'}; other backends staged "
                     f"through host memory")
        if reason is not None:
            lines.append(f"           reason: {reason}")
    lines += ["", "load problems:"]
    if not registry.problems:
        lines.append("  none")
    for p in registry.problems:
        lines.append(f"  {p.plugin} ({p.distribution or 'unknown distribution'}) [{p.stage}]: "
                     f"{p.message}")
    return "\n".join(lines)
