"""The compiled graph: the traced steps after fusion, replayed with new inputs.

Replay re-applies each op as recorded (so autograd, views and the backend's fast ops behave as
in eager code) and runs each fused region as one kernel. Captured tensors (parameters,
closure variables) are held by identity, so an optimizer's in-place update between calls is
read by the next call; their shapes and dtypes are guarded.
"""

from __future__ import annotations

from ..tensor import Tensor
from .fuse import FusedStep, fuse
from .trace import Tracer, resolve, slots_in


class Graph:
    def __init__(self, tracer: Tracer, input_slots: tuple, out_template):
        self.input_slots = input_slots
        self.out_template = out_template
        initial: list = [None] * len(tracer.slots)
        self.captured: list[tuple[Tensor, tuple, object, object]] = []
        for index, (t, kind) in enumerate(zip(tracer.slots, tracer.kinds)):
            if kind in ("captured", "constant"):
                initial[index] = t
            if kind == "captured":
                self.captured.append((t, tuple(t._data.shape), t._dtype, t._backend))
        self.initial = initial
        outputs = set(slots_in(out_template))
        self.steps = fuse(tracer.steps, tracer.slots, tracer.kinds, outputs)
        self.frees = _last_uses(self.steps, len(initial), outputs | set(input_slots)
                                | {i for i, v in enumerate(initial) if v is not None})
        fused = [s for s in self.steps if type(s) is FusedStep]
        self.fused_regions = len(fused)
        self.fused_ops = sum(s.size for s in fused)
        self.traced_ops = len(tracer.steps)

    def captured_changed(self) -> bool:
        """Whether a captured tensor's shape, dtype or device changed since the trace."""
        return any(t._data.shape != shape or t._dtype is not dtype or t._backend is not backend
                   for t, shape, dtype, backend in self.captured)

    def run(self, tensors: list):
        values = list(self.initial)
        for slot, t in zip(self.input_slots, tensors):
            values[slot] = t
        for step, frees in zip(self.steps, self.frees):
            step.run(values)
            for slot in frees:        # an intermediate's last reader ran: free it, as eager does
                values[slot] = None
        return resolve(self.out_template, values)


def _last_uses(steps: list, n: int, kept: set[int]) -> list[tuple[int, ...]]:
    """For each step, the intermediates no later step reads (``kept`` stay to the end)."""
    last = [-1] * n
    for i, step in enumerate(steps):
        for slot in step.reads():
            last[slot] = i
    frees: list[list[int]] = [[] for _ in steps]
    for slot, i in enumerate(last):
        if i >= 0 and slot not in kept:
            frees[i].append(slot)
    return [tuple(f) for f in frees]
