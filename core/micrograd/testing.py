"""``micrograd.testing``: ``assert_close`` and ``make_tensor``, with PyTorch's names, default
tolerances and failure messages, so a test written against ``torch.testing`` runs unchanged.

>>> micrograd.testing.assert_close(model(x), expected)          # float32: rtol 1.3e-6, atol 1e-5
>>> x = micrograd.testing.make_tensor(3, 4, dtype=micrograd.float32, device="cpu", low=-1, high=1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from . import dtypes
from .ops.movement import stack
from .random import rand, randint
from .tensor import Tensor

# (rtol, atol) per dtype, PyTorch's table; every dtype not named (integers, bool) compares exactly.
_TOLERANCES = {
    dtypes.float16: (1e-3, 1e-5),
    dtypes.bfloat16: (1.6e-2, 1e-5),
    dtypes.float32: (1.3e-6, 1e-5),
    dtypes.float64: (1e-7, 1e-7),
}
_PY_TOLERANCES = {bool: (0.0, 0.0), int: (0.0, 0.0), float: (1e-7, 1e-7)}


class _Mismatch(AssertionError):
    """A failed comparison; ``path`` says where inside nested containers it happened."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message, self.path = message, path


def _check_tolerance_arguments(rtol, atol) -> None:
    if (rtol is None) != (atol is None):
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got "
                         f"no {'rtol' if rtol is None else 'atol'}.")


def _tolerances(kinds, rtol, atol) -> tuple[float, float]:
    if rtol is not None:
        return rtol, atol
    pairs = [_TOLERANCES.get(k, _PY_TOLERANCES.get(k, (0.0, 0.0))) for k in kinds]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _attribute(name: str, actual, expected) -> None:
    if actual != expected:
        raise _Mismatch(f"The values for attribute '{name}' do not match: {actual} != "
                        f"{expected}.")


def _host(t: Tensor) -> np.ndarray:
    t = t.detach()
    # numpy has no bfloat16; its values are exact in float32
    return (t.float() if t.dtype is dtypes.bfloat16 else t).cpu().numpy()


def _limits(rtol: float, atol: float, exact: bool) -> tuple[str, str]:
    if exact:
        return "", ""
    return f" (up to {atol} allowed)", f" (up to {rtol} allowed)"


def _scalar_message(actual, expected, rtol, atol, kind: str) -> str:
    exact = rtol == 0 and atol == 0
    abs_diff = abs(actual - expected)
    rel_diff = abs_diff / abs(expected) if expected != 0 else (math.inf if abs_diff else 0.0)
    abs_limit, rel_limit = _limits(rtol, atol, exact)
    return (f"{kind} are not {'equal' if exact else 'close'}!\n\nExpected {expected} but got "
            f"{actual}.\nAbsolute difference: {abs_diff}{abs_limit}\nRelative difference: "
            f"{rel_diff}{rel_limit}")


def _close_mask(a: np.ndarray, e: np.ndarray, rtol, atol, equal_nan) -> np.ndarray:
    if a.dtype == np.bool_:
        return a == e
    return np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _compare_tensors(actual: Tensor, expected: Tensor, rtol, atol, equal_nan, check_device,
                     check_dtype, check_stride) -> None:
    _attribute("shape", actual.shape, expected.shape)
    if check_device:
        _attribute("device", actual.device, expected.device)
    if check_dtype:
        _attribute("dtype", actual.dtype, expected.dtype)
    if check_stride:
        _attribute("stride()", actual.stride(), expected.stride())
    rtol, atol = _tolerances((actual.dtype, expected.dtype), rtol, atol)
    a, e = _host(actual), _host(expected)
    if a.dtype != e.dtype:
        common = np.result_type(a, e)
        a, e = a.astype(common), e.astype(common)
    close = _close_mask(a, e, rtol, atol, equal_nan)
    if close.all():
        return
    if actual.ndim == 0:
        raise _Mismatch(_scalar_message(a.item(), e.item(), rtol, atol, "Scalars"))
    exact = rtol == 0 and atol == 0
    floating = a.dtype.kind in "fc"
    if not floating:       # integers and bools: exact differences, relative ones in float32
        a, e = a.astype(np.int64), e.astype(np.int64)
    abs_diff = np.abs(a - e)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_diff = abs_diff / np.abs(e) if floating else \
            abs_diff.astype(np.float32) / np.abs(e).astype(np.float32)
    abs_diff = np.where(close, 0, abs_diff)       # as PyTorch: the greatest among mismatches
    rel_diff = np.where(close, 0, rel_diff)
    mismatched, total = int((~close).sum()), close.size
    abs_at = np.unravel_index(_nan_first_argmax(abs_diff), a.shape)
    rel_at = np.unravel_index(_nan_first_argmax(rel_diff), a.shape)
    abs_limit, rel_limit = _limits(rtol, atol, exact)
    raise _Mismatch(
        f"Tensor-likes are not {'equal' if exact else 'close'}!\n\n"
        f"Mismatched elements: {mismatched} / {total} ({100 * mismatched / total:.1f}%)\n"
        f"Greatest absolute difference: {abs_diff[abs_at].item()} at index "
        f"{tuple(int(i) for i in abs_at)}{abs_limit}\n"
        f"Greatest relative difference: {rel_diff[rel_at].item()} at index "
        f"{tuple(int(i) for i in rel_at)}{rel_limit}")


