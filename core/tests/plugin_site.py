"""Real throwaway plugin distributions for the plugin tests.

Each plugin is a module plus a ``<dist>-0.1.dist-info`` directory (METADATA and
entry_points.txt) in a temporary directory; putting that directory on PYTHONPATH is all
importlib.metadata needs to discover it, exactly as for a pip-installed package. Every scenario
runs in a fresh interpreter, because discovery happens once per process.
"""

import os
import subprocess
import sys
import textwrap


def make_site(root, plugins: dict):
    """Write ``plugins`` (module name -> source; the entry point is the name without
    ``mgt_``) as installed distributions under ``root``; returns ``root``."""
    for module, source in plugins.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
        dist = module.replace("_", "-")
        info = root / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        short = module.removeprefix("mgt_")
        (info / "entry_points.txt").write_text(f"[micrograd.backends]\n{short} = {module}\n")
    return root


def run(site, code="", *args, env=None, module=None, timeout=120):
    """Run python (``-c code`` or ``-m module args``) with the throwaway plugins installed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MICROGRAD_")}
    environ["PYTHONPATH"] = os.pathsep.join([str(site)] + [p for p in sys.path if p])
    environ.update(env or {})
    cmd = [sys.executable, "-m", module, *args] if module else [sys.executable, "-c", code]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout)
