"""Elementwise math on Python numbers with IEEE and two's-complement results.

Python's ``math`` raises where IEEE arithmetic returns inf or nan (``math.exp(1000)``,
``math.log(0)``, ``1.0 / 0``), and Python ints never overflow. The contract wants PyTorch's
answers: inf and nan for floats, wraparound for integers. Every function here takes and returns
plain Python numbers; float32 rounding happens when the result is stored in an ``array('f')``.
"""

from __future__ import annotations

import math
import operator

INF = math.inf
NAN = math.nan


# ------------------------------------------------------------------ integer wraparound

def wrapper(dtype):
    """A function mapping any Python int onto ``dtype``'s range modulo 2**bits, or None for
    floating dtypes (stored as-is) and bool (always 0 or 1)."""
    if dtype.kind == "u":
        mask = (1 << (8 * dtype.itemsize)) - 1
        return lambda v: v & mask
    if dtype.kind == "i":
        bits = 8 * dtype.itemsize
        mask, half = (1 << bits) - 1, 1 << (bits - 1)
        return lambda v: ((v + half) & mask) - half
    return None


# ------------------------------------------------------------------ float unary

def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def _expm1(x):
    try:
        return math.expm1(x)
    except OverflowError:
        return INF


def _log(x):
    if x > 0 or x != x:
        return math.log(x)
    return -INF if x == 0 else NAN


def _log1p(x):
    if x > -1 or x != x:
        return math.log1p(x)
    return -INF if x == -1 else NAN


def _sqrt(x):
    return math.sqrt(x) if x >= 0 or x != x else NAN


def _periodic(fn):
    def apply(x):
        return fn(x) if math.isfinite(x) else NAN
    return apply


def _rounding(fn):
    # math.floor & co. return ints and raise on inf/nan; keep floats, keep the sign of zero.
    def apply(x):
        if not math.isfinite(x):
            return x
        return math.copysign(float(fn(x)), x)
    return apply


def _fsign(x):
    if x != x:
        return x
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


FLOAT_UNARY = {
    "neg": operator.neg, "abs": abs, "sign": _fsign, "exp": _exp, "log": _log,
    "log1p": _log1p, "expm1": _expm1, "sqrt": _sqrt, "sin": _periodic(math.sin),
    "cos": _periodic(math.cos), "tanh": math.tanh, "erf": math.erf,
    "floor": _rounding(math.floor), "ceil": _rounding(math.ceil),
    "round": _rounding(round), "trunc": _rounding(math.trunc),
    "logical_not": lambda x: x == 0, "isnan": lambda x: x != x,
}
"""``round`` is Python's, which rounds half to even like the contract asks."""

INT_UNARY = {
    "neg": operator.neg, "abs": abs, "sign": lambda x: (x > 0) - (x < 0),
    "floor": lambda x: x, "ceil": lambda x: x, "round": lambda x: x, "trunc": lambda x: x,
    "logical_not": lambda x: x == 0, "bitwise_not": operator.invert, "isnan": lambda x: False,
}

BOOL_UNARY = {
    "logical_not": lambda x: not x, "bitwise_not": lambda x: not x, "isnan": lambda x: False,
    "abs": lambda x: x, "sign": lambda x: x,
}


# ------------------------------------------------------------------ float binary

def _fdiv(a, b):
    if b:
        return a / b
    if a != a or a == 0:
        return NAN
    # 1 / -0.0 is -inf: the sign of zero counts.
    return math.copysign(INF, a) * math.copysign(1.0, b)


def _ffloordiv(a, b):
    q = _fdiv(a, b)
    if not math.isfinite(q) or not math.isfinite(a) or not math.isfinite(b):
        return q if not math.isfinite(q) else float(math.floor(q))
    return a // b


def _fmod(a, b):
    if b == 0 or not math.isfinite(a) or b != b:
        return NAN
    if math.isinf(b):
        # numpy and PyTorch: the dividend if the signs agree (or it is 0), else b.
        return a if a == 0 or (a > 0) == (b > 0) else b
    return a % b


def _fpow(a, b):
    try:
        return math.pow(a, b)
    except OverflowError:
        odd = b == math.floor(b) and int(b) % 2 == 1
        return -INF if a < 0 and odd else INF
    except ValueError:
        if a == 0 and b < 0:
            odd = b == math.floor(b) and int(b) % 2 == 1
            return math.copysign(INF, a) if odd else INF
        return NAN


def _fmaximum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    if a == b:      # IEEE 754-2019 maximum: +0.0 is the larger zero, so relu(-0.0) is +0.0
        return a if math.copysign(1.0, a) > 0 else b
    return a if a > b else b


def _fminimum(a, b):
    if a != a:
        return a
    if b != b:
        return b
    if a == b:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


_COMPARE_AND_LOGIC = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
    "logical_and": lambda a, b: bool(a) and bool(b),
    "logical_or": lambda a, b: bool(a) or bool(b),
    "logical_xor": lambda a, b: bool(a) != bool(b),
}

FLOAT_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": _fdiv,
    "floordiv": _ffloordiv, "mod": _fmod, "pow": _fpow, "maximum": _fmaximum,
    "minimum": _fminimum, "atan2": math.atan2, **_COMPARE_AND_LOGIC,
}


# ------------------------------------------------------------------ integer binary

def int_pow(bits: int):
    """Integer power modulo 2**bits (wrapped afterwards); negative exponents give 0 except for
    bases 1 and -1, as integer division of 1 by the power would."""
    modulus = 1 << bits

    def apply(a, b):
        if b < 0:
            return 1 if a == 1 else ((-1 if b % 2 else 1) if a == -1 else 0)
        return pow(a, b, modulus)
    return apply


INT_BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "floordiv": operator.floordiv, "mod": operator.mod,
    "maximum": max, "minimum": min, "bitwise_and": operator.and_,
    "bitwise_or": operator.or_, "bitwise_xor": operator.xor, **_COMPARE_AND_LOGIC,
}

BOOL_BINARY = {
    "add": operator.or_, "mul": operator.and_, "maximum": max, "minimum": min,
    "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
    **_COMPARE_AND_LOGIC,
}

BOOL_RESULT = frozenset(_COMPARE_AND_LOGIC) | {"logical_not", "isnan"}
"""Ops whose result dtype is bool whatever the operands' dtype."""
