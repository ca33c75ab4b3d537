"""Binds the ops onto :class:`Tensor` as methods and operators (``x.exp()``, ``a + b``, ...)."""

from __future__ import annotations

from .ops import creation, elementwise as ew, indexing, inplace, linalg, movement, reduction
from .ops import composite, matrix, sorting
from .tensor import Tensor


def _reflected(fn):
    def method(self, other):
        return fn(other, self)
    return method


def _new_factory(maker):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return maker(*size, dtype=dtype or self._dtype,
                     device=device if device is not None else self._backend,
                     requires_grad=requires_grad)
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return creation.full(size, fill_value, dtype=dtype or self._dtype,
                         device=device if device is not None else self._backend,
                         requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return creation.tensor(data, dtype=dtype or self._dtype,
                           device=device if device is not None else self._backend,
                           requires_grad=requires_grad)


def _max_method(self, dim=None, keepdim=False):
    return reduction.max(self, dim, keepdim)


def _min_method(self, dim=None, keepdim=False):
    return reduction.min(self, dim, keepdim)


def _mean_method(self, dim=None, keepdim=False, *, dtype=None):
    return reduction.mean(self, dim, keepdim, dtype=dtype)


def _invert(self):
    return ew.bitwise_not(self)


METHODS = {
    # arithmetic operators
    "__add__": ew.add, "__radd__": _reflected(ew.add), "__iadd__": inplace.add_,
    "__sub__": ew.sub, "__rsub__": _reflected(ew.sub), "__isub__": inplace.sub_,
    "__mul__": ew.mul, "__rmul__": _reflected(ew.mul), "__imul__": inplace.mul_,
    "__truediv__": ew.div, "__rtruediv__": _reflected(ew.div), "__itruediv__": inplace.div_,
    "__floordiv__": ew.floor_divide, "__rfloordiv__": _reflected(ew.floor_divide),
    "__mod__": ew.remainder, "__rmod__": _reflected(ew.remainder),
    "__pow__": ew.pow, "__rpow__": _reflected(ew.pow), "__ipow__": inplace.pow_,
    "__matmul__": linalg.matmul, "__rmatmul__": _reflected(linalg.matmul),
    "__neg__": ew.neg, "__pos__": lambda self: self, "__abs__": ew.abs, "__invert__": _invert,
    "__eq__": ew.eq, "__ne__": ew.ne, "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt,
    "__ge__": ew.ge,
    "__and__": ew.bitwise_and, "__rand__": _reflected(ew.bitwise_and),
    "__or__": ew.bitwise_or, "__ror__": _reflected(ew.bitwise_or),
    "__xor__": ew.bitwise_xor, "__rxor__": _reflected(ew.bitwise_xor),
    "__getitem__": indexing.getitem, "__setitem__": indexing.setitem,
    # named math
    "add": ew.add, "sub": ew.sub, "subtract": ew.sub, "mul": ew.mul, "multiply": ew.mul,
    "div": ew.div, "divide": ew.div, "true_divide": ew.div, "floor_divide": ew.floor_divide,
    "remainder": ew.remainder, "fmod": ew.fmod, "pow": ew.pow, "neg": ew.neg,
    "negative": ew.neg, "abs": ew.abs, "absolute": ew.abs, "sign": ew.sign, "exp": ew.exp,
    "log": ew.log, "log1p": ew.log1p, "expm1": ew.expm1, "sqrt": ew.sqrt, "rsqrt": ew.rsqrt,
    "sin": ew.sin, "cos": ew.cos, "tanh": ew.tanh, "sigmoid": ew.sigmoid, "relu": ew.relu,
    "erf": ew.erf, "floor": ew.floor, "ceil": ew.ceil, "round": ew.round, "trunc": ew.trunc,
    "reciprocal": ew.reciprocal, "square": ew.square, "clamp": ew.clamp, "clip": ew.clamp,
    "maximum": ew.maximum, "minimum": ew.minimum, "atan2": ew.atan2, "lerp": ew.lerp,
    "eq": ew.eq, "ne": ew.ne, "lt": ew.lt, "le": ew.le, "gt": ew.gt, "ge": ew.ge,
    "greater": ew.gt, "less": ew.lt, "greater_equal": ew.ge, "less_equal": ew.le,
    "logical_and": ew.logical_and, "logical_or": ew.logical_or, "logical_xor": ew.logical_xor,
    "logical_not": ew.logical_not, "bitwise_and": ew.bitwise_and, "bitwise_or": ew.bitwise_or,
    "bitwise_xor": ew.bitwise_xor, "bitwise_not": ew.bitwise_not, "isnan": ew.isnan,
    "isinf": ew.isinf, "isfinite": ew.isfinite, "where": lambda self, cond, other:
        ew.where(cond, self, other),
    # reductions
    "sum": reduction.sum, "mean": _mean_method, "prod": reduction.prod, "max": _max_method,
    "min": _min_method, "amax": reduction.amax, "amin": reduction.amin,
    "argmax": reduction.argmax, "argmin": reduction.argmin, "var": reduction.var,
    "std": reduction.std, "logsumexp": reduction.logsumexp, "softmax": reduction.softmax,
    "log_softmax": reduction.log_softmax, "cumsum": reduction.cumsum, "all": reduction.all,
    "any": reduction.any, "norm": reduction.norm, "count_nonzero": reduction.count_nonzero,
    # linear algebra
    "matmul": linalg.matmul, "mm": linalg.mm, "bmm": linalg.bmm, "dot": linalg.dot,
    "outer": linalg.outer,
    # movement
    "reshape": movement.reshape, "view": movement.view, "view_as": movement.view_as,
    "reshape_as": movement.reshape_as, "permute": movement.permute,
    "transpose": movement.transpose, "swapaxes": movement.transpose, "t": movement.t,
    "movedim": movement.movedim, "expand": movement.expand, "expand_as": movement.expand_as,
    "broadcast_to": movement.broadcast_to, "squeeze": movement.squeeze,
    "unsqueeze": movement.unsqueeze, "flatten": movement.flatten,
    "unflatten": movement.unflatten, "contiguous": movement.contiguous,
    "clone": movement.clone, "flip": movement.flip, "narrow": movement.narrow,
    "select": movement.select, "split": movement.split, "chunk": movement.chunk,
    "unbind": movement.unbind, "repeat": movement.repeat, "tile": movement.tile,
    "repeat_interleave": movement.repeat_interleave,
    # indexing
    "gather": indexing.gather, "scatter": indexing.scatter, "scatter_add": indexing.scatter_add,
    "index_select": indexing.index_select, "masked_fill": indexing.masked_fill,
    "masked_select": indexing.masked_select, "nonzero": indexing.nonzero,
    "take_along_dim": indexing.take_along_dim,
    # in place
    "add_": inplace.add_, "sub_": inplace.sub_, "mul_": inplace.mul_, "div_": inplace.div_,
    "pow_": inplace.pow_, "clamp_": inplace.clamp_, "clip_": inplace.clamp_,
    "masked_fill_": inplace.masked_fill_, "addcmul_": inplace.addcmul_,
    "addcdiv_": inplace.addcdiv_, "lerp_": inplace.lerp_, "copy_": inplace.copy_,
    "fill_": inplace.fill_, "zero_": inplace.zero_, "uniform_": inplace.uniform_,
    "normal_": inplace.normal_, **inplace.INPLACE_UNARY,
    # structure, order and closeness
    "tril": matrix.tril, "triu": matrix.triu, "diagonal": matrix.diagonal, "diag": matrix.diag,
    "diag_embed": matrix.diag_embed, "baddbmm": matrix.baddbmm, "addbmm": matrix.addbmm,
    "cumprod": matrix.cumprod, "addmm": lambda self, a, b, *, beta=1, alpha=1:
        linalg.addmm(self, a, b, beta=beta, alpha=alpha),
    "sort": sorting.sort, "argsort": sorting.argsort, "msort": sorting.msort,
    "topk": sorting.topk, "unique": sorting.unique, "multinomial": sorting.multinomial,
    "bincount": sorting.bincount,
    "tril_": lambda self, diagonal=0: inplace.copy_(self, matrix.tril(self, diagonal)),
    "triu_": lambda self, diagonal=0: inplace.copy_(self, matrix.triu(self, diagonal)),
    "roll": movement.roll, "nan_to_num": ew.nan_to_num, "isclose": ew.isclose,
    "allclose": ew.allclose,
    "tan": composite.tan, "sinh": composite.sinh, "cosh": composite.cosh,
    "atan": composite.atan, "asin": composite.asin, "acos": composite.acos,
    "arctan": composite.atan, "arcsin": composite.asin, "arccos": composite.acos,
    "log2": composite.log2, "log10": composite.log10, "exp2": composite.exp2,
    "logaddexp": composite.logaddexp, "hypot": composite.hypot, "xlogy": composite.xlogy,
    "logit": composite.logit, "median": composite.median, "kthvalue": composite.kthvalue,
    "quantile": composite.quantile, "trace": composite.trace, "kron": composite.kron,
    "cross": composite.cross,
    # sparse tensors are stored dense (micrograd.sparse)
    "to_dense": lambda self: self, "coalesce": lambda self: self,
    "is_sparse": property(lambda self: False),
    # construction from an existing tensor
    "new_zeros": _new_factory(creation.zeros), "new_ones": _new_factory(creation.ones),
    "new_empty": _new_factory(creation.empty), "new_full": _new_full,
    "new_tensor": _new_tensor,
}


def bind() -> None:
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn)


bind()
