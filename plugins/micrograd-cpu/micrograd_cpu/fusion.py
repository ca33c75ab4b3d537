"""``compile_elementwise`` for the cpu backend: an IR expression lowered to a register program
that the C++ extension runs over L1-sized tiles (``src/fusion.cpp``), with no compiler at run
time.

The program is a list of instructions ``(kind, op, dst, a, b, c, output)`` over numbered
registers: ``LOAD`` an operand (an input, a constant or a runtime scalar), ``UNARY``/``BINARY``
by op name, ``WHERE`` (``c ? a : b``), ``CAST`` (to a dtype code) and ``CHAIN``, whose eighth
field lists steps ``(op name, register, swapped)`` applied to register ``a`` block by block
in L1 (see ``_chains``): one pass over a tile for a run of float ops. Uniform values
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
from micrograd.fusion import formulas, ir

from . import _core, jit

# Instruction kinds, numbered as in src/fusion.cpp.
LOAD, UNARY, BINARY, WHERE, CAST, CHAIN = range(6)

# The ops a CHAIN step may be: those with a vector kernel (ops.hpp marks them VECTOR; the
# program is checked against that when built), on these dtypes, at most _CHAIN_STEPS a chain.
_CHAIN_UNARY = frozenset({"neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "tanh", "erf"})
_CHAIN_BINARY = frozenset({"add", "sub", "mul", "div", "maximum", "minimum"})
_CHAIN_DTYPES = (dtypes.float32, dtypes.float64)
_CHAIN_STEPS = 16

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
    # large expressions compiled by the system compiler where one runs (jit.py), else this
    return jit.wrap(expr, CpuFusedKernel(expr, program))


class _Unsupported(Exception):
    pass


class _Lowering:
    """Instructions for ``expr``'s nodes in topological order, each result in the first free
    register (a register frees after its value's last use; outputs' never free).

    Float32/float64 vector ops (``_CHAIN_UNARY``, ``_CHAIN_BINARY``, x ** 2 and x ** 3) whose
    operand is another such op's value, used nowhere else, join that op's CHAIN: one
    instruction starting from a register, each step applied to an L1 block (GELU's 9 ops
    are 2 instructions, Adam's 13 are 4). A chain of one op is a plain instruction."""

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
        # GELU's derivative (its backward's formula) as one chain step on its x: the nodes
        # inside it are never computed
        derivatives, inside = _gelu_derivatives(expr, uniform)
        chains = _chains(expr, uniform, derivatives, inside)
        absorbed = inside | {n for _, _, members in chains.values() for n in members[:-1]}
        # what each instruction reads
        reads = {node: [derivatives[node]] if node in derivatives else list(node.children)
                 for node in nodes}
        for head, (start, steps, _) in chains.items():
            reads[head] = [start] + [x for _, x, _ in steps if x is not None]
        last_use = {node: i for i, node in enumerate(nodes)}
        for i, node in enumerate(nodes):
            if node not in absorbed:
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
            if node in absorbed:   # computed inside its chain's instruction
                continue
            operands = [register[child] for child in node.children if child in register]
            for child in set(reads[node]):
                if last_use[child] == i and not uniform[child]:
                    free.append(register[child])
            free.sort(reverse=True)   # lowest first: deterministic, and dense scratch use
            dst = allocate(reuse=not uniform[node])
            register[node] = dst
            output = -1 if uniform[node] else first_output.get(node, -1)
            if node in chains:
                start, steps, _ = chains[node]
                self.code.append((CHAIN, "", dst, register[start], -1, -1, output,
                                  [(name, -1 if x is None else register[x], swapped)
                                   for name, x, swapped in steps]))
            elif isinstance(node, ir.Input):
                self.code.append((LOAD, node.index, dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Const):
                self.code.append((LOAD, constant_operand[node], dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Scalar):
                self.code.append((LOAD, first_scalar + node.index, dst, -1, -1, -1, -1))
            elif isinstance(node, ir.Unary):
                self.code.append((UNARY, node.op, dst, operands[0], -1, -1, output))
            elif isinstance(node, ir.Binary):
                # (uniform values: pow itself, once per call; a uniform register is
                # written once)
                if uniform[node] or not self._small_power(node, dst, operands, output):
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
        """``x ** 2`` and ``x ** 3`` of a float as multiplications: a SIMD multiply per
        factor instead of a scalar ``pow`` call per element, within an ulp (a float32/float64
        cube is a chain, see _chains)."""
        if _power(node) is None:
            return False
        x = operands[0]
        if node.b.value == 2.0:
            self.code.append((BINARY, "mul", dst, x, x, -1, output))
        else:
            # dst may be x's own register (x dead after this node): square into dst only
            # when it is not x, else the cube would read the square as x.
            if dst == x:
                return False
            self.code.append((BINARY, "mul", dst, x, x, -1, -1))
            self.code.append((BINARY, "mul", dst, dst, x, -1, output))
        return True


def _power(node) -> str | None:
    """"square" or "cube" for a float ``x ** 2`` or ``x ** 3`` (a literal exponent), else None."""
    if (isinstance(node, ir.Binary) and node.op == "pow" and isinstance(node.b, ir.Const)
            and node.dtype.is_floating_point and node.b.value in (2.0, 3.0)):
        return "square" if node.b.value == 2.0 else "cube"
    return None


def _gelu_derivatives(expr: ir.Expr, uniform: dict) -> tuple[dict, set]:
    """``{node: x}`` for the nodes that are GELU's derivative of x exactly as
    ``formulas.ACTIVATIONS["gelu"]`` writes it (float32/float64, x a tile value) and whose inner
    nodes nothing else reads, and the set of those inner nodes. The step's result is within a
    few ulp of the op-by-op formula, not bit for bit as the other steps are."""
    derivative = formulas.ACTIVATIONS["gelu"][1]
    found: dict[ir.Node, ir.Node] = {}
    for node in expr.nodes:
        if not (isinstance(node, ir.Binary) and node.op == "add" and node.dtype in _CHAIN_DTYPES
                and isinstance(node.b, ir.Binary) and node.b.op == "mul"
                and not uniform[node.b.a]):
            continue
        x = node.b.a
        marker = ir.Input(len(expr.inputs), x.dtype, expr.shape)   # the formula's g
        reference = derivative(x, marker)
        if (isinstance(reference, ir.Binary) and reference.op == "mul"
                and reference.a is marker and reference.b == node):
            found[node] = x
    inside: set = set()
    for node, x in found.items():
        stack = list(node.children)
        while stack:
            n = stack.pop()
            if n != x and n not in inside:
                inside.add(n)
                stack.extend(n.children)
    # keep only those whose inner nodes are read by their own derivative alone
    readers = {n: [] for n in inside}
    for node in expr.nodes:
        for child in node.children:
            if child in readers:
                readers[child].append(node)
    leaks = {n for n in inside if n in expr.outputs
             or any(r not in inside and r not in found for r in readers[n])}
    if leaks:
        return {}, set()   # (rare: evaluate every node as written)
    return found, inside


def _link(node, uniform, derivatives=()) -> bool:
    """Whether ``node`` can be a step of a chain: a float32/float64 vector op on a tile value."""
    if node in derivatives:
        return True
    if uniform[node] or node.dtype not in _CHAIN_DTYPES:
        return False
    if isinstance(node, ir.Unary):
        return node.op in _CHAIN_UNARY
    return isinstance(node, ir.Binary) and (node.op in _CHAIN_BINARY or _power(node) is not None)


def _chains(expr: ir.Expr, uniform: dict, derivatives=None, inside=frozenset()) -> dict:
    """Chains of two or more steps, by head node (the last step): ``head -> (start, steps,
    members)``, a step ``(name, operand node or None, swapped)``, members the nodes computed
    (the head last). Children first: a link extends the longest chain among its operands that
    ends in a value used by it alone (and no output); its other operand becomes the step's.
    ``derivatives`` (node -> x) are one step on x each; ``inside`` their inner nodes."""
    derivatives = derivatives or {}

    def children(node):
        return (derivatives[node],) if node in derivatives else node.children

    uses: dict[ir.Node, int] = {}
    for node in expr.nodes:
        if node in inside:
            continue
        for child in children(node):
            uses[child] = uses.get(child, 0) + 1
    for node in expr.outputs:
        uses[node] = uses.get(node, 0) + 1

    chain: dict[ir.Node, tuple] = {}   # every link's chain so far, by its last node
    extended = set()

    def extendable(child) -> bool:
        return child in chain and uses[child] == 1 and len(chain[child][1]) < _CHAIN_STEPS

    for node in expr.nodes:
        if node in inside or not _link(node, uniform, derivatives):
            continue
        power = _power(node)
        if node in derivatives:
            main, step = derivatives[node], ("gelu_derivative", None, False)
            grows = extendable(main)
        elif isinstance(node, ir.Unary) or power:
            main, step = node.children[0], (node.op if power is None else power, None, False)
            grows = extendable(main)
        else:
            a, b = node.a, node.b
            options = [(len(chain[c][1]), position) for position, c in enumerate((a, b))
                       if extendable(c)]
            grows = bool(options)
            position = max(options)[1] if options else 0
            main, other = (a, b) if position == 0 else (b, a)
            step = (node.op, other, position == 1 and node.op not in ("add", "mul"))
        if grows:
            start, steps, members = chain[main]
            chain[node] = (start, steps + [step], members + [node])
            extended.add(main)
        else:   # a chain of its own: from its (left) operand
            chain[node] = (main, [step], [node])
    return {node: c for node, c in chain.items() if node not in extended
            and (len(c[1]) >= 2 or node in derivatives)}

