"""``micrograd.save`` / ``micrograd.load``: checkpoints as safetensors files, and PyTorch's own
``.pt`` / ``.pth`` files read without running their pickles.

What ``save`` writes is a standard safetensors file: every tensor under a readable name (a
state dict's own keys, or the dotted path to the tensor), and, in the header's metadata, a JSON
description of the object around them: nested dicts (any JSON-able keys), OrderedDicts, lists,
tuples, ``Size``, ints, floats (nan and inf too), strings, bools, None, bytes, dtypes, devices,
numpy arrays and ``Parameter``s. Loading rebuilds exactly that object, so ``{"model":
model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}`` round-trips; nothing in the
file is ever executed. ``safetensors.torch.load_file`` reads the tensors of any such file.

``load`` also reads PyTorch checkpoints (``torch.save``'s zip format and the older
``_use_new_zipfile_serialization=False`` one) through :mod:`micrograd._torch_checkpoint`,
which rebuilds tensors and containers only, like ``torch.load(weights_only=True)``.

Every size in a header is checked against the file's real size before anything is allocated;
how files are mapped and atomically replaced is :mod:`micrograd._checkpoint_files`.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import struct
from collections import OrderedDict

import numpy as np

from . import dtypes
from ._checkpoint_files import SerializationError, Source, canonical, replace_atomically
from ._torch_checkpoint import load_torch_checkpoint
from .backends.numpy_backend import bf16_to_f32, f32_to_bf16
from .device import device as Device
from .nn.parameter import Parameter
from .ops.creation import saved_placement, tensor
from .registry import BackendError, registry
from .tensor import Size, Tensor

# safetensors dtype code <-> micrograd dtype
_CODES = {
    "F64": dtypes.float64, "F32": dtypes.float32, "F16": dtypes.float16,
    "BF16": dtypes.bfloat16, "I64": dtypes.int64, "I32": dtypes.int32, "I16": dtypes.int16,
    "I8": dtypes.int8, "U8": dtypes.uint8, "U16": dtypes.uint16, "U32": dtypes.uint32,
    "U64": dtypes.uint64, "BOOL": dtypes.bool,
}
_STRUCTURE_KEY = "micrograd.structure"
_MAX_HEADER = 100 * 1024 * 1024      # safetensors' own limit on the JSON header
_ZIP_MAGIC = b"PK\x03\x04"


# ================================================================== save

def save(obj, f, *, metadata: dict[str, str] | None = None) -> None:
    """Write ``obj`` (a tensor, or dicts/lists/tuples of tensors and plain values) to ``f``,
    a path or a binary file object, as a safetensors file.

    >>> micrograd.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
    ...                 "epoch": 3}, "checkpoint.pt")
    >>> micrograd.save(model.state_dict(), "model.safetensors")
    """
    # safetensors (a compiled extension) loads when a checkpoint is written, not on import
    from safetensors import TensorSpec, serialize, serialize_file
    tensors: dict[str, Tensor | np.ndarray] = {}
    structure = _Encoder(tensors).encode(obj, ())
    hosts, specs = [], {}
    for name, value in tensors.items():
        code, host = _host_bytes(value)
        hosts.append(host)   # keeps the buffer alive while safetensors reads its pointer
        specs[name] = TensorSpec(dtype=code, shape=list(host.shape), data_ptr=host.ctypes.data,
                                 data_len=host.nbytes)
    header = {"format": "pt", **(metadata or {}),
              _STRUCTURE_KEY: json.dumps(structure, separators=(",", ":"))}
    if hasattr(f, "write"):
        f.write(bytes(serialize(specs, metadata=header)))
        return
    path = os.fspath(f)
    replace_atomically(path, lambda tmp: serialize_file(specs, tmp, metadata=header))


class _Encoder:
    """Turns an object into JSON, collecting its tensors under unique, readable names."""

    def __init__(self, tensors: dict):
        self.tensors = tensors
        self.names: dict[int, str] = {}       # id(tensor) -> name: a shared tensor is stored once

    def encode(self, obj, path: tuple):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)):
            return int(obj) if isinstance(obj, int) else float(obj)    # IntEnum -> int
        if isinstance(obj, Tensor):
            return {"tensor": self._name(obj, path), "device": str(obj.device),
                    "backend": obj._backend.name, "requires_grad": obj.requires_grad,
                    "parameter": isinstance(obj, Parameter)}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf" or obj.dtype == np.float128:
                raise self._refuse(obj, path)
            return {"ndarray": self._name(obj, path)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, dtypes.DType):
            return {"dtype": obj.name}
        if isinstance(obj, Device):
            return {"device": str(obj)}
        if isinstance(obj, bytes):
            return {"bytes": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, (Size, list, tuple)):
            tag = "size" if isinstance(obj, Size) else type(obj).__name__
            if tag not in ("size", "list", "tuple"):
                raise self._refuse(obj, path)        # a namedtuple or other subclass
            return {tag: [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]}
        if isinstance(obj, dict):
            tag = "odict" if isinstance(obj, OrderedDict) else "dict"
            if type(obj) not in (dict, OrderedDict):
                raise self._refuse(obj, path)
            items = []
            for key, value in obj.items():
                if isinstance(key, (Tensor, np.ndarray, dict, list)):
                    raise TypeError(f"micrograd.save: a {type(key).__name__} cannot be a dict key "
                                    f"(at {_where(path)})")
                items.append([self.encode(key, path), self.encode(value, path + (str(key),))])
            return {tag: items}
        raise self._refuse(obj, path)

    def _name(self, value, path: tuple) -> str:
        known = self.names.get(id(value))
        if known is not None:
            return known
        base = ".".join(path) or "tensor"
        name, n = base, 1
        while name in self.tensors:
            name, n = f"{base}#{n}", n + 1
        self.tensors[name] = value
        self.names[id(value)] = name
        return name

    @staticmethod
    def _refuse(obj, path: tuple) -> TypeError:
        hint = " (save its .state_dict() instead)" if hasattr(obj, "state_dict") else ""
        return TypeError(
            f"micrograd.save cannot store a {type(obj).__name__} at {_where(path)}{hint}: "
            f"checkpoints hold tensors, numpy arrays, numbers, strings, bools, None, bytes, "
            f"dtypes, devices and dicts/lists/tuples of them (no arbitrary objects, so loading "
            f"never runs code)")


def _where(path: tuple) -> str:
    return "the top level" if not path else "'" + ".".join(path) + "'"


def _host_bytes(value) -> tuple[str, np.ndarray]:
    """(safetensors dtype name, contiguous little-endian host array holding the raw bytes)."""
    if isinstance(value, Tensor):
        host = value.detach()._host()
        if value._dtype is dtypes.bfloat16:
            # numpy has no bfloat16: write the 16-bit words themselves (the values are already
            # bfloat16-exact, so rounding them again changes nothing).
            return "bfloat16", _dense(f32_to_bf16(host).view(np.uint16))
    else:
        host = value
    host = _dense(host)
    if host.dtype.byteorder == ">":
        host = host.byteswap().view(host.dtype.newbyteorder("<"))
    return host.dtype.name, host


def _dense(array: np.ndarray) -> np.ndarray:
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return np.array(array, order="C", copy=not array.flags.c_contiguous)


# ================================================================== load

def load(f, map_location=None, pickle_module=None, *, weights_only: bool | None = None,
         mmap: bool | None = None, device=None, **pickle_load_args):
    """Read what :func:`save` wrote, a safetensors file, or a PyTorch checkpoint, from a path
    or a binary file object.

    ``map_location`` (or ``device``) places the tensors: a device or device string
    (``"cpu"``, ``"numpy"``), a dict from saved location to device (``{"cuda:0": "cpu"}``), or
    ``fn(tensor, location)`` returning the tensor to use. Without one, tensors go back to the
    device they were saved from, on the backend that saved them when it is installed here
    (otherwise on the device's default backend). Files never run code: ``weights_only`` is accepted for
    PyTorch compatibility and ``weights_only=False`` changes nothing (a PyTorch pickle that
    needs anything beyond tensors and containers is refused, naming what it asked for).

    >>> checkpoint = micrograd.load("checkpoint.pt", map_location="cpu")
    >>> model.load_state_dict(checkpoint["model"])
    """
    if pickle_module not in (None, pickle) or set(pickle_load_args) - {"encoding"}:
        raise TypeError("micrograd.load takes no custom pickle_module or unpickler arguments "
                        "(other than encoding, unused: files are read as PyTorch 1.x+ writes "
                        "them): it never unpickles arbitrary objects")
    if device is not None:
        if map_location is not None:
            raise TypeError("pass map_location or device, not both")
        map_location = device
    place = _placer(map_location)
    with Source(f) as source:
        # A safetensors header is JSON right after its 8-byte length; PyTorch files are zips
        # or, in the legacy format, a pickle (protocol byte 0x80).
        head = source.read(0, 4)
        if head == _ZIP_MAGIC or (head[:1] == b"\x80" and source.read(8, 1) != b"{"):
            return load_torch_checkpoint(source, place)
        return _load_safetensors(source, place)


def _placer(map_location):
    """``place(host_tensor_maker, saved_location, saving_backend=None) -> Tensor`` for
    ``map_location``; the saving backend is used only where tensors go back where they were."""
    if map_location is None:
        def place(make, location, backend_name=None):
            if location is None:
                return make(None)
            return make(saved_placement(_existing_device(location), backend_name))
        return place
    if isinstance(map_location, (str, Device)):
        fixed = str(Device(map_location))

        def place(make, location, backend_name=None):
            return make(fixed)
        return place
    if isinstance(map_location, dict):
        mapping = {str(k): str(v) for k, v in map_location.items()}

        def place(make, location, backend_name=None):
            return make(_existing_device(mapping.get(location, location)))
        return place
    if callable(map_location):
        def place(make, location, backend_name=None):
            out = map_location(make("cpu"), location or "cpu")
            if not isinstance(out, Tensor):
                raise TypeError(f"map_location returned a {type(out).__name__}; it must "
                                f"return a Tensor (e.g. lambda storage, loc: storage)")
            return out
        return place
    raise TypeError(f"map_location must be None, a device, a str, a dict or a callable, got "
                    f"{type(map_location).__name__}")


def _existing_device(location: str | None):
    """The saved device, with PyTorch's advice when no backend serves it here; the default
    device for a tensor saved without one (a plain safetensors file)."""
    if location is None:
        return None
    try:
        registry.backend_for(location)
    except BackendError as exc:
        raise RuntimeError(f"Attempting to deserialize a tensor saved on {location!r}, but that "
                           f"device is not available here ({exc}). Pass "
                           f"map_location='cpu' (or another device) to micrograd.load.") from None
    return location


def _load_safetensors(source: Source, place):
    header, data_start = _read_header(source)
    structure = header.pop("__metadata__", None) or {}
    entries = {}
    for key, entry in header.items():
        entries[key] = _check_entry(source, key, entry, data_start)
    if _STRUCTURE_KEY not in structure:      # a plain safetensors file: a dict of tensors
        return {key: _make_tensor(source, entries[key], None, place) for key in entries}
    try:
        described = json.loads(structure[_STRUCTURE_KEY])
    except json.JSONDecodeError as exc:
        raise source.corrupt(f"its structure metadata is not JSON ({exc})") from None
    return _Decoder(source, entries, place).decode(described)


def _read_header(source: Source) -> tuple[dict, int]:
    if source.size < 8:
        raise source.corrupt("it is shorter than the 8-byte safetensors header length")
    (length,) = struct.unpack("<Q", source.read(0, 8))
    if length > min(_MAX_HEADER, source.size - 8):
        raise source.corrupt(f"its header claims {length} bytes, more than the file holds")
    try:
        header = json.loads(source.read(8, length))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise source.corrupt(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise source.corrupt("its header is not a JSON object")
    return header, 8 + length


def _check_entry(source: Source, key: str, entry, data_start: int) -> tuple:
    """(dtype, shape, absolute offset) of one tensor, after checking it fits in the file."""
    try:
        code, shape, (begin, end) = entry["dtype"].upper(), tuple(entry["shape"]), \
            entry["data_offsets"]
        if not all(isinstance(v, int) and v >= 0 for v in (*shape, begin, end)):
            raise ValueError
    except (KeyError, TypeError, ValueError, AttributeError):
        raise source.corrupt(f"tensor {key!r} has a malformed entry {entry!r}") from None
    dtype = _CODES.get(code)
    if dtype is None:
        raise SerializationError(f"{source.name}: tensor {key!r} has dtype {code}, which "
                                 f"micrograd does not support (supported: {', '.join(_CODES)})")
    nbytes = _nbytes(dtype, shape)
    if end - begin != nbytes or data_start + end > source.size:
        raise source.corrupt(f"tensor {key!r} of shape {list(shape)} and dtype {code} needs "
                             f"{nbytes} bytes at [{begin}, {end}) of a data section of "
                             f"{source.size - data_start} bytes")
    return dtype, shape, data_start + begin


def _nbytes(dtype: dtypes.DType, shape: tuple) -> int:
    return int(np.prod(shape, dtype=object)) * (2 if dtype is dtypes.bfloat16 else dtype.itemsize)


def _host_array(source: Source, entry: tuple) -> tuple[np.ndarray, dtypes.DType]:
    dtype, shape, offset = entry
    count = int(np.prod(shape, dtype=np.int64))
    if dtype is dtypes.bfloat16:
        return bf16_to_f32(source.array(offset, "<u2", count).reshape(shape)), dtype
    return canonical(source.array(offset, dtype.numpy.newbyteorder("<"), count).reshape(shape)), \
        dtype


def _make_tensor(source: Source, entry: tuple, location: str | None, place,
                 backend_name: str | None = None) -> Tensor:
    dtype, shape, offset = entry
    host, dtype = _host_array(source, entry)

    def make(where):
        # The ordinary creation path copies out of the map (and canonicalises bools).
        return tensor(host, dtype=dtype, device=where)
    out = place(make, location, backend_name)
    source.release(source.array(offset, np.uint8, _nbytes(dtype, shape)))
    return out


class _Decoder:
    def __init__(self, source: Source, entries: dict, place):
        self.source, self.entries, self.place = source, entries, place
        self.built: dict[str, Tensor] = {}

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) == 0:
            raise self.source.corrupt(f"its structure holds an unknown node {node!r:.80}")
        if "tensor" in node:
            return self._tensor(node)
        (tag, value), = list(node.items())[:1]
        if tag == "ndarray":
            host, _ = _host_array(self.source, self._entry(value))
            return np.array(host)
        if tag in ("list", "tuple", "size"):
            items = [self.decode(v) for v in value]
            return {"list": list, "tuple": tuple, "size": Size}[tag](items)
        if tag in ("dict", "odict"):
            out = OrderedDict() if tag == "odict" else {}
            for key, item in value:
                out[self.decode(key)] = self.decode(item)
            return out
        if tag == "dtype":
            return getattr(dtypes, value)
        if tag == "device":
            return Device(value)
        if tag == "bytes":
            return base64.b64decode(value)
        raise self.source.corrupt(f"its structure holds an unknown node {tag!r}")

    def _entry(self, name: str) -> tuple:
        if name not in self.entries:
            raise self.source.corrupt(f"its structure refers to a missing tensor {name!r}")
        return self.entries[name]

    def _tensor(self, node: dict) -> Tensor:
        name = node["tensor"]
        if name not in self.built:
            t = _make_tensor(self.source, self._entry(name), node.get("device"), self.place,
                             node.get("backend"))
            if node.get("parameter"):
                t = Parameter(t, requires_grad=bool(node.get("requires_grad")))
            elif node.get("requires_grad"):
                t.requires_grad_(True)
            self.built[name] = t
        return self.built[name]
