"""The autograd graph and its engine.

Every differentiable op is a :class:`Node` subclass with ``forward`` and ``backward`` side by
side. ``forward`` computes on backend arrays; ``backward`` is written with differentiable Tensor
ops, so running it with ``create_graph=True`` records a graph of its own and higher-order
gradients come for free. The engine walks the graph iteratively (Kahn's algorithm), so depth is
bounded by memory, not by Python's recursion limit.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

from ..tensor import Tensor, surface
from . import grad_mode


class Node:
    """A recorded operation: the backward half of an op, its saved state, and its edges.

    ``next_functions[i]`` is the node that receives the gradient of input ``i`` (its
    ``grad_fn``, or the :class:`AccumulateGrad` of a leaf), or ``None`` when that input does
    not require grad.
    """

    next_functions: tuple["Node | None", ...] = ()
    saves_output = False      # ops that need their own output in backward set this
    out_dtype = None          # output dtype when it is not the first input's
    _saved: tuple = ()
    _output: tuple | None = None
    _pre_hooks: list | None = None
    _released = False
    runs_without_grad = False   # True: backward(None) when no gradient reached this node

    # -- what ops implement ------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    # -- saved state -------------------------------------------------------------
    def save_for_backward(self, *tensors) -> None:
        # A list comprehension, not a generator: this runs once per recorded op.
        self._saved = tuple([None if t is None else (t, t._version[0]) for t in tensors])

    @property
    def saved_tensors(self) -> tuple:
        if self._released:
            raise RuntimeError(_RELEASED_MESSAGE.format(name=type(self).__name__))
        tensors = []
        for item in self._saved:
            if item is None:
                tensors.append(None)
            elif item[0]._version[0] != item[1]:
                raise RuntimeError(_modified_message(item[0], item[1], self))
            else:
                tensors.append(item[0])
        return tuple(tensors)

    @property
    def output(self):
        """This op's output as a Tensor whose ``grad_fn`` is this node (saved without a cycle)."""
        if self._released:
            raise RuntimeError(_RELEASED_MESSAGE.format(name=type(self).__name__))
        data, dtype, backend, version_counter, version = self._output
        if version_counter[0] != version:
            raise RuntimeError(_modified_message(None, version, self, version_counter[0]))
        out = Tensor._make(data, dtype, backend)
        out.requires_grad = True
        out.grad_fn = self
        out._version = version_counter
        return out

    def release(self) -> None:
        self._saved = ()
        self._output = None
        self._released = True

    def name(self) -> str:
        return type(self).__name__ + "Backward0"

    def register_prehook(self, fn: Callable) -> "RemovableHandle":
        if self._pre_hooks is None:
            self._pre_hooks = []
        return RemovableHandle(self._pre_hooks, fn)

    def __repr__(self) -> str:
        return f"<{self.name()} object>"


class AccumulateGrad(Node):
    """The sink of a leaf tensor: adds incoming gradients into ``leaf.grad``, then calls the
    leaf's post-accumulate hooks with the leaf (DDP launches its all-reduces from them)."""

    _post_hooks: list | None = None

    def __init__(self, leaf):
        self.variable_ref = weakref.ref(leaf)

    @property
    def variable(self):
        return self.variable_ref()

    def name(self) -> str:
        return "AccumulateGrad"

    def accumulate(self, grad, create_graph: bool, fresh_storages: set) -> None:
        leaf = self.variable_ref()
        if leaf is None or grad is None:
            return
        if grad._data.shape != leaf._data.shape:
            raise RuntimeError(f"gradient of shape {tuple(grad.shape)} does not match the leaf's "
                               f"shape {tuple(leaf.shape)}")
        if leaf._grad is None:
            if not create_graph:
                # Store a detached tensor, copying only when this storage was already handed to
                # another leaf in this pass (so an in-place update of one grad cannot leak). A
                # gradient computed in this pass (under no_grad, not a view) is detached
                # already: it is stored as it is, with no second Tensor for the same array.
                if id(grad._data) in fresh_storages:
                    grad = grad.clone().detach()
                elif grad.requires_grad or grad._base is not None or grad._writeback is not None:
                    grad = grad.detach()
                fresh_storages.add(id(grad._data))
            if grad._dtype is leaf._dtype and grad._backend is leaf._backend:
                leaf._grad = grad       # the setter's checks, shape done above
            else:
                leaf.grad = grad        # the setter raises, naming what differs
        elif create_graph:
            leaf.grad = leaf.grad + grad
        else:
            with grad_mode.no_grad():
                leaf.grad = leaf.grad + grad
        if self._post_hooks:
            for hook in tuple(self._post_hooks):
                hook(leaf)


