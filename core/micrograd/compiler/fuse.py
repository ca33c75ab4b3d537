"""Region fusion: maximal runs of elementwise steps of one shape become one ``ir.Expr``.

A traced step is elementwise when its op is a contract unary or binary op, a cast, ``where``,
a clamp or an activation of ``fusion.formulas`` (relu included). Walking the steps in order, an
elementwise step joins the open regions of the operands it shares a shape with (merging them);
every other use of a region's value (an opaque op, a step of another shape) seals that region,
so a region never feeds something that runs before it. A fused region runs at the position of
its last member, as one ``fusion.run``; its outputs are the member values used after it. With
autograd it is one node (``region.fused_outputs``) whose backward is one ``ir.vjp`` kernel
for every input's gradient, each then summed to its input's shape.

Save or recompute: that backward recomputes the region's intermediates from its inputs, which
pays only where the kernel is native (the backend offers ``compile_elementwise``). On any other
backend a region that records a graph replays its ops one by one, saving the intermediates as
eager code does (measured on numpy: the recompute made GELU forward+backward at 16M 0.6x of
eager).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import backend as contract
from ..autograd import grad_mode
from ..fusion import ir
from .. import fusion
from ..fusion import formulas
from ..ops.activation import Activation
from ..ops.base import Cast
from ..ops.binary import Binary
from ..ops.clamp import Clamp
from ..ops.unary import Unary
from ..ops.where import Where
from ..tensor import Tensor
from .region import fused_outputs
from .trace import OpStep, Slot


# ------------------------------------------------------------------ elementwise steps

def _elementwise(step) -> tuple[list[int], object] | None:
    """For an elementwise step: its operand slots and a builder from operand IR nodes to its
    IR node; None for any other step."""
    if type(step) is not OpStep or type(step.out) is not Slot:
        return None
    op, args, kwargs = step.op, step.args, step.kwargs
    if not all(type(a) is Slot for a in args):
        return None
    slots = [a.index for a in args]
    if issubclass(op, Binary) and not kwargs and len(args) == 2 \
            and op.op_name in contract.BINARY_OPS:
        return slots, lambda a, b: ir.Binary(op.op_name, a, b)
    if issubclass(op, Unary) and not kwargs and len(args) == 1 \
            and op.op_name in contract.UNARY_OPS:
        return slots, lambda x: ir.Unary(op.op_name, x)
    if op is Cast and len(args) == 1 and set(kwargs) == {"dtype"}:
        dtype = kwargs["dtype"]
        return slots, lambda x: ir.Cast(x, dtype)
    if op is Where and not kwargs and len(args) == 3:
        return slots, ir.Where
    if issubclass(op, Activation) and len(args) == 1 \
            and op.op_name in formulas.FUSIBLE_ACTIVATIONS:
        forward, params = formulas.FUSIBLE_ACTIVATIONS[op.op_name], tuple(kwargs.values())
        return slots, lambda x: forward(x, *params)
    if op is Clamp and len(args) == 1 and set(kwargs) <= {"low", "high"}:
        low, high = kwargs.get("low"), kwargs.get("high")

        def clamp(x):
            if low is not None:
                x = ir.Binary("maximum", x, ir.Const(low, x.dtype))
            if high is not None:
                x = ir.Binary("minimum", x, ir.Const(high, x.dtype))
            return x
        return slots, clamp
    return None


@dataclass
class _Region:
    shape: tuple
    backend: object
    grad_enabled: bool
    members: list = field(default_factory=list)      # step indices, in order
    sealed: bool = False


def fuse(steps: list, slots: list, kinds: list, output_slots: set) -> list:
    """``steps`` with each region of two or more elementwise steps replaced by a FusedStep."""
    region_of: dict[int, _Region] = {}                # member output slot -> region
    regions: list[_Region] = []
    for i, step in enumerate(steps):
        found = _elementwise(step)
        operands = found[0] if found else step.reads()
        out = slots[step.out.index] if found else None
        joining = []
        for s in operands:
            region = region_of.get(s)
            if region is None or region.sealed:
                continue
            if found and region.shape == tuple(out._data.shape) \
                    and region.backend is out._backend \
                    and region.grad_enabled is step.grad_enabled:
                if region not in joining:
                    joining.append(region)
            else:
                region.sealed = True
        if not found:
            continue
        if not joining:
            region = _Region(tuple(out._data.shape), out._backend, step.grad_enabled)
            regions.append(region)
        else:
            region = joining[0]
            for other in joining[1:]:      # two open regions meeting: one region
                region.members += other.members
                for member in other.members:
                    region_of[steps[member].out.index] = region
                regions.remove(other)
            region.members.sort()
        region.members.append(i)
        region_of[step.out.index] = region

    readers: dict[int, set[int]] = {}                # slot -> the steps reading it
    for i, step in enumerate(steps):
        for s in step.reads():
            readers.setdefault(s, set()).add(i)
    replaced: dict[int, object] = {}
    dropped: set[int] = set()
    for region in regions:
        if len(region.members) < 2:
            continue
        members = set(region.members)
        used_after = {steps[i].out.index for i in region.members
                      if steps[i].out.index in output_slots
                      or readers.get(steps[i].out.index, members) - members}
        fused = _build(region, steps, slots, kinds, used_after)
        if fused is None:
            continue
        replaced[region.members[-1]] = fused
        dropped.update(region.members[:-1])
    return [replaced.get(i, step) for i, step in enumerate(steps) if i not in dropped]


def _build(region: _Region, steps: list, slots: list, kinds: list, used_after: set):
    """The region's FusedStep (its outputs: the member values in ``used_after``), or None when
    its expression cannot be built (the steps then run unfused, as recorded)."""
    members = [steps[i] for i in region.members]
    nodes: dict[int, object] = {}
    inputs: list = []
    input_slots: list[int] = []
    try:
        for step in members:
            operands, build = _elementwise(step)
            args = []
            for s in operands:
                if s not in nodes:
                    t = slots[s]
                    if kinds[s] == "constant":
                        nodes[s] = ir.Const(_python_value(t), t._dtype)
                    else:
                        nodes[s] = ir.Input(len(inputs), t._dtype, tuple(t._data.shape))
                        inputs.append(nodes[s])
                        input_slots.append(s)
                args.append(nodes[s])
            node = build(*args)
            out = slots[step.out.index]
            if node.dtype is not out._dtype:
                return None
            nodes[step.out.index] = node
        out_slots = [step.out.index for step in members if step.out.index in used_after]
        expr = ir.Expr(tuple(inputs), (), tuple(nodes[s] for s in out_slots), region.shape)
    except (TypeError, ValueError):
        return None
    return FusedStep(expr, tuple(input_slots), tuple(out_slots), region.backend,
                     region.grad_enabled, members)


def _python_value(t: Tensor):
    value = t._backend.to_host(t._data).item()
    kind = t._dtype.kind
    return bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)


# ------------------------------------------------------------------ running a region

class FusedStep:
    """One fused region of the replayed graph: one kernel for all its outputs; when it records
    a graph, one node whose backward is one kernel (``region.fused_outputs``), or its traced
    ops one by one on a backend without native fused kernels (see the module's docstring)."""

    def __init__(self, expr, input_slots: tuple, out_slots: tuple, backend, grad_enabled: bool,
                 members: list):
        self.expr = expr
        self.grad_enabled = grad_enabled      # False: traced under no_grad, records no graph
        self.input_slots = input_slots
        self.out_slots = out_slots
        self.members = members                # the traced steps it replaces
        self.size = len(members)
        self.input_shapes = tuple(node.shape for node in expr.inputs)
        self.out_dtypes = tuple(node.dtype for node in expr.outputs)
        self.backend = backend
        self.recompute = getattr(backend, "compile_elementwise", None) is not None

    def reads(self) -> list[int]:
        return list(self.input_slots)

    def run(self, values: list) -> None:
        inputs = [values[s] for s in self.input_slots]
        for t, shape in zip(inputs, self.input_shapes):
            if t._data.shape != shape:
                # A shape that depends on data (a custom op upstream) changed since the trace:
                # the expression does not fit, the traced ops do.
                return self._run_members(values)
        be = inputs[0]._backend if inputs else self.backend
        if self.grad_enabled and grad_mode.state.enabled \
                and any(t.requires_grad for t in inputs):
            if not self.recompute or be is not self.backend:
                return self._run_members(values)
            for s, out in zip(self.out_slots, fused_outputs(self.expr, *inputs)):
                values[s] = out
            return
        results = fusion.run(be, self.expr, [t._data for t in inputs])
        for s, data, dtype in zip(self.out_slots, results, self.out_dtypes):
            values[s] = Tensor._make(data, dtype, be)

    def _run_members(self, values: list) -> None:
        for step in self.members:
            step.run(values)
