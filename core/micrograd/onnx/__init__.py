"""``micrograd.onnx``: importing it works, so programs that export at the end still train;
exporting is not implemented.

>>> micrograd.onnx.export(model, (x,), "model.onnx")
Traceback (most recent call last):
NotImplementedError: micrograd.onnx.export is not implemented ...
"""

from __future__ import annotations


def export(model, args=(), f=None, *unused, **kwargs):
    """Raises NotImplementedError: micrograd has no ONNX exporter."""
    raise NotImplementedError(
        f"micrograd.onnx.export is not implemented: micrograd has no ONNX exporter, so "
        f"{type(model).__name__} cannot be written to {f!r}. Save the weights with "
        f"micrograd.save(model.state_dict(), path), load them into the same model in PyTorch "
        f"with safetensors.torch.load_file(path) and export from there.")


def is_in_onnx_export() -> bool:
    return False