class DeferredGrad:
    """A gradient a node hands the engine in a cheaper form than a dense tensor.

    The adjoint of a slice is a full-size tensor of zeros with the slice's gradient written in;
    a sequence unbound into T steps (an RNN's input projection, ``chunk`` of gates) would cost
    T full-size tensors and T full-size additions. The engine instead adds each deferred
    gradient in place into one dense buffer it owns, and materialises a deferred gradient only
    when a node, hook or leaf receives it.
    """

    __slots__ = ()

    def dense(self):
        """The gradient as a Tensor."""
        raise NotImplementedError

    def add_into(self, dense) -> None:
        """Add this gradient, in place, into ``dense`` (a buffer no one else holds)."""
        raise NotImplementedError


def sum_to(grad, shape: tuple):
    """Sum a broadcast gradient back down to ``shape`` (the adjoint of broadcasting)."""
    have = grad._data.shape
    if have == shape:
        return grad
    lead = len(have) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and have[i + lead] != 1)
    if axes:
        grad = grad.sum(axes, keepdim=True)
    if lead:
        grad = grad.reshape(shape)
    return grad


def _ones_like(out) -> Tensor:
    """The implicit seed gradient of a scalar output: ones straight from the backend (the engine
    stands below the ops, so it makes no op call here)."""
    return Tensor._make(out._backend.full(tuple(out._data.shape), 1, out._dtype), out._dtype,
                        out._backend)


def _accumulate(existing, grad, owned: set):
    """``existing + grad`` for a node that two edges reach, either side possibly deferred.
    ``owned`` holds the ids of the sums the engine made itself, the only pending tensors it
    may update in place."""
    if existing.__class__ is Tensor and grad.__class__ is Tensor:     # the common case
        total = existing + grad
        if owned:
            owned.discard(id(existing))
        owned.add(id(total))
        return total
    if isinstance(existing, DeferredGrad):
        existing = existing.dense()
        owned.add(id(existing))
    if isinstance(grad, DeferredGrad) and id(existing) in owned:
        grad.add_into(existing)
        return existing
    total = existing + (grad.dense() if isinstance(grad, DeferredGrad) else grad)
    owned.discard(id(existing))
    owned.add(id(total))
    return total


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: list, fn: Callable):
        self.hooks = hooks
        self.fn = fn
        hooks.append(fn)

    def remove(self) -> None:
        if self.fn in self.hooks:
            self.hooks.remove(self.fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


_RELEASED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed) in {name}. Specify retain_graph=True if you need to "
    "backward through the graph a second time.")


def _modified_message(tensor, expected, node, actual=None) -> str:
    what = "a saved output"
    if tensor is not None:
        actual = tensor._version[0]
        what = f"[{tensor.dtype.name} {list(tensor.shape)}]"
    return (f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: {what}, which is output 0 of {node.name()}, is at version "
            f"{actual}; expected version {expected} instead. Use out-of-place ops (or .clone()) "
            f"on tensors that an earlier op saved for backward.")


