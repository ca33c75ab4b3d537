"""micrograd: a PyTorch-shaped deep-learning library whose core runs on any hardware through
backend plugins.

>>> import micrograd as mg
>>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])

Importing micrograd loads no plugin; backends are discovered on first device use.
"""

import numpy as _np

from ._version import __version__
from . import dtypes
from .dtypes import (
    DType, bfloat16, bool, double, float, float16, float32, float64, get_default_dtype, half,
    int, int8, int16, int32, int64, long, promote_types, result_type, set_default_dtype, short,
    uint8, uint16, uint32, uint64,
)
from .device import device
from .hookspecs import hookimpl
from .backend import CONTRACT_VERSION, Backend, BackendUnavailable, Capabilities, single_device
from .registry import BackendError
from .registry import registry as _registry
from .tensor import Size, Tensor, is_tensor
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from ._devices import get_default_device, set_default_device
# Every op declares its micrograd.<name> functions and Tensor methods where it is defined
# (tensor.surface); these import them, in floor order, and with them the methods.
from .ops.unary import *  # noqa: F401,F403
from .ops.binary import *  # noqa: F401,F403
from .ops.where import *  # noqa: F401,F403
from .ops.clamp import *  # noqa: F401,F403
from .ops.elementwise import *  # noqa: F401,F403
from .ops.special_functions import *  # noqa: F401,F403
from .ops.activation import *  # noqa: F401,F403
from .ops.creation import *  # noqa: F401,F403
from .ops.transfer import *  # noqa: F401,F403
from .ops.movement import *  # noqa: F401,F403
from .ops.layout import (
    channels_last, channels_last_3d, contiguous_format, memory_format, preserve_format,
)
from .ops.stacking import *  # noqa: F401,F403
from .ops.reduction import *  # noqa: F401,F403
from .ops.linalg import *  # noqa: F401,F403
from .ops.views import *  # noqa: F401,F403
from .ops.indexing import *  # noqa: F401,F403
from .ops.scatter_reduce import *  # noqa: F401,F403
from .ops.inplace import *  # noqa: F401,F403
from .ops.matrix import *  # noqa: F401,F403
from .ops.sorting import *  # noqa: F401,F403
from .ops.composite import *  # noqa: F401,F403
from .ops.scans import *  # noqa: F401,F403
from .random import *  # noqa: F401,F403
from .random import Generator, default_generator
from ._format import set_printoptions
from . import _info


def from_dlpack(ext, *, device=None) -> Tensor:
    """A tensor from any object exporting ``__dlpack__`` (numpy, torch, cupy, mlx...).

    Host memory comes in through numpy; device memory (a PyTorch CUDA tensor, say) is handed to
    the backend serving that device when it offers ``from_dlpack``, without a copy."""
    if isinstance(ext, Tensor):
        return ext
    kind, index = ext.__dlpack_device__() if hasattr(ext, "__dlpack_device__") else (1, 0)
    if kind == _DLPACK_CUDA and device is None:
        backend = _registry.backend_for(f"cuda:{index}")
        if not backend.offers("from_dlpack"):
            raise TypeError(f"backend {backend.name!r} cannot import CUDA memory through DLPack; "
                            f"copy the tensor to the host first")
        data = backend.from_dlpack(ext)
        return Tensor._make(data, dtypes.to_dtype(data.dtype), backend)
    try:
        host = _np.from_dlpack(ext) if hasattr(ext, "__dlpack__") else _np.asarray(ext)
    except (BufferError, RuntimeError, TypeError) as exc:
        dtype = getattr(ext, "dtype", "?")
        raise TypeError(f"cannot import a {type(ext).__name__} of dtype {dtype} through DLPack "
                        f"({exc}); the exchange goes through numpy, which has no bfloat16: "
                        f"convert it to float32 first, then .to(micrograd.bfloat16)") from exc
    return tensor(host, device=device)


_DLPACK_CUDA = 2   # DLDeviceType kDLCUDA


def info() -> str:
    """What ``micrograd info`` prints: versions, plugins, backends, devices and problems."""
    return _info.render_info()


def set_backend(device_type: str, backend_name: str) -> None:
    """Serve ``device_type`` (``"cpu"``) with the backend called ``backend_name``."""
    _registry.set_preferred(device_type, backend_name)
    set_default_device(None)


from . import backends  # noqa: E402  (torch.backends' namespace; mg.backends() lists them)
from .serialization import load, save  # noqa: E402
from . import distributed, nn, optim, utils  # noqa: E402  (they build on everything above)
from . import accelerator, amp, compiler, cpu, cuda, onnx  # noqa: E402  (PyTorch namespaces)
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402
from .compiler import compile  # noqa: E402
from .backends.cuda import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402,E501
from .legacy import (  # noqa: E402  (torch.FloatTensor(...) and friends)
    BFloat16Tensor, BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor,
    IntTensor, LongTensor, ShortTensor,
)
from . import distributions, jit, linalg, sparse, special, testing  # noqa: E402
from .linalg.toplevel import *  # noqa: E402,F401,F403  (micrograd.det, x.inverse()...)
from .sparse import sparse_coo_tensor, spmm  # noqa: E402

__all__ = [name for name in dir() if not name.startswith("_")]
