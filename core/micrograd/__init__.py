"""micrograd: a PyTorch-shaped deep-learning library whose core runs on any hardware through
backend plugins.

>>> import micrograd as mg
>>> x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])

Importing micrograd loads no plugin; backends are discovered on first device use.
"""

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
from .tensor import Size, Tensor, is_tensor
from . import _methods  # noqa: F401  (binds ops onto Tensor)
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .ops.creation import (
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
    get_default_device, linspace, logspace, ones, ones_like, set_default_device, tensor, zeros,
    zeros_like,
)
from .ops.elementwise import (
    abs, add, atan2, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, ceil, clamp, clip, cos,
    div, eq, erf, exp, expm1, floor, floor_divide, fmod, ge, gelu, gt, isfinite, isinf, isnan,
    le, lerp, log, log1p, logical_and, logical_not, logical_or, logical_xor, lt, maximum,
    minimum, mul, ne, neg, pow, reciprocal, relu, remainder, round, rsqrt, sigmoid, sign, silu,
    sin, softplus, sqrt, square, sub, tanh, trunc, where,
)
from .ops.elementwise import div as divide, mul as multiply, sub as subtract, neg as negative
from .ops.reduction import (
    all, amax, amin, any, argmax, argmin, count_nonzero, cumsum, log_softmax, logsumexp, max,
    mean, min, norm, prod, softmax, std, std_mean, sum, var, var_mean,
)
from .ops.movement import (
    broadcast_tensors, broadcast_to, cat, chunk, concat, concatenate, flatten, flip, hstack,
    movedim, narrow, permute, repeat_interleave, reshape, select, split, squeeze, stack, t,
    tile, transpose, unbind, unflatten, unsqueeze, vstack,
)
from .ops.movement import clone, swapaxes, swapdims
from .ops.indexing import (
    argwhere, gather, index_select, masked_fill, masked_select, nonzero, scatter, scatter_add,
    take_along_dim,
)
from .ops.linalg import addmm, bmm, dot, matmul, mm, outer
from .ops.matrix import (
    addbmm, baddbmm, cdist, cumprod, diag, diag_embed, diagonal, einsum, tril, triu,
)
from .ops.sorting import (
    argsort, bincount, bucketize, msort, multinomial, searchsorted, sort, topk, unique,
)
from .ops.movement import roll
from .ops.elementwise import allclose, isclose, nan_to_num
from .ops.composite import (
    acos, asin, atan, cosh, cross, exp2, hypot, kron, kthvalue, log2, log10, logaddexp, logit,
    median, meshgrid, quantile, sinh, tan, tensordot, trace, xlogy,
)
from .random import (
    Generator, bernoulli, default_generator, initial_seed, manual_seed, normal, rand, rand_like,
    randint, randint_like, randn, randn_like, randperm, seed,
)
from .ops.inplace import can_cast
from ._format import set_printoptions


def from_dlpack(ext, *, device=None) -> Tensor:
    """A tensor from any object exporting ``__dlpack__`` (numpy, torch, cupy, mlx...).

    Host memory comes in through numpy; device memory (a PyTorch CUDA tensor, say) is handed to
    the backend serving that device when it offers ``from_dlpack``, without a copy."""
    import numpy as np
    if isinstance(ext, Tensor):
        return ext
    kind, index = ext.__dlpack_device__() if hasattr(ext, "__dlpack_device__") else (1, 0)
    if kind == _DLPACK_CUDA and device is None:
        from .registry import registry
        backend = registry.backend_for(f"cuda:{index}")
        if not backend.offers("from_dlpack"):
            raise TypeError(f"backend {backend.name!r} cannot import CUDA memory through DLPack; "
                            f"copy the tensor to the host first")
        data = backend.from_dlpack(ext)
        return Tensor._make(data, dtypes.to_dtype(data.dtype), backend)
    try:
        host = np.from_dlpack(ext) if hasattr(ext, "__dlpack__") else np.asarray(ext)
    except (BufferError, RuntimeError, TypeError) as exc:
        dtype = getattr(ext, "dtype", "?")
        raise TypeError(f"cannot import a {type(ext).__name__} of dtype {dtype} through DLPack "
                        f"({exc}); the exchange goes through numpy, which has no bfloat16: "
                        f"convert it to float32 first, then .to(micrograd.bfloat16)") from exc
    return tensor(host, device=device)


_DLPACK_CUDA = 2   # DLDeviceType kDLCUDA


def info() -> str:
    """What ``micrograd info`` prints: versions, plugins, backends, devices and problems."""
    from .cli import render_info
    return render_info()


def set_backend(device_type: str, backend_name: str) -> None:
    """Serve ``device_type`` (``"cpu"``) with the backend called ``backend_name``."""
    from .registry import registry
    registry.set_preferred(device_type, backend_name)
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
from . import linalg, sparse  # noqa: E402
from .sparse import sparse_coo_tensor, spmm  # noqa: E402

__all__ = [name for name in dir() if not name.startswith("_")]
