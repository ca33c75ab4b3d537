"""Backends that ship inside the core distribution (the numpy reference backend)."""
