"""``micrograd.save`` / ``micrograd.load``: state dicts in the safetensors format.

safetensors holds only named tensors (dtype, shape, raw little-endian bytes) behind a JSON
header, so loading never executes code, and files move freely to and from PyTorch
(``safetensors.torch.load_file`` / ``save_file``). Writes go to a temporary file in the same
directory that replaces the target only once complete, so an interrupted save leaves the old
file intact.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from . import dtypes
from .tensor import Tensor

# safetensors dtype code <-> micrograd dtype
_CODES = {
    "F64": dtypes.float64, "F32": dtypes.float32, "F16": dtypes.float16,
    "BF16": dtypes.bfloat16, "I64": dtypes.int64, "I32": dtypes.int32, "I16": dtypes.int16,
    "I8": dtypes.int8, "U8": dtypes.uint8, "U16": dtypes.uint16, "U32": dtypes.uint32,
    "U64": dtypes.uint64, "BOOL": dtypes.bool,
}


class SerializationError(RuntimeError):
    """A file that cannot be read as a micrograd/safetensors state dict."""


def _host_bytes(t: Tensor) -> tuple[str, np.ndarray]:
    """(safetensors dtype name, contiguous little-endian host array holding the raw bytes)."""
    host = t.detach()._host()
    if t._dtype is dtypes.bfloat16:
        # numpy has no bfloat16: write the 16-bit words themselves (the values are already
        # bfloat16-exact, so rounding them again changes nothing).
        from .backends.numpy_backend import f32_to_bf16
        return "bfloat16", _dense(f32_to_bf16(host).view(np.uint16))
    host = _dense(host)
    if host.dtype.byteorder == ">":
        host = host.byteswap().view(host.dtype.newbyteorder("<"))
    return host.dtype.name, host


def _dense(array: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return np.array(array, order="C", copy=not array.flags.c_contiguous)


def save(state_dict: dict, path, metadata: dict[str, str] | None = None) -> None:
    """Write ``state_dict`` (str -> Tensor) to ``path`` in the safetensors format, atomically.

    >>> micrograd.save(model.state_dict(), "model.safetensors")
    """
    from safetensors import TensorSpec, serialize
    if not isinstance(state_dict, dict):
        hint = " (use model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(f"micrograd.save stores a dict of tensors, got "
                        f"{type(state_dict).__name__}{hint}")
    arrays, specs = [], {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"state dict keys must be strings, got {key!r}")
        if not isinstance(value, Tensor):
            raise TypeError(f"state dict entry {key!r} is a {type(value).__name__}; safetensors "
                            f"holds only tensors")
        code, host = _host_bytes(value)
        arrays.append(host)   # keeps the buffer alive while serialize reads its pointer
        specs[key] = TensorSpec(dtype=code, shape=list(host.shape), data_ptr=host.ctypes.data,
                                data_len=host.nbytes)
    payload = bytes(serialize(specs, metadata={"format": "pt", **(metadata or {})}))
    _atomic_write(os.fspath(path), payload)


def _atomic_write(path: str, payload: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, *, device=None) -> dict:
    """Read a safetensors file into a dict of tensors on ``device`` (default: the default
    device). A truncated or corrupted file raises :class:`SerializationError` naming it."""
    from safetensors import SafetensorError, deserialize
    from .ops.creation import tensor
    path = os.fspath(path)
    with open(path, "rb") as f:
        payload = f.read()
    try:
        entries = deserialize(payload)
    except (SafetensorError, ValueError, OverflowError) as exc:
        raise SerializationError(f"{path} is not a readable safetensors file "
                                 f"({len(payload)} bytes): {exc}. It may be truncated or "
                                 f"corrupted; save it again.") from None
    out = {}
    for key, entry in entries:
        code = entry["dtype"].upper()
        dtype = _CODES.get(code)
        if dtype is None:
            raise SerializationError(f"{path}: tensor {key!r} has dtype {code}, which micrograd "
                                     f"does not support (supported: {', '.join(_CODES)})")
        shape = tuple(entry["shape"])
        if dtype is dtypes.bfloat16:
            from .backends.numpy_backend import bf16_to_f32
            words = np.frombuffer(entry["data"], dtype="<u2").reshape(shape)
            host = bf16_to_f32(words)
        else:
            host = np.frombuffer(entry["data"], dtype=dtype.numpy.newbyteorder("<"))
            host = host.reshape(shape).astype(dtype.numpy)
        out[key] = tensor(host, dtype=dtype, device=device)
    return out
