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
