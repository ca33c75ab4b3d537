"""``compile_elementwise`` for the cpu backend: an IR expression lowered to a register program
that the C++ extension runs over L1-sized tiles (``src/fusion.cpp``), with no compiler at run
time.

The program is a list of instructions ``(kind, op, dst, a, b, c, output)`` over numbered
registers: ``LOAD`` an operand (an input, a constant or a runtime scalar), ``UNARY``/``BINARY``
by op name, ``WHERE`` (``c ? a : b``) and ``CAST`` (to a dtype code). Uniform values
(constants, scalars, one-element inputs and what is computed from them alone) are computed once
per call and keep their registers; tile values share the others, reused once dead, so a GELU
needs three tiles of scratch. The instruction producing an output may write straight into the
output array (``output``), which the C++ side skips when an output aliases an input.

>>> from micrograd.fusion import ir
>>> x = ir.Input(0, dtypes.float32, (1 << 20,))
>>> kernel = compile_elementwise(ir.Expr((x,), (), (x * ir.tanh(x),), x.shape))
>>> (y,) = kernel([array])                       # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from micrograd import dtypes
from micrograd.fusion import ir

from . import _core

# Instruction kinds, numbered as in src/fusion.cpp.
LOAD, UNARY, BINARY, WHERE, CAST = range(5)

_CODE = {dtype: code for code, dtype in enumerate(dtypes.ALL_DTYPES)}


class CpuFusedKernel:
    """One compiled expression: ``kernel(inputs, scalars, out=None) -> tuple of arrays``."""

    def __init__(self, expr: ir.Expr, program: Any, constants: list[Any]):
        self.expr = expr
        self._program = program
        self._constants = constants   # 0-d arrays, operands after the inputs
        self._scalar_dtypes = [(s.dtype, _CODE[s.dtype]) for s in expr.scalars]

    def __call__(self, inputs: Sequence[Any], scalars: Sequence[Any] = (),
                 out: Sequence[Any] | None = None) -> tuple[Any, ...]:
        expr = self.expr
        if len(inputs) != len(expr.inputs) or len(scalars) != len(expr.scalars):
            raise ir.ExprError(f"this kernel takes {len(expr.inputs)} inputs and "
                               f"{len(expr.scalars)} scalars, got {len(inputs)} and "
                               f"{len(scalars)}")
        operands = list(inputs)
        operands += self._constants
        for value, (dtype, code) in zip(scalars, self._scalar_dtypes):
            operands.append(_core.full((), ir.python_value(value, dtype), code))
        if out is None:
            return tuple(self._program.run(operands, []))
        out = tuple(out)
        if len(out) != len(expr.outputs):
            raise ir.ExprError(f"out has {len(out)} arrays; the expression has "
                               f"{len(expr.outputs)} outputs")
        self._program.run(operands, list(out))
        return out

    def __repr__(self) -> str:
        return f"CpuFusedKernel({self.expr.key!r})"


def compile_elementwise(expr: ir.Expr) -> CpuFusedKernel | Any:
    """The fused kernel of ``expr``, or ``NotImplemented`` for a node this lowering does not
    know (the core then evaluates the expression op by op)."""
    try:
        lowering = _Lowering(expr)
    except _Unsupported:
        return NotImplemented
    operand_dtypes = [_CODE[x.dtype] for x in expr.inputs]
    operand_shapes = [list(x.shape) for x in expr.inputs]
    for leaf in [*lowering.constants, *expr.scalars]:   # operands after the inputs, 0-d
        operand_dtypes.append(_CODE[leaf.dtype])
        operand_shapes.append([])
    program = _core.FusedKernel(
        lowering.code, lowering.registers, operand_dtypes, operand_shapes,
        lowering.output_registers, [_CODE[o.dtype] for o in expr.outputs], list(expr.shape))
    constants = [_core.full((), c.value, _CODE[c.dtype]) for c in lowering.constants]
    return CpuFusedKernel(expr, program, constants)


class _Unsupported(Exception):
    pass


class _Lowering:
    """Instructions for ``expr``'s nodes in topological order, each result in the first free
    register (a register frees after its value's last use; outputs' never free)."""

    def __init__(self, expr: ir.Expr):
        self.code: list[tuple] = []
        nodes = expr.nodes
        # operands: the inputs, then each distinct constant, then the scalars
        self.constants = [node for node in nodes if isinstance(node, ir.Const)]
        constant_operand = {c: len(expr.inputs) + j for j, c in enumerate(self.constants)}
        first_scalar = len(expr.inputs) + len(self.constants)
        last_use = {node: i for i, node in enumerate(nodes)}
        for i, node in enumerate(nodes):
            for child in node.children:
                last_use[child] = i
        for node in expr.outputs:
            last_use[node] = len(nodes)
        first_output = {}
        for k, node in enumerate(expr.outputs):
            first_output.setdefault(node, k)

        # Uniform values (one element for every position: constants, scalars, one-element
        # inputs and ops on nothing else) are computed once per call, before the tiles, so each
        # keeps its own register; tile values share the rest, reused once dead.
        one_element = math.prod(expr.shape) <= 1
        uniform: dict[ir.Node, bool] = {}
        free: list[int] = []
        self.registers = 0
        register: dict[ir.Node, int] = {}

        def allocate(reuse: bool) -> int:
            if reuse and free:
                return free.pop()
            self.registers += 1
            return self.registers - 1

        for i, node in enumerate(nodes):
            if isinstance(node, ir.Input):
                uniform[node] = one_element or math.prod(node.shape) == 1
            else:
                uniform[node] = all(uniform[child] for child in node.children)
            operands = [register[child] for child in node.children]
            for child in set(node.children):
                if last_use[child] == i and not uniform[child]:
                    free.append(register[child])
            free.sort(reverse=True)   # lowest first: deterministic, and dense scratch use
            dst = allocate(reuse=not uniform[node])
            register[node] = dst
            output = -1 if uniform[node] else first_output.get(node, -1)
            if isinstance(node, ir.Input):
                self.code.append((LOAD, node.index, dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Const):
                self.code.append((LOAD, constant_operand[node], dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Scalar):
                self.code.append((LOAD, first_scalar + node.index, dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Unary):
                self.code.append((UNARY, node.op, dst, operands[0], -1, -1, output))
            elif isinstance(node, ir.Binary):
                if not self._small_power(node, dst, operands, output):
                    self.code.append((BINARY, node.op, dst, operands[0], operands[1], -1, output))
            elif isinstance(node, ir.Where):
                cond, a, b = operands
                self.code.append((WHERE, 0, dst, a, b, cond, output))
            elif isinstance(node, ir.Cast):
                self.code.append((CAST, _CODE[node.dtype], dst, operands[0], -1, -1, output))
            else:
                raise _Unsupported(type(node).__name__)
        self.output_registers = [register[node] for node in expr.outputs]

    def _small_power(self, node: ir.Binary, dst: int, operands: list[int], output: int) -> bool:
        """``x ** 2`` and ``x ** 3`` of a float as multiplications (GELU's cube): a SIMD
        multiply per factor instead of a scalar ``pow`` call per element, within an ulp."""
        b = node.b
        if not (node.op == "pow" and isinstance(b, ir.Const) and node.dtype.is_floating_point
                and b.value in (2.0, 3.0)):
            return False
        x = operands[0]
        if b.value == 2.0:
            self.code.append((BINARY, "mul", dst, x, x, -1, output))
        else:
            # dst may be x's own register (x dead after this node): square into dst only
            # when it is not x, else the cube would read the square as x.
            if dst == x:
                return False
            self.code.append((BINARY, "mul", dst, x, x, -1, -1))
            self.code.append((BINARY, "mul", dst, dst, x, -1, output))
        return True
