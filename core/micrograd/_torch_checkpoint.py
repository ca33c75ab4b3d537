"""Reading PyTorch's ``torch.save`` files without running their pickles.

A PyTorch checkpoint is a pickle whose tensors refer to raw storages: in the zip format
(PyTorch 1.6+) each storage is a member ``<archive>/data/<key>``; in the older format
(``_use_new_zipfile_serialization=False``) the storages follow the pickle in the same stream,
each as an int64 element count and its bytes. The pickle is read by an unpickler that resolves
only an allow-list of names (tensor and parameter rebuilders, storage types, dtypes, ``Size``,
``device``, ``OrderedDict``, sets), like ``torch.load(weights_only=True)``; anything else, such
as a pickled ``nn.Module``, is refused by name. Tensors are rebuilt from their storage with
their offset, size and strides, after checking that these stay inside the storage and that
the storage fits in the file.
"""

from __future__ import annotations

import _codecs
import io
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from . import dtypes
from ._checkpoint_files import canonical
from .backends.numpy_backend import bf16_to_f32
from .device import device as Device
from .nn.parameter import Parameter
from .ops.creation import tensor
from .tensor import Size, Tensor

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# PyTorch storage class -> element dtype
_STORAGES = {
    "DoubleStorage": dtypes.float64, "FloatStorage": dtypes.float32,
    "HalfStorage": dtypes.float16, "BFloat16Storage": dtypes.bfloat16,
    "LongStorage": dtypes.int64, "IntStorage": dtypes.int32, "ShortStorage": dtypes.int16,
    "CharStorage": dtypes.int8, "ByteStorage": dtypes.uint8, "BoolStorage": dtypes.bool,
    "UInt16Storage": dtypes.uint16, "UInt32Storage": dtypes.uint32,
    "UInt64Storage": dtypes.uint64,
}
_DTYPE_NAMES = {d.name: d for d in dtypes.ALL_DTYPES}
_DTYPE_NAMES.update({"float": dtypes.float32, "double": dtypes.float64, "half": dtypes.float16,
                     "long": dtypes.int64, "int": dtypes.int32, "short": dtypes.int16})


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _PendingTensor:
    """A tensor named by the pickle, built once its storage's bytes are located."""

    def __init__(self, storage, offset, size, stride, requires_grad):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)
        self.requires_grad, self.parameter = bool(requires_grad), False


class _Storage:
    def __init__(self, dtype, key, location, numel):
        self.dtype, self.key, self.location, self.numel = dtype, str(key), str(location), numel


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _PendingTensor(storage, storage_offset, size, stride, requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks=None, *state):
    if not isinstance(data, _PendingTensor):
        raise pickle.UnpicklingError("a Parameter in this checkpoint does not wrap a tensor")
    data.requires_grad, data.parameter = bool(requires_grad), True
    return data


def _safe_globals() -> dict:
    allowed = {
        ("collections", "OrderedDict"): OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch", "Size"): Size,
        ("torch", "device"): Device,
        ("_codecs", "encode"): _codecs.encode,        # how protocol-2 pickles spell bytes
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
    }
    for name, dtype in _STORAGES.items():
        allowed[("torch", name)] = _StorageType(dtype)
    for name, dtype in _DTYPE_NAMES.items():
        allowed[("torch", name)] = dtype
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, stream, persistent_load, where: str):
        super().__init__(stream, encoding="utf-8")
        self._persistent, self._where = persistent_load, where
        self._allowed = _safe_globals()

    def find_class(self, module: str, name: str):
        found = self._allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"{self._where} refers to {module}.{name}, which is not a tensor, dtype or "
                f"container; micrograd.load never runs code from a file (like "
                f"torch.load(weights_only=True)). Save plain state instead: in PyTorch, "
                f"torch.save(model.state_dict(), path)")
        return found

    def persistent_load(self, pid):
        return self._persistent(pid)


