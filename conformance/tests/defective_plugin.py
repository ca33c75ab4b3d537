"""Source of a real backend plugin with deliberate defects, installed by the tests into a temp
directory (module + ``.dist-info`` with an entry point) so the suite finds it like any other.

Each defect is the kind of bug a fast kernel really has; the suite must name every one.
"""

MODULE = '''
"""Backends with deliberate defects, for micrograd-conformance's own tests."""
import numpy as np

import micrograd
from micrograd.backend import REQUIRED_PRIMITIVES, BackendUnavailable, Capabilities
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.decompositions import OPTIONAL_OPS
from micrograd.device import device


class DefectiveBackend(NumpyBackend):
    name = "defective"

    def reduce(self, op, x, axes, keepdim):
        # Off by one: sum stops one element short along the first reduced axis.
        if op == "sum" and x.shape[axes[0]] > 1:
            x = x[(slice(None),) * axes[0] + (slice(0, x.shape[axes[0]] - 1),)]
        return super().reduce(op, x, axes, keepdim)

    def scatter(self, x, axis, index, src, accumulate):
        # Accumulation that overwrites duplicates instead of adding them (a racy kernel); the
        # gradients of gather and advanced indexing go through here.
        return super().scatter(x, axis, index, src, False)

    def slice(self, x, key):
        # A dropped stride: the right number of elements, but consecutive ones.
        dense = tuple(slice(s.start, s.start + len(range(s.start, s.stop, s.step)))
                      for s in key)
        return x[dense]

    def astype(self, x, dtype):
        # Float to integer conversion that rounds instead of truncating toward zero.
        if x.dtype.kind == "f" and dtype.kind in "iu":
            x = np.rint(x)
        return super().astype(x, dtype)

    def argreduce(self, op, x, axis, keepdim):
        # Ties resolved to the last index instead of the first.
        flipped = np.flip(x, axis)
        idx = super().argreduce(op, flipped, axis, keepdim)
        return (x.shape[axis] - 1 - idx).astype(np.int64)


    def permute(self, x, axes):
        # Forgets to permute the strides: reads are right (a transposed copy), but a write
        # into the result lands in the source in the copy's own row-major order, so
        # a.t().add_(10) changes the wrong elements of a.
        out = np.ascontiguousarray(np.transpose(x, axes)).view(_Transposed)
        out.source = x
        return out

    def _land(self, dst):
        source = getattr(dst, "source", None)
        if source is not None:
            source[...] = np.asarray(dst).reshape(source.shape)

    def copy_(self, dst, src):
        super().copy_(dst, src)
        self._land(dst)

    def setitem_(self, x, key, value):
        super().setitem_(x, key, value)
        self._land(x)

    def binary_(self, op, out, a, b):
        if op == "atan2":
            # Declines atan2 after writing into out: where out is a (a.atan2_(b)), the
            # decomposition that then runs reads a clobbered a.
            super().binary_("add", out, a, b)
            return NotImplemented
        super().binary_(op, out, a, b)
        self._land(out)

    def sgd_step_(self, param, grad, momentum_buffer, *, dampening, **options):
        # A fused step that ignores dampening: the buffer takes the whole gradient.
        OPTIONAL_OPS["sgd_step_"].decompose(self, _dtype(param), param, grad, momentum_buffer,
                                            dampening=0.0, **options)

    def adam_step_(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, amsgrad,
                   **options):
        # amsgrad that ignores the running maximum: plain Adam's denominator every step.
        OPTIONAL_OPS["adam_step_"].decompose(self, _dtype(param), param, grad, exp_avg,
                                             exp_avg_sq, max_exp_avg_sq, amsgrad=False,
                                             **options)

    def gelu(self, x):
        # The wrong formula: the tanh approximation where the erf form is asked for.
        return OPTIONAL_OPS["gelu_tanh"].decompose(self, _dtype(x), x)

    def max_pool2d(self, x, kernel, stride, padding, dilation):
        # Offered, but declines every call: it only pretends to be fast.
        return NotImplemented

    def softmax(self, x, axis):
        # Correct: declines float64 (the decomposition runs), handles the rest itself.
        if x.dtype == np.float64:
            return NotImplemented
        return OPTIONAL_OPS["softmax"].decompose(self, _dtype(x), x, axis)


class _Transposed(np.ndarray):
    """An array that remembers the source it was (wrongly) permuted from."""


def _dtype(array):
    # the numpy backend holds bfloat16 as a structured 16-bit type
    return micrograd.bfloat16 if array.dtype.kind == "V" else micrograd.dtypes.to_dtype(
        array.dtype)


class NarrowBackend(NumpyBackend):
    """Correct, but declares few dtypes: the suite must test only those, and check that the
    others are refused."""
    name = "narrow"
    capabilities = Capabilities(dtypes=(micrograd.bool, micrograd.int32, micrograd.int64,
                                        micrograd.float32), device_type="cpu",
                                matmul_dtypes=(micrograd.float32,))


class SlowBackend(NumpyBackend):
    """Correct, but every backend call costs a fixed delay, as an eager JAX call or a GPU
    kernel launch does (tens of microseconds): the suite's speed on such backends is measured
    on it. ``MICROGRAD_SLOW_BACKEND_US`` sets the delay (default 30)."""
    name = "slow"


def _delayed(method):
    import functools
    import os
    import time
    delay = float(os.environ.get("MICROGRAD_SLOW_BACKEND_US", "30")) * 1e-6

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        time.sleep(delay)
        return method(self, *args, **kwargs)
    return call


for _name in REQUIRED_PRIMITIVES + tuple(op for op in OPTIONAL_OPS
                                         if callable(getattr(NumpyBackend, op, None))):
    setattr(SlowBackend, _name, _delayed(getattr(NumpyBackend, _name)))


def _flush(x):
    """Subnormals read and written as zeros of their sign (the numpy backend's bfloat16 is
    structured, and left alone)."""
    if x.dtype.kind != "f":
        return x
    tiny = np.finfo(x.dtype).tiny
    return np.where(np.abs(x) < tiny, np.copysign(np.zeros_like(x), x), x)


class FlushingBackend(NumpyBackend):
    """Flushes subnormals to zero in arithmetic (XLA on CPU does, with no switch) and says so:
    capabilities.flush_to_zero. The suite must expect zeros there, and nothing else."""
    name = "flushing"
    capabilities = Capabilities(dtypes=NumpyBackend.capabilities.dtypes, device_type="cpu",
                                flush_to_zero=True)

    def unary(self, op, x):
        return _flush(super().unary(op, _flush(x)))

    def binary(self, op, a, b):
        return _flush(super().binary(op, _flush(a), _flush(b)))

    binary_ = None      # not offered: the core's decomposition goes through binary


class SilentlyFlushingBackend(FlushingBackend):
    """The same arithmetic without declaring it: the suite must fail it."""
    name = "silently_flushing"
    capabilities = NumpyBackend.capabilities


class FusingBackend(NumpyBackend):
    """Correct, and offers compile_elementwise (contract 1.3): each expression becomes one
    generated Python function over numpy, every node one numpy call on host arrays, bfloat16
    computed in float32 (as a fused kernel may). The suite's fusion family must pass it."""
    name = "fusing"

    def compile_elementwise(self, expr):
        return _numpy_kernel(expr, self._ufunc)

    def _ufunc(self, op):
        return _NUMPY_OPS[op]


class MisfusingBackend(FusingBackend):
    """A code generator with one wrong op: atan2's operands swapped. The suite must fail it."""
    name = "misfusing"

    def _ufunc(self, op):
        if op == "atan2":
            return lambda a, b: np.arctan2(b, a)
        return super()._ufunc(op)


def _erf(x):
    from micrograd.backends.numpy_backend import _erf as reference_erf
    return reference_erf(np.asarray(x))


_NUMPY_OPS = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "erf": _erf, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    "trunc": np.trunc, "logical_not": np.logical_not, "bitwise_not": np.invert,
    "isnan": np.isnan, "add": np.add, "sub": np.subtract, "mul": np.multiply,
    "div": np.true_divide, "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal,
    "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}


def _host_dtype(dtype):
    return np.dtype(np.float32) if dtype is micrograd.bfloat16 else dtype.numpy


def _numpy_kernel(expr, ufunc):
    """One Python function for ``expr``: its source has a line per node."""
    from micrograd.backends.numpy_backend import bf16_to_f32, f32_to_bf16
    from micrograd.fusion import ir
    names, lines, env = {}, [], {"np": np, "bf16_to_f32": bf16_to_f32}
    for node in expr.nodes:
        name = names[node] = f"v{len(names)}"
        host = _host_dtype(node.dtype)
        env[f"t_{name}"] = host
        if isinstance(node, ir.Input):
            read = f"inputs[{node.index}]"
            lines.append(f"{name} = bf16_to_f32({read})" if node.dtype is micrograd.bfloat16
                         else f"{name} = {read}")
        elif isinstance(node, ir.Const):
            env[f"c_{name}"] = _rounded(node.value, node.dtype)
            lines.append(f"{name} = c_{name}")
        elif isinstance(node, ir.Scalar):
            env["rounded"], env[f"d_{name}"] = _rounded, node.dtype
            lines.append(f"{name} = rounded(scalars[{node.index}], d_{name})")
        elif isinstance(node, ir.Unary):
            env[f"f_{name}"] = ufunc(node.op)
            lines.append(f"{name} = f_{name}({names[node.x]})")
        elif isinstance(node, ir.Binary):
            env[f"f_{name}"] = ufunc(node.op)
            lines.append(f"{name} = f_{name}({names[node.a]}, {names[node.b]})")
        elif isinstance(node, ir.Where):
            lines.append(f"{name} = np.where({names[node.cond]}, {names[node.a]}, "
                         f"{names[node.b]})")
        else:
            lines.append(f"{name} = np.asarray({names[node.x]}).astype(t_{name})")
            if node.dtype is micrograd.bfloat16:     # a cast rounds, even in float32
                lines.append(f"{name} = bf16_to_f32(f32_to_bf16({name}))")
                env["f32_to_bf16"] = f32_to_bf16
    results = ", ".join(names[o] for o in expr.outputs)
    source = "def kernel(inputs, scalars):\\n    " + "\\n    ".join(lines) + \\
        f"\\n    return ({results},)\\n"
    exec(compile(source, f"<fused {expr.key[:60]}>", "exec"), env)
    body = env["kernel"]
    kinds = [o.dtype for o in expr.outputs]

    def kernel(inputs, scalars, out=None):
        values = body(inputs, scalars)           # every input read before any write
        results = []
        for value, dtype in zip(values, kinds):
            full = np.broadcast_to(np.asarray(value, _host_dtype(dtype)), expr.shape)
            results.append(f32_to_bf16(full) if dtype is micrograd.bfloat16 else
                           np.array(full, order="C"))
        if out is None:
            return tuple(results)
        for target, value in zip(out, results):
            np.copyto(target, value)
        return tuple(out)
    return kernel


def _rounded(value, dtype):
    """A number as ``dtype`` holds it, on the host (bfloat16 rounded, held in float32)."""
    from micrograd.backends.numpy_backend import bf16_to_f32, f32_to_bf16
    from micrograd.fusion.ir import python_value
    value = python_value(value, dtype)
    if dtype is micrograd.bfloat16:
        return bf16_to_f32(f32_to_bf16(np.asarray(value, np.float32)))
    return np.asarray(value, dtype.numpy)


def _one_device(cls):
    """The factory of a backend with one device, cpu:0 (as the scaffold's template writes)."""
    def make(index):
        if index != 0:
            raise BackendUnavailable(f"the {cls.name} backend has one device (index 0), "
                                     f"not {index}")
        return cls(device("cpu"))
    return make


_slow, _narrow, _defective = (_one_device(c) for c in (SlowBackend, NarrowBackend,
                                                         DefectiveBackend))


def _broken(index):
    raise BackendUnavailable("the frobnicator driver is not loaded (install frobnicator>=2)")


@micrograd.hookimpl
def micrograd_register_backends(register):
    register("defective", _defective, device_type="cpu", contract=(1, 0), priority=-10)
    register("broken", _broken, device_type="cpu", contract=(1, 0), priority=-20)
    register("narrow", _narrow, device_type="cpu", contract=(1, 0), priority=-30)
    register("slow", _slow, device_type="cpu", contract=(1, 1), priority=-40)
    register("flushing", _one_device(FlushingBackend), device_type="cpu", contract=(1, 2),
             priority=-50)
    register("silently_flushing", _one_device(SilentlyFlushingBackend), device_type="cpu",
             contract=(1, 2), priority=-60)
    register("fusing", _one_device(FusingBackend), device_type="cpu", contract=(1, 3),
             priority=-70)
    register("misfusing", _one_device(MisfusingBackend), device_type="cpu", contract=(1, 3),
             priority=-80)
'''

DEFECTS = {
    # op reported failing -> the defect that must make it fail
    "sum": "off-by-one reduction",
    "scatter_add": "scatter accumulation overwrites duplicates",
    "gather": "gradient of gather (scatter-add of duplicates)",
    "slice": "dropped stride in slice",
    "astype": "float -> int rounds instead of truncating",
    "argmax": "ties give the last index",
    "permute": "permute forgets the strides: writes through a transposed view land wrong",
    "sgd_step_": "fused sgd_step_ ignores dampening",
    "adam_step_": "fused adam_step_'s amsgrad ignores the running maximum",
    "gelu": "fused gelu computes the tanh approximation",
    "max_pool2d": "max_pool2d is offered but declines every call (NotImplemented)",
    "binary_": "binary_ writes into out, then declines atan2 (NotImplemented)",
}


def install(directory) -> None:
    """Write the plugin into ``directory`` (put it on PYTHONPATH to install it)."""
    from pathlib import Path
    directory = Path(directory)
    (directory / "micrograd_defective.py").write_text(MODULE, encoding="utf-8")
    info = directory / "micrograd_defective-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: micrograd-defective\n"
                                   "Version: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[micrograd.backends]\n"
                                           "defective = micrograd_defective\n", encoding="utf-8")