def _check_hook_result(hook, grad, result) -> None:
    if not hasattr(result, "_dtype") or result._dtype is not grad._dtype \
            or tuple(result.shape) != tuple(grad.shape):
        what = (f"{result._dtype.name} {list(result.shape)}" if hasattr(result, "_dtype")
                else type(result).__name__)
        raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!r} changed the gradient from "
                           f"{grad._dtype.name} {list(grad.shape)} to {what}; a hook must return "
                           f"None or a tensor of the same shape and dtype")


def edge(tensor) -> Node | None:
    """The node that receives ``tensor``'s gradient: its ``grad_fn``, else (a leaf) its
    :class:`AccumulateGrad`, made on first use; ``None`` when it does not require grad."""
    if not tensor.requires_grad:
        return None
    if tensor.grad_fn is not None:
        return tensor.grad_fn
    acc = tensor._accumulator
    if acc is None:
        acc = tensor._accumulator = AccumulateGrad(tensor)
    return acc


def record(node: Node, inputs: tuple, out) -> None:
    """Attach ``node`` as ``out``'s ``grad_fn`` with edges to ``inputs``."""
    # edge() inlined (a node is never falsy): this runs once per recorded op
    node.next_functions = tuple([
        (t.grad_fn or t._accumulator or edge(t)) if t is not None and t.requires_grad else None
        for t in inputs])
    out.requires_grad = True
    out.grad_fn = node
    if node.saves_output:
        node._output = (out._data, out._dtype, out._backend, out._version, out._version[0])


def record2(node: Node, a, b, out) -> None:
    """``record(node, (a, b), out)`` for two tensors, without the tuple and the loop: the
    commonest node of every graph (a binary op) is recorded here."""
    node.next_functions = (
        (a.grad_fn or a._accumulator or edge(a)) if a.requires_grad else None,
        (b.grad_fn or b._accumulator or edge(b)) if b.requires_grad else None)
    out.requires_grad = True
    out.grad_fn = node
    if node.saves_output:
        node._output = (out._data, out._dtype, out._backend, out._version, out._version[0])


