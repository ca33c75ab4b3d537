"""Recurrent layers: one LSTM layer and direction over a whole sequence, forward and back.

Decomposed, each time step is one matrix product with the recurrent weight and one fused
kernel of the gate arithmetic (``micrograd.fusion``: compiled on a backend with
``compile_elementwise``, op by op elsewhere), written into views of buffers made for the whole
sequence; a backend offering the op runs the time loop in one call instead.
"""

from __future__ import annotations

from functools import lru_cache

from .. import fusion
from ..fusion import formulas, ir
from .dispatch import call_optional
from .spec import optional_op


def sequence_rows(steps: int, reverse: bool):
    """(row of the initial h in ``packed``, its rows of h at times 0..T-1, the step order):
    the layout of every recurrent sequence's packed hidden states (``lstm_sequence``'s, and the
    RNN and GRU sequences of ``micrograd.nn``)."""
    if reverse:
        return steps, range(steps), range(steps - 1, -1, -1)
    return 0, range(1, steps + 1), range(steps)


def all_rows(be, x) -> list:
    """Every row of a 3-D backend array as (1, ...) views, the trailing slices built once."""
    tail = tuple(slice(0, s, 1) for s in x.shape[1:])
    return [be.slice(x, (slice(index, index + 1, 1),) + tail) for index in range(x.shape[0])]


def _gate_views(be, row, hidden: int) -> list:
    """The four gates i, f, g, o of a (1, N, 4H) row: (1, N, H) views."""
    lead = (slice(0, 1, 1), slice(0, row.shape[1], 1))
    return [be.slice(row, lead + (slice(k * hidden, (k + 1) * hidden, 1),)) for k in range(4)]


@lru_cache(maxsize=64)
def _cell_expr(dtype, shape: tuple[int, ...]) -> ir.Expr:
    """Inputs: the four gates' pre-activations, c_prev. Outputs: h, c, then i, f, g, o."""
    sigmoid = formulas.ACTIVATIONS["sigmoid"][0]
    z_i, z_f, z_g, z_o, c_prev = (ir.Input(k, dtype, shape) for k in range(5))
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), ir.tanh(z_g), sigmoid(z_o)
    c = f * c_prev + i * g
    return ir.Expr((z_i, z_f, z_g, z_o, c_prev), (), (o * ir.tanh(c), c, i, f, g, o), shape)


@lru_cache(maxsize=64)
def _cell_backward_expr(dtype, shape: tuple[int, ...]) -> ir.Expr:
    """Inputs: h's gradient (from the output plus the later step's recurrent product), c's
    gradient from the later step, i, f, g, o, c, c_prev. Outputs: the four gates'
    pre-activation gradients, then c_prev's gradient."""
    leaves = tuple(ir.Input(k, dtype, shape) for k in range(8))
    d_h, d_c_later, i, f, g, o, c, c_prev = leaves
    tanh_c = ir.tanh(c)
    d_c = d_c_later + d_h * o * (1.0 - tanh_c * tanh_c)
    return ir.Expr(leaves, (),
                   (d_c * g * i * (1.0 - i), d_c * c_prev * f * (1.0 - f),
                    d_c * i * (1.0 - g * g), d_h * tanh_c * o * (1.0 - o), d_c * f), shape)


@optional_op(added_in=(1, 5))
def lstm_sequence(be, dt, xw, h0, c0, w_hh, reverse):
    """One LSTM layer in one direction over a sequence: ``xw`` (T, N, 4H) is the input
    projection plus both biases, gates in PyTorch's order i, f, g, o; ``h0`` and ``c0`` (N, H)
    the initial state, ``w_hh`` (4H, H) the recurrent weight; ``reverse`` runs time from T - 1
    down to 0. Per step, z = xw[t] + h_prev w_hh^T, i, f, o = sigmoid, g = tanh of its gates,
    c = f c_prev + i g, h = o tanh(c). T >= 1.

    Returns ``(packed, gates, cells)``: ``packed`` (T + 2, N, H) holds the initial h and the T
    hidden states in time order (rows 0..T forward; rows 0..T-1 then h0 at row T in reverse),
    then the final c (row T + 1); ``gates`` (T, N, 4H) the activated i, f, g, o of time t;
    ``cells`` (T, N, H) c after time t. ``gates`` and ``cells`` are what
    ``lstm_sequence_backward`` reads.

    Decomposition: per step one matmul with w_hh^T, xw[t] added into it in place (binary_),
    one fused kernel of the gate arithmetic (fusion.run) writing h, c and the gates into views
    of the three buffers.
    """
    steps, batch, gates_size = xw.shape
    hidden = gates_size // 4
    shape = (1, batch, hidden)
    expr = _cell_expr(dt, shape)
    h0_row, h_rows, order = sequence_rows(steps, reverse)
    packed = be.full((steps + 2, batch, hidden), 0, dt)
    gates = be.full((steps, batch, gates_size), 0, dt)
    cells = be.full((steps, batch, hidden), 0, dt)
    packed_rows, cell_rows, x_rows = all_rows(be, packed), all_rows(be, cells), all_rows(be, xw)
    gate_rows = all_rows(be, gates)
    scratch = be.full((4, batch, hidden), 0, dt)      # one step's activated gates, gate-major
    scratch_rows, scratch_nkh = all_rows(be, scratch), be.permute(scratch, (1, 0, 2))
    be.copy_(packed_rows[h0_row], be.reshape(h0, shape))
    w_t = be.reshape(be.permute(w_hh, (1, 0)), (1, hidden, gates_size))
    prev_h, prev_c = packed_rows[h0_row], be.reshape(c0, shape)
    for t in order:
        rec = be.matmul(prev_h, w_t)
        call_optional(be, "binary_", dt, "add", rec, rec, x_rows[t])
        fusion.run(be, expr, _gate_views(be, rec, hidden) + [prev_c],
                   out=[packed_rows[h_rows[t]], cell_rows[t], *scratch_rows])
        be.copy_(be.reshape(gate_rows[t], (batch, 4, hidden)), scratch_nkh)
        prev_h, prev_c = packed_rows[h_rows[t]], cell_rows[t]
    be.copy_(packed_rows[steps + 1], prev_c)
    return packed, gates, cells


