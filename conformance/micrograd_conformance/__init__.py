"""micrograd's backend conformance suite, packaged as a pytest plugin.

Run it against any installed backend::

    pytest --pyargs micrograd_conformance --backend numpy
    micrograd conformance cpu -x

Expected values come from an oracle that is independent of every backend: numpy float64 computed
here, central finite differences for gradients and PyTorch where it is installed.
"""

__version__ = "2026.12.0"