def run_backward(outputs, grad_outputs, *, retain_graph: bool, create_graph: bool,
                 inputs=None, allow_unused: bool = False, accumulate: bool = True):
    """Propagate ``grad_outputs`` from ``outputs`` through the graph.

    With ``accumulate`` the gradients land in leaves' ``.grad`` (``Tensor.backward``); otherwise
    the gradients reaching ``inputs`` are returned (``micrograd.autograd.grad``).
    """
    roots: list[tuple[Node, Any]] = []
    for i, (out, grad) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               f"a grad_fn")
        if grad is None:
            if out.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs; "
                                   f"output {i} has shape {tuple(out.shape)}, pass a gradient "
                                   f"of that shape")
            grad = _ones_like(out)
        elif tuple(grad.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{tuple(grad.shape)} and output[{i}] has a shape of "
                               f"{tuple(out.shape)}.")
        elif grad._dtype is not out._dtype:
            grad = grad.to(out._dtype)      # as PyTorch: gradients take their tensor's dtype
        roots.append((edge(out), grad))

    # Count, for every reachable node, how many edges lead into it.
    # A node is walked once: when it is first counted, or from the start if it is a root.
    dependencies: dict[Node, int] = {}
    stack = [node for node, _ in roots]
    root_nodes = set(stack)
    while stack:
        node = stack.pop()
        for child in node.next_functions:
            if child is None:
                continue
            count = dependencies.get(child)
            if count is None:
                dependencies[child] = 1
                if child not in root_nodes:
                    stack.append(child)
            else:
                dependencies[child] = count + 1

    captures: dict[Node, int] = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError(f"input {i} of autograd.grad does not require grad")
            captures[edge(t)] = i
    captured: list = [None] * (len(inputs) if inputs is not None else 0)

    # Pending gradients per node (a Tensor, or a DeferredGrad until a node takes it). The
    # loop below runs once per node, so the buffer is a plain dict handled inline and the
    # rare cases (a second gradient for a node, a deferred one) are function calls.
    pending: dict = {}
    owned: set[int] = set()
    for node, grad in roots:
        existing = pending.get(node)
        pending[node] = grad if existing is None else _accumulate(existing, grad, owned)
    ready = [node for node in dict.fromkeys(n for n, _ in roots) if dependencies.get(node, 0) == 0]
    fresh_storages: set[int] = set()

    state = grad_mode.state
    previous_mode = state.enabled
    state.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grad = pending.pop(node, None)
            if grad is not None:
                if grad.__class__ is not Tensor and isinstance(grad, DeferredGrad):
                    grad = grad.dense()
                elif owned:
                    owned.discard(id(grad))
                if node._pre_hooks:
                    for hook in tuple(node._pre_hooks):
                        result = hook(grad)
                        if result is not None:
                            _check_hook_result(hook, grad, result)
                            grad = result
            if captures and node in captures:
                captured[captures[node]] = grad
            if node.__class__ is AccumulateGrad:
                if accumulate:
                    node.accumulate(grad, create_graph, fresh_storages)
                continue
            if grad is None and not node.runs_without_grad:
                input_grads = (None,) * len(node.next_functions)
            else:
                input_grads = node.backward(grad)
                if input_grads.__class__ is not tuple and not isinstance(input_grads, tuple):
                    input_grads = (input_grads,)
                if not retain_graph:
                    node.release()
            for child, child_grad in zip(node.next_functions, input_grads):
                if child is None:
                    continue
                if child_grad is not None:
                    existing = pending.get(child)
                    pending[child] = (child_grad if existing is None
                                      else _accumulate(existing, child_grad, owned))
                remaining = dependencies[child] - 1
                dependencies[child] = remaining
                if remaining == 0:
                    ready.append(child)
    finally:
        state.enabled = previous_mode

    if inputs is None:
        return None
    for i, grad in enumerate(captured):
        if grad is None and not allow_unused:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not "
                               f"have been used in the graph. Set allow_unused=True if this is "
                               f"the desired behavior.")
    if not create_graph:
        captured = [None if g is None else g.detach() for g in captured]
    return tuple(captured)


# ------------------------------------------------------------ Tensor's autograd methods

@surface(function=False)
def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate the gradient of this tensor into the leaves' ``.grad``."""
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        grads = run_backward((self,), (gradient,), retain_graph=retain_graph,
                             create_graph=create_graph, inputs=tuple(inputs),
                             allow_unused=True, accumulate=False)
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    run_backward((self,), (gradient,), retain_graph=retain_graph, create_graph=create_graph)


@surface(function=False)
def register_hook(self, hook) -> RemovableHandle:
    """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
    replaces the gradient."""
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    return edge(self).register_prehook(hook)


@surface(function=False)
def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
    """Call ``hook(tensor)`` after backward has accumulated this leaf's ``.grad`` (its
    return value is ignored), as PyTorch does.

    >>> handle = w.register_post_accumulate_grad_hook(lambda p: print(p.grad))
    """
    if not self.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    if not self.is_leaf:
        raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                           "tensors; use register_hook for gradients of non-leaf tensors")
    node = edge(self)
    if node._post_hooks is None:
        node._post_hooks = []
    return RemovableHandle(node._post_hooks, hook)


@surface(function=False)
def retain_grad(self) -> None:
    """Keep ``.grad`` for this non-leaf tensor after backward."""
    if not self.requires_grad:
        raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
    if self.is_leaf or getattr(self.grad_fn, "_retains", None) is not None:
        return
    ref = weakref.ref(self)

    def keep(grad):
        tensor = ref()
        if tensor is not None:
            g = grad.detach()
            tensor.grad = g if tensor.grad is None else tensor.grad + g
    self.grad_fn._retains = keep
    self.grad_fn.register_prehook(keep)


@surface(method="retains_grad", function=False)
@property
def retains_grad(self) -> bool:
    return self.grad_fn is not None and getattr(self.grad_fn, "_retains", None) is not None