def _nan_first_argmax(values: np.ndarray) -> int:
    """The flat index of the greatest value, a NaN counting as greatest (as torch's max)."""
    nans = np.isnan(values)
    return int(np.argmax(nans)) if nans.any() else int(np.argmax(values))


def _compare(actual, expected, path: str, options: dict) -> None:
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        _compare_tensors(actual, expected, **options)
        return
    numbers = (bool, int, float)
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        if options["check_dtype"] and type(actual) is not type(expected):
            raise _Mismatch(f"The (d)types do not match: {type(actual)} != {type(expected)}.")
        rtol, atol = _tolerances((type(actual), type(expected)), options["rtol"], options["atol"])
        both_nan = options["equal_nan"] and _is_nan(actual) and _is_nan(expected)
        if not both_nan and not _close_mask(np.asarray(actual), np.asarray(expected), rtol, atol,
                                            options["equal_nan"]):
            raise _Mismatch(_scalar_message(actual, expected, rtol, atol, "Scalars"))
        return
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _Mismatch(f"The keys of the mappings do not match:\nMissing keys in the actual "
                            f"mapping: {missing}\nAdditional keys in the actual mapping: {extra}")
        for key in expected:
            _compare_item(actual[key], expected[key], f"{path}[{key!r}]", options)
        return
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise _Mismatch(f"The length of the sequences mismatch: {len(actual)} != "
                            f"{len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare_item(a, e, f"{path}[{i}]", options)
        return
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and "
                    f"{type(expected)}.")


def _compare_item(actual, expected, path: str, options: dict) -> None:
    """Compare one item of a container; a mismatch found in it names it (the innermost path)."""
    try:
        _compare(actual, expected, path, options)
    except _Mismatch as mismatch:
        mismatch.path = mismatch.path or path
        raise


def _is_nan(value) -> bool:
    return isinstance(value, float) and value != value


def _is_sequence(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def assert_close(actual, expected, *, allow_subclasses: bool = True, rtol: float | None = None,
                 atol: float | None = None, equal_nan: bool = False, check_device: bool = True,
                 check_dtype: bool = True, check_layout: bool = True, check_stride: bool = False,
                 msg=None) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` (tensors, Python numbers, or
    lists, tuples and dicts of them, nested) are close: ``|actual - expected| <= atol + rtol *
    |expected|`` elementwise, with the shape, device and dtype equal. Without ``rtol`` and
    ``atol`` the tolerances are PyTorch's for the dtype (float32: 1.3e-6 and 1e-5; integers
    and bools: exact). ``msg`` replaces the message, or (a callable) rewrites it. Tensors have
    one (strided) layout here, so ``check_layout`` has nothing to compare.

    >>> micrograd.testing.assert_close(micrograd.tensor([1.0, 2.0]), micrograd.tensor([1.0, 2.5]))
    Traceback (most recent call last):
    AssertionError: Tensor-likes are not close!
    ...
    """
    options = dict(rtol=rtol, atol=atol, equal_nan=equal_nan, check_device=check_device,
                   check_dtype=check_dtype, check_stride=check_stride)
    _check_tolerance_arguments(rtol, atol)
    try:
        _compare(actual, expected, "", options)
    except _Mismatch as mismatch:
        message = mismatch.message
        if mismatch.path:
            message += f"\n\nThe failure occurred for item {mismatch.path}"
        if callable(msg):
            message = msg(message)
        elif msg is not None:
            message = msg
        raise AssertionError(message) from None


def make_tensor(*shape, dtype, device, low: float | None = None, high: float | None = None,
                requires_grad: bool = False, noncontiguous: bool = False,
                exclude_zero: bool = False, memory_format=None) -> Tensor:
    """A tensor of ``shape`` with values drawn uniformly from [low, high) (floats; -9 and 9 by
    default) or from the integers in [low, high) (-9 and 10), bools from {False, True}; with
    ``exclude_zero`` zeros are replaced (by 1, or the dtype's tiny positive value for floats).

    >>> micrograd.testing.make_tensor(2, 3, dtype=micrograd.float32, device="cpu", low=0, high=1)
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if low is not None and high is not None and low > high:
        raise ValueError(f"`low` must be less than or equal to `high`, but got {low} > {high}")
    for name, bound in (("low", low), ("high", high)):
        if bound is not None and math.isnan(bound):
            raise ValueError(f"`{name}` cannot be NaN, but got {name}={bound}")
    if dtype is dtypes.bool:
        out = randint(0, 2, shape, device=device).to(dtypes.bool)
    elif dtype.is_floating_point:
        low, high = -9.0 if low is None else low, 9.0 if high is None else high
        out = rand(*shape, dtype=dtype, device=device) * (high - low) + low
        if exclude_zero:
            tiny = float(np.finfo(np.float32 if dtype is dtypes.bfloat16 else dtype.name).tiny)
            out = out.masked_fill(out == 0, tiny)
    else:
        low, high = -9 if low is None else math.ceil(low), 10 if high is None else math.ceil(high)
        out = randint(low, high, shape, dtype=dtype, device=device)
        if exclude_zero:
            out = out.masked_fill(out == 0, 1)
    if noncontiguous and out.numel() > 1:
        out = stack([out, out], -1)[..., 0]     # the same values, every other element of a buffer
    return out.requires_grad_(requires_grad) if requires_grad else out


__all__ = ["assert_close", "make_tensor"]
