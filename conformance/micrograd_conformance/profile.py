"""Run profiles: ``default`` checks everything; ``quick`` (``--conformance-profile quick``) keeps
every op and dtype but one shape per shape class and fewer property examples, for the edit-run
loop of a backend author.

>>> from micrograd_conformance import profile
>>> profile.pick([(), (7,), (1023,)], quick=[(7,)])     # the full list unless quick
[(), (7,), (1023,)]
"""

from __future__ import annotations

PROFILES = ("default", "quick")
current = "default"
"""Set once per session by the plugin, before the suite's modules are collected."""


def quick() -> bool:
    return current == "quick"


def pick(full, quick):
    """``full`` in the default profile, ``quick`` (a subset) in the quick one."""
    return list(quick) if current == "quick" else list(full)
