"""Which ``pip install`` adds a backend plugin: the core's own extras, read from its metadata.

The extras declared in the root ``pyproject.toml`` are the one list: extra ``[NAME]`` installs
the plugin distribution ``micrograd-NAME`` (``[cpu]`` -> micrograd-cpu). ``micrograd info`` and
the contract-mismatch message quote them from the installed core's metadata instead of keeping
a copy, so a plugin added with its extra is named everywhere at once.

>>> from micrograd.extras import install_command
>>> install_command("micrograd-cpu")        # doctest: +SKIP
'pip install "micrograd[cpu]"'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata

# A Requires-Dist line of an extra, e.g. 'micrograd-cpu~=2026.12.0; extra == "cpu"'.
_EXTRA_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<spec>[^;]*?)\s*;\s*"
    r"extra\s*==\s*['\"](?P<extra>[^'\"]+)['\"]\s*$")


@dataclass(frozen=True)
class PluginExtra:
    extra: str           # "cpu"
    distribution: str    # "micrograd-cpu"
    requirement: str     # "micrograd-cpu~=2026.12.0", the release series that extra installs


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=1)
def plugin_extras() -> tuple[PluginExtra, ...]:
    """Every extra ``[NAME]`` of the installed core that pulls ``micrograd-NAME``, in the order
    the core declares them; empty when the core has no distribution metadata (a bare source
    tree on ``sys.path``)."""
    try:
        requires = metadata.requires("micrograd") or []
    except metadata.PackageNotFoundError:
        return ()
    found = []
    for line in requires:
        match = _EXTRA_REQUIREMENT.match(line.strip())
        if match and _normalize(match["name"]) == f"micrograd-{_normalize(match['extra'])}":
            found.append(PluginExtra(match["extra"], _normalize(match["name"]),
                                     f"{match['name']}{match['spec']}"))
    return tuple(found)


def extra_for(distribution: str) -> PluginExtra | None:
    """The core's extra that installs ``distribution`` (``"micrograd-cpu"``), if it has one."""
    wanted = _normalize(distribution)
    return next((e for e in plugin_extras() if e.distribution == wanted), None)


def install_command(distribution: str) -> str | None:
    """``pip install "micrograd[NAME]"`` for a plugin the core has an extra for, else None."""
    found = extra_for(distribution)
    return f'pip install "micrograd[{found.extra}]"' if found else None


def not_installed() -> list[PluginExtra]:
    """The core's plugin extras whose distribution is not installed in this environment."""
    def installed(distribution):
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            return False
        return True
    return [e for e in plugin_extras() if not installed(e.distribution)]
