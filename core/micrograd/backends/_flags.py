"""A namespace of settable flags whose meaning is documented where it is created."""

from __future__ import annotations


class Flags:
    """Attributes with declared defaults; assigning an undeclared one raises (a typo in
    ``allow_tf32`` should not pass silently)."""

    def __init__(self, where: str, **defaults):
        object.__setattr__(self, "_where", where)
        object.__setattr__(self, "_values", dict(defaults))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"{self._where} has no flag {name!r} (flags: {', '.join(values)})")

    def __setattr__(self, name, value) -> None:
        if name not in self._values:
            raise AttributeError(f"{self._where} has no flag {name!r} "
                                 f"(flags: {', '.join(self._values)})")
        self._values[name] = value

    def __repr__(self) -> str:
        return f"<{self._where} {self._values}>"
