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
LOAD, UNARY, BINARY, WHERE, CAST, PAIR = range(6)

# PAIR: op2(op1(a, b), c) in one SIMD pass over a tile, for float32/float64 op1, op2 among these.
_PAIR_OPS = frozenset({"add", "sub", "mul", "div"})
_PAIR_DTYPES = (dtypes.float32, dtypes.float64)

_CODE = {dtype: code for code, dtype in enumerate(dtypes.ALL_DTYPES)}
_FLOAT64 = (dtypes.float64, _CODE[dtypes.float64])


class CpuFusedKernel:
    """One compiled expression: ``kernel(inputs, scalars, out=None) -> tuple of arrays``.

    ``fusion.run`` checks each call (``fusion.check_call``) before it gets here; the C++ program
    checks again what it must never get wrong (operand and output counts, dtypes, shapes), so a
    direct call with bad arguments is a ValueError or TypeError, never a stray read."""

    def __init__(self, expr: ir.Expr, program: Any):
        self.expr = expr
        self._program = program
        self._scalar_dtypes = [(s.dtype, _CODE[s.dtype]) for s in expr.scalars]

    def __call__(self, inputs: Sequence[Any], scalars: Sequence[Any] = (),
                 out: Sequence[Any] | None = None) -> tuple[Any, ...]:
        # One 0-d array per scalar given (surplus ones as float64, for the program to count).
        kinds = self._scalar_dtypes + [_FLOAT64] * (len(scalars) - len(self._scalar_dtypes))
        values = [_core.full((), ir.python_value(value, dtype), code)
                  for value, (dtype, code) in zip(scalars, kinds)]
        if out is None:
            return tuple(self._program.run(list(inputs), values, []))
        out = tuple(out)
        self._program.run(list(inputs), values, list(out))
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
    constants = [_core.full((), c.value, _CODE[c.dtype]) for c in lowering.constants]
    program = _core.FusedKernel(
        lowering.code, lowering.registers, operand_dtypes, operand_shapes,
        lowering.output_registers, [_CODE[o.dtype] for o in expr.outputs], list(expr.shape),
        inputs=len(expr.inputs), constants=constants)
    return CpuFusedKernel(expr, program)


class _Unsupported(Exception):
    pass


class _Lowering:
    """Instructions for ``expr``'s nodes in topological order, each result in the first free
    register (a register frees after its value's last use; outputs' never free). A float
    add/sub/mul/div whose operand is another one used nowhere else becomes one PAIR
    instruction with it (GELU's 9 ops are 6 instructions, Adam's 13 are 8)."""

    def __init__(self, expr: ir.Expr):
        self.code: list[tuple] = []
        nodes = expr.nodes
        # operands: the inputs, then each distinct constant, then the scalars
        self.constants = [node for node in nodes if isinstance(node, ir.Const)]
        constant_operand = {c: len(expr.inputs) + j for j, c in enumerate(self.constants)}
        first_scalar = len(expr.inputs) + len(self.constants)

        # Uniform values (one element for every position: constants, scalars, one-element
        # inputs and ops on nothing else) are computed once per call, before the tiles, so each
        # keeps its own register; tile values share the rest, reused once dead.
        one_element = math.prod(expr.shape) <= 1
        uniform: dict[ir.Node, bool] = {}
        for node in nodes:
            if isinstance(node, ir.Input):
                uniform[node] = one_element or math.prod(node.shape) == 1
            else:
                uniform[node] = all(uniform[child] for child in node.children)
        import os  # EXPERIMENT
        inner = self._pairs(expr, uniform) if os.environ.get("MG_PAIRS", "1") == "1" else {}
        absorbed = set(inner.values())
        # what each instruction reads: an outer node reads its inner node's operands
        reads = {node: [grand for child in node.children
                        for grand in (child.children if child in absorbed else (child,))]
                 for node in nodes}
        last_use = {node: i for i, node in enumerate(nodes)}
        for i, node in enumerate(nodes):
            for child in reads[node]:
                last_use[child] = i
        for node in expr.outputs:
            last_use[node] = len(nodes)
        first_output = {}
        for k, node in enumerate(expr.outputs):
            first_output.setdefault(node, k)
        free: list[int] = []
        self.registers = 0
        register: dict[ir.Node, int] = {}

        def allocate(reuse: bool) -> int:
            if reuse and free:
                return free.pop()
            self.registers += 1
            return self.registers - 1

        for i, node in enumerate(nodes):
            if node in absorbed:   # computed inside its outer node's PAIR
                continue
            operands = [register[child] for child in node.children if child not in absorbed]
            for child in set(reads[node]):
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
            elif node in inner:
                self.code.append(self._pair(node, inner[node], register, dst, output))
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

    @staticmethod
    def _pairs(expr: ir.Expr, uniform: dict) -> dict:
        """Which nodes absorb which: an outer float add/sub/mul/div takes an operand that is
        one too, of a tile value, used by it alone and no output. Children first, so a chain
        pairs from its start."""
        uses: dict[ir.Node, int] = {}
        for node in expr.nodes:
            for child in node.children:
                uses[child] = uses.get(child, 0) + 1
        for node in expr.outputs:
            uses[node] = uses.get(node, 0) + 1

        def pairable(node) -> bool:
            return (isinstance(node, ir.Binary) and node.op in _PAIR_OPS
                    and node.dtype in _PAIR_DTYPES and not uniform[node])

        inner, taken = {}, set()
        for node in expr.nodes:
            if not pairable(node) or node in taken:
                continue
            for child in node.children:
                if pairable(child) and uses[child] == 1 and child not in inner:
                    inner[node] = child
                    taken.add(child)
                    break
        return inner

    @staticmethod
    def _pair(node: ir.Binary, child: ir.Binary, register: dict, dst: int,
              output: int) -> tuple:
        """The PAIR instruction of ``node`` over its absorbed operand ``child``: the other
        operand is ``c``, on the left (swapped) only for sub and div."""
        a, b = register[child.a], register[child.b]
        if child is node.a:
            return (PAIR, f"{child.op} {node.op}", dst, a, b, register[node.b], output)
        swap = "~" if node.op in ("sub", "div") else ""
        return (PAIR, f"{child.op} {node.op}{swap}", dst, a, b, register[node.a], output)

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
        elif node.dtype in _PAIR_DTYPES and __import__("os").environ.get("MG_PAIRS", "1") == "1":
            self.code.append((PAIR, "mul mul", dst, x, x, x, output))
        else:
            # dst may be x's own register (x dead after this node): square into dst only
            # when it is not x, else the cube would read the square as x.
            if dst == x:
                return False
            self.code.append((BINARY, "mul", dst, x, x, -1, -1))
            self.code.append((BINARY, "mul", dst, dst, x, -1, output))
        return True
