"""Which backend the suite checks, resolved once per session through micrograd's registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import micrograd as mg
from micrograd.decompositions import offered_ops


@dataclass
class Target:
    """The backend under test, or why there is none."""
    name: str
    backend: mg.Backend | None = None
    skip_reason: str | None = None      # not installed: every test is skipped
    error: str | None = None            # installed but unusable: the run is an error
    xfail_file: Path | None = None
    distribution: str | None = None
    contract: tuple[int, int] | None = None     # the contract version the plugin declared

    @property
    def dtypes(self) -> tuple[mg.DType, ...]:
        return self.backend.capabilities.dtypes if self.backend else mg.dtypes.ALL_DTYPES

    @property
    def matmul_dtypes(self) -> tuple[mg.DType, ...]:
        if self.backend is None:
            return mg.dtypes.ALL_DTYPES
        return self.backend.capabilities.matmul_dtypes or self.backend.capabilities.dtypes

    def promises(self, version: tuple[int, int]) -> bool:
        """Whether the plugin's declared contract includes what ``version`` added (the suite
        asks no more of a plugin than its contract promised)."""
        return self.contract is None or self.contract >= tuple(version)

    def describe(self) -> str:
        if self.backend is None:
            return f"{self.name}: {self.skip_reason or self.error}"
        caps = self.backend.capabilities
        contract = f", contract {self.contract[0]}.{self.contract[1]}" if self.contract else ""
        return (f"{self.name} ({self.distribution or 'unknown distribution'}{contract}) on "
                f"{self.backend.describe()}; dtypes {', '.join(d.name for d in caps.dtypes)}; "
                f"optional ops {', '.join(offered_ops(self.backend)) or 'none'}")


def resolve(name: str) -> Target:
    """Find the backend ``name`` (a backend name like ``numpy`` or a device like ``cuda:1``)."""
    from micrograd.registry import BackendError, registry

    registry.load()
    try:
        backend = registry.backend(name) if name in registry.specs else registry.backend_for(name)
    except BackendError as exc:
        known = name in registry.specs or any(p.plugin == name for p in registry.problems)
        if known:
            return Target(name, error=str(exc))
        return Target(name, skip_reason=f"backend {name!r} is not installed ({exc})")
    except (TypeError, ValueError) as exc:      # not even a valid device string
        return Target(name, skip_reason=f"backend {name!r} is not installed (and is no "
                                        f"device string either: {exc})")
    spec = registry.specs.get(backend.name)
    return Target(name, backend, xfail_file=spec.xfail_file if spec else None,
                  distribution=spec.distribution if spec else None,
                  contract=tuple(spec.contract) if spec else None)