@optional_op(added_in=(1, 5))
def lstm_sequence_backward(be, dt, grad, c0, w_hh, packed, gates, cells, reverse):
    """The gradients of ``lstm_sequence`` from ``grad`` (T + 2, N, H), the gradient of its
    ``packed`` result (every row: the initial h's, each hidden state's, the final c's), given
    ``c0`` and ``w_hh`` as passed to it and its ``packed``, ``gates`` and ``cells``.

    Returns ``(d_xw, d_h0, d_c0, d_w_hh)``: (T, N, 4H), (N, H), (N, H), (4H, H).

    Decomposition: back through time, per step one fused kernel of the gate gradients (fusion.run)
    and one matmul of them with w_hh; w_hh's gradient as one matmul over all steps,
    d_xw^T (4H, T N) @ the previous hidden states (T N, H).
    """
    steps, batch, gates_size = gates.shape
    hidden = gates_size // 4
    shape = (1, batch, hidden)
    expr = _cell_backward_expr(dt, shape)
    h0_row, h_rows, order = sequence_rows(steps, reverse)
    d_xw = be.full((steps, batch, gates_size), 0, dt)
    scratch = be.full((4, batch, hidden), 0, dt)      # one step's gate gradients, gate-major
    scratch_rows, scratch_nkh = all_rows(be, scratch), be.permute(scratch, (1, 0, 2))
    # The product d_z @ w_hh reads w_hh through the transposed view of a dense copy of its
    # transpose: a backend's GEMM reads both operands along the long shared dimension (4H).
    w = be.reshape(be.permute(be.contiguous(be.permute(w_hh, (1, 0))), (1, 0)),
                   (1, gates_size, hidden))
    g_rows, d_xw_rows, cell_rows = all_rows(be, grad), all_rows(be, d_xw), all_rows(be, cells)
    gate_rows = all_rows(be, gates)
    d_c = be.full(shape, 0, dt)        # c's gradient, carried back step by step in place
    be.copy_(d_c, g_rows[steps + 1])
    d_h = be.full(shape, 0, dt)        # h's gradient: from the output and the later step
    d_rec = None
    c0_row = be.reshape(c0, shape)
    for n in range(steps - 1, -1, -1):
        t = order[n]
        if d_rec is None:
            be.copy_(d_h, g_rows[h_rows[t]])
        else:
            call_optional(be, "binary_", dt, "add", d_h, g_rows[h_rows[t]], d_rec)
        c_prev = cell_rows[order[n - 1]] if n else c0_row
        fusion.run(be, expr, [d_h, d_c, *_gate_views(be, gate_rows[t], hidden),
                              cell_rows[t], c_prev], out=[*scratch_rows, d_c])
        be.copy_(be.reshape(d_xw_rows[t], (batch, 4, hidden)), scratch_nkh)
        d_rec = be.matmul(d_xw_rows[t], w)
    d_h0 = be.binary("add", d_rec, g_rows[h0_row])
    prev = be.slice(packed, (slice(int(reverse), steps + int(reverse), 1), slice(0, batch, 1),
                             slice(0, hidden, 1)))
    d_w = be.matmul(be.permute(be.reshape(d_xw, (steps * batch, gates_size)), (1, 0)),
                    be.reshape(prev, (steps * batch, hidden)))
    return d_xw, be.reshape(d_h0, tuple(c0.shape)), be.reshape(d_c, tuple(c0.shape)), d_w
