"""The conformance tests proper; run them with ``pytest --pyargs micrograd_conformance``."""
