"""The file side of ``micrograd.save`` / ``micrograd.load``: checkpoints read through a
read-only map of a regular file (or a file object's bytes), and written beside their target,
then renamed over it.

Reading: a path must name a regular file (a link to ``/dev/zero`` is refused) and is mapped,
not read; pages are dropped once their values are copied out, so loading holds about one copy
of the checkpoint. Writing: into a private scratch directory beside the target, renamed into
place only when complete, keeping the target's mode; scratch directories left by a killed
process are removed by the next save to the same target.
"""

from __future__ import annotations

import glob
import io
import mmap
import os
import re
import secrets
import shutil
import stat

import numpy as np


def canonical(array: np.ndarray) -> np.ndarray:
    """A file's bool bytes as canonical 0/1: a crafted byte 2 or 255 must not reach kernels
    that assume one bit of information per byte."""
    return array.view(np.uint8) != 0 if array.dtype == np.bool_ else array


class SerializationError(RuntimeError):
    """A file that cannot be read as a micrograd, safetensors or PyTorch checkpoint."""


def replace_atomically(path: str, write) -> None:
    """``write(file)`` inside a private temporary directory beside ``path``, then rename the
    file over ``path``, keeping an existing target's mode (a new one gets 0o666 less the
    umask, as ``open`` would give it)."""
    directory, base = os.path.split(os.path.abspath(path))
    _remove_stale_temporaries(directory, base)
    # A directory, not a file: safetensors writes through a temporary file of its own in the
    # directory it is given, and a killed process must leave nothing we cannot attribute.
    scratch = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.mkdir(scratch, 0o700)
    try:
        tmp = os.path.join(scratch, base)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = stat.S_IMODE(os.stat(tmp).st_mode)      # 0o666 with the umask applied
        write(tmp)
        os.chmod(tmp, mode)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Scratch directories of saves to ``base`` whose process is gone (killed mid-save)."""
    pattern = re.compile(r"\." + re.escape(base) + r"\.(\d+)\.[0-9a-f]{8}\.tmp\Z")
    for candidate in glob.glob(os.path.join(glob.escape(directory), f".{glob.escape(base)}.*.tmp")):
        match = pattern.match(os.path.basename(candidate))
        if match is None or _process_alive(int(match.group(1))):
            continue
        if os.path.isdir(candidate) and not os.path.islink(candidate):
            shutil.rmtree(candidate, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True       # this process's own save in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True       # alive, owned by someone else
    return True


class Source:
    """The bytes of a checkpoint: a read-only map of a regular file, or a file object's bytes.
    ``size`` is the real size, against which every header is checked."""

    def __init__(self, f):
        self.name = repr(getattr(f, "name", f)) if hasattr(f, "read") else os.fspath(f)
        self._map = None
        if hasattr(f, "read"):
            data = None if isinstance(f, io.TextIOBase) else f.read()
            if not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"micrograd.load: {self.name} must be opened in binary mode "
                                f"('rb'), not as text")
            self.buffer = memoryview(data)
        else:
            self.buffer = self._map_regular_file(self.name)
        self.size = len(self.buffer)

    def _map_regular_file(self, path: str):
        fd = os.open(path, os.O_RDONLY)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SerializationError(f"{path} is not a regular file (it is a device, pipe "
                                         f"or directory); checkpoints are read from files only")
            if info.st_size == 0:
                return memoryview(b"")
            self._map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return memoryview(self._map)

    def read(self, offset: int, length: int) -> bytes:
        return bytes(self.buffer[offset:offset + length])

    def array(self, offset: int, np_dtype, count: int) -> np.ndarray:
        """A view of ``count`` elements at ``offset`` (bounds already checked)."""
        return np.frombuffer(self.buffer, dtype=np_dtype, count=count, offset=offset)

    def release(self, array: np.ndarray) -> None:
        """Drop the mapped pages under ``array`` once its values are copied out, so resident
        memory stays near one copy of the checkpoint (the pages are re-read if touched)."""
        if self._map is None or array.nbytes == 0:
            return
        base = np.frombuffer(self.buffer, np.uint8).ctypes.data
        start = array.ctypes.data - base
        aligned = start - start % mmap.PAGESIZE
        if 0 <= aligned < self.size:
            self._map.madvise(mmap.MADV_DONTNEED, aligned,
                              min(self.size - aligned, start - aligned + array.nbytes))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.buffer.release()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass       # a caller still holds a view; the map closes when it is collected
        return False

    def corrupt(self, why: str) -> SerializationError:
        return SerializationError(f"{self.name} is not a readable checkpoint ({self.size} "
                                  f"bytes): {why}. It may be truncated or corrupted; save it "
                                  f"again.")