def load_torch_checkpoint(source, place):
    """The object in a PyTorch checkpoint held by ``source`` (a serialization ``_Source``),
    its tensors placed by ``place(make, saved_location)``."""
    if source.read(0, 4) == b"PK\x03\x04":
        obj, locate = _read_zip(source)
    else:
        obj, locate = _read_legacy(source)
    return _Resolver(source, locate, place).resolve(obj)


def _storage_from_pid(pid, where: str) -> _Storage:
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
            and isinstance(pid[1], _StorageType) and isinstance(pid[4], int) and pid[4] >= 0):
        raise pickle.UnpicklingError(f"{where}: unsupported persistent id {pid!r:.120}")
    return _Storage(pid[1].dtype, pid[2], pid[3], pid[4])


def _unpickle(data, persistent_load, source):
    try:
        return _RestrictedUnpickler(data, persistent_load, source.name).load()
    except (EOFError, ValueError, struct.error, IndexError, KeyError) as exc:
        raise source.corrupt(f"its pickle is damaged ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------ the zip format
def _read_zip(source):
    try:
        archive = zipfile.ZipFile(_BufferFile(source.buffer))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise source.corrupt(f"it is not a readable zip archive ({exc})") from None
    pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
        raise source.corrupt("it holds no single <archive>/data.pkl, so it is not a torch.save "
                             "checkpoint")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = prefix + "byteorder"
    if byteorder in names and archive.read(byteorder).strip() not in (b"little", b""):
        raise source.corrupt("it was written on a big-endian machine, which micrograd does "
                             "not read")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        storage = _storage_from_pid(pid, source.name)
        return storages.setdefault(storage.key, storage)

    obj = _unpickle(io.BytesIO(archive.read(pickles[0])), persistent_load, source)

    def locate(storage: _Storage) -> np.ndarray:
        member = f"{prefix}data/{storage.key}"
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise source.corrupt(f"storage {storage.key!r} ({member}) is missing") from None
        nbytes = storage.numel * _itemsize(storage.dtype)
        if info.file_size < nbytes:
            raise source.corrupt(f"storage {storage.key!r} holds {info.file_size} bytes, but "
                                 f"{storage.numel} {storage.dtype} elements need {nbytes}")
        if info.compress_type == zipfile.ZIP_STORED:
            return source.array(_member_offset(source, info), _storage_np(storage.dtype),
                                storage.numel)
        raw = archive.open(info).read(nbytes)
        return np.frombuffer(raw, dtype=_storage_np(storage.dtype), count=storage.numel)
    return obj, locate


def _member_offset(source, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes start: after its local header, name and extra field."""
    local = source.read(info.header_offset, 30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise source.corrupt(f"the local header of {info.filename} is damaged")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > source.size:
        raise source.corrupt(f"{info.filename} runs past the end of the file")
    return start


class _BufferFile(io.RawIOBase):
    """A read-only, seekable file over a memoryview, so zipfile reads the mapped checkpoint
    without copying it."""

    def __init__(self, buffer: memoryview):
        self._buffer, self._pos = buffer, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._buffer)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, out) -> int:
        chunk = self._buffer[self._pos:self._pos + len(out)]
        out[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


# ------------------------------------------------------------------ the legacy format
def _read_legacy(source):
    stream = _BufferFile(source.buffer)
    reader = io.BufferedReader(stream)

    def header_value():
        return _unpickle(reader, _no_persistent, source)

    if header_value() != _LEGACY_MAGIC:
        raise source.corrupt("it is neither a safetensors file nor a PyTorch checkpoint")
    if header_value() != _LEGACY_PROTOCOL:
        raise source.corrupt("it uses an unknown PyTorch serialization protocol")
    sys_info = header_value()
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise source.corrupt("it was written on a big-endian machine")
    storages: dict[str, _Storage] = {}

    def persistent_load(pid):
        if isinstance(pid, tuple) and len(pid) == 6 and pid[5] is not None:
            raise pickle.UnpicklingError(f"{source.name}: storage views (PyTorch < 0.4) are "
                                         f"not supported")
        storage = _storage_from_pid(pid, source.name)
        return storages.setdefault(storage.key, storage)

    obj = _unpickle(reader, persistent_load, source)
    keys = _unpickle(reader, _no_persistent, source)
    if not isinstance(keys, list):
        raise source.corrupt("its storage key list is damaged")
    # The storages follow in the order of ``keys``: an int64 element count, then the bytes.
    offset = reader.tell()
    offsets: dict[str, int] = {}
    for key in map(str, keys):
        if key not in storages or offset + 8 > source.size:
            raise source.corrupt(f"its storage {key!r} is missing or cut off")
        (numel,) = struct.unpack("<q", source.read(offset, 8))
        storage = storages[key]
        nbytes = numel * _itemsize(storage.dtype)
        if numel != storage.numel or offset + 8 + nbytes > source.size:
            raise source.corrupt(f"storage {key!r} claims {numel} elements where the pickle "
                                 f"says {storage.numel}, or runs past the end of the file")
        offsets[key] = offset + 8
        offset += 8 + nbytes

    def locate(storage: _Storage) -> np.ndarray:
        if storage.key not in offsets:
            raise source.corrupt(f"storage {storage.key!r} has no data")
        return source.array(offsets[storage.key], _storage_np(storage.dtype), storage.numel)
    return obj, locate


def _no_persistent(pid):
    raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80} in a header record")


# ------------------------------------------------------------------ rebuilding tensors
def _itemsize(dtype) -> int:
    return 2 if dtype is dtypes.bfloat16 else dtype.itemsize


def _storage_np(dtype):
    return np.dtype("<u2") if dtype is dtypes.bfloat16 else dtype.numpy.newbyteorder("<")


class _Resolver:
    """Replaces every pending tensor in the unpickled object with a micrograd tensor."""

    def __init__(self, source, locate, place):
        self.source, self.locate, self.place = source, locate, place
        self.arrays: dict[str, np.ndarray] = {}
        self.built: dict[int, Tensor] = {}

    def resolve(self, obj):
        if isinstance(obj, _PendingTensor):
            if id(obj) not in self.built:
                self.built[id(obj)] = self._tensor(obj)
            return self.built[id(obj)]
        if isinstance(obj, _Storage):
            raise self.source.corrupt("it holds a bare storage, not a tensor")
        if isinstance(obj, dict):
            out = type(obj)() if type(obj) in (dict, OrderedDict) else {}
            for key, value in obj.items():
                out[key] = self.resolve(value)
            return out
        if isinstance(obj, Size):
            return obj
        if isinstance(obj, (list, tuple, set, frozenset)):
            return type(obj)(self.resolve(v) for v in obj)
        return obj

    def _tensor(self, pending: _PendingTensor) -> Tensor:
        storage = pending.storage
        if not isinstance(storage, _Storage):
            raise self.source.corrupt("a tensor in it is not backed by a storage")
        size, stride, offset = pending.size, pending.stride, pending.offset
        if len(size) != len(stride) or min((*size, *stride, offset), default=0) < 0:
            raise self.source.corrupt(f"a tensor has size {size} and stride {stride}")
        if 0 not in size:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= storage.numel:
                raise self.source.corrupt(f"a tensor of size {size}, stride {stride} and offset "
                                          f"{offset} reaches element {last} of a storage of "
                                          f"{storage.numel}")
        if storage.key not in self.arrays:
            self.arrays[storage.key] = self.locate(storage)
        flat = self.arrays[storage.key]
        step = flat.itemsize
        view = np.lib.stride_tricks.as_strided(flat[offset:] if 0 not in size else flat[:0],
                                               shape=size, strides=[s * step for s in stride],
                                               writeable=False)
        if storage.dtype is dtypes.bfloat16:
            view = bf16_to_f32(np.ascontiguousarray(view))
        view = canonical(view)

        def make(where):
            # The ordinary creation path copies out of the file map (and canonicalises bools).
            return tensor(view, dtype=storage.dtype, device=where)
        out = self.place(make, storage.location)
        self.source.release(flat)
        if pending.parameter:
            return Parameter(out, requires_grad=pending.requires_grad)
        if pending.requires_grad:
            out.requires_grad_(True)
        return out
