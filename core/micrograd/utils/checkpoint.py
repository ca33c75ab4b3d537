"""Activation checkpointing: ``checkpoint`` and ``checkpoint_sequential``, PyTorch's names.

A checkpointed segment runs forward without recording a graph, so the activations inside it
are freed as soon as the next op has read them; the graph holds one node per output, with edges
to the segment's tensor inputs. Backward runs the segment again with grad enabled (the random
generator put back where it was, so dropout draws the same masks), backpropagates the output's
gradient through that replay, and hands the gradients of the inputs on. Parameters the segment
uses receive theirs in the replay's own pass, as leaves do.

Limits, those of PyTorch's reentrant variant (both variants here work that way): the replay's
pass accumulates parameters' ``.grad`` even under ``autograd.grad``; gradients of gradients do
not flow back through a checkpoint; and a tensor computed before the segment and captured by it
(not passed as an argument) must not also be used after it, or the outer pass may free its node
before the replay reaches it. Pass such tensors as arguments.

>>> from micrograd.utils.checkpoint import checkpoint
>>> h = checkpoint(block, x, use_reentrant=False)      # block's activations are not kept
>>> h.sum().backward()                                 # block runs again here
"""

from __future__ import annotations

import warnings

from ..autograd import grad_mode
from ..autograd.graph import Node, record, run_backward
from ..random import default_generator
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Segment:
    """What a checkpointed call needs to run again: the function, its arguments (tensors
    detached, so the replay's graph ends at them) and the generator's state before it ran.
    The replay is made by the first output node that backward reaches and shared by the rest."""

    def __init__(self, function, args: tuple, kwargs: dict, rng_state, outputs: int):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng_state = rng_state
        self.waiting = outputs           # output nodes whose backward has not run yet
        self.replay: tuple | None = None

    def _run_again(self) -> tuple:
        inputs = tuple(a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor)
                       else a for a in self.args)
        current = default_generator.get_state()
        if self.rng_state is not None:
            default_generator.set_state(self.rng_state)
        try:
            with grad_mode.enable_grad():
                outputs = self.function(*inputs, **self.kwargs)
        finally:
            default_generator.set_state(current)   # the replay's draws leave no trace
        return inputs, _tensors_of(outputs)

    def backward(self, index: int, grad) -> tuple:
        if self.replay is None:
            self.replay = self._run_again()
        inputs, outputs = self.replay
        self.waiting -= 1
        if self.waiting == 0:
            self.replay = None           # the last output: the replay's graph can go
        wanted = tuple(t for t in inputs if isinstance(t, Tensor) and t.requires_grad)
        out = outputs[index]
        grads: tuple = (None,) * len(wanted)
        if grad is not None and out.requires_grad:
            # retain_graph: a tensor the segment captured from outside (a weight computed before
            # it) leads into the outer graph, whose nodes the outer pass still has to run.
            # Parameters (leaves) accumulate their .grad in this pass; the inputs' are returned.
            found = run_backward((out,), (grad,), retain_graph=True,
                                 create_graph=grad_mode.state.enabled, inputs=wanted or None,
                                 allow_unused=True)
            grads = found if wanted else grads
        by_input = iter(grads)
        return tuple(next(by_input) if t.requires_grad else None
                     for t in inputs if isinstance(t, Tensor))


class CheckpointBackward(Node):
    """The graph node of one output of a checkpointed segment."""

    runs_without_grad = True      # counted even when no gradient reaches it (see _Segment)

    def __init__(self, segment: _Segment, index: int):
        self.segment, self.index = segment, index

    def backward(self, grad):
        return self.segment.backward(self.index, grad)

    def name(self) -> str:
        return "CheckpointFunctionBackward"


def _tensors_of(outputs) -> tuple:
    """The floating-point tensors among a segment's outputs (a tensor, or a tuple or list)."""
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return tuple(o for o in items if isinstance(o, Tensor) and o.dtype.is_floating_point)


def _reentrant(use_reentrant) -> bool:
    if use_reentrant is None:
        warnings.warn("micrograd.utils.checkpoint: the use_reentrant parameter should be passed "
                      "explicitly; it defaults to True, as in PyTorch. use_reentrant=False is "
                      "recommended.", stacklevel=3)
        return True
    return bool(use_reentrant)


def checkpoint(function, *args, use_reentrant: bool | None = None,
               preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)``, keeping none of its activations for backward: backward
    runs it again. ``preserve_rng_state`` replays the random draws of the first run (dropout
    masks match). Both variants compute the same gradients here; they differ as in PyTorch in
    what they accept: ``use_reentrant=True`` (the default, with a warning when it is not
    passed) takes no keyword arguments for ``function`` and records nothing when no input
    requires grad; ``use_reentrant=False`` records the segment whenever grad is enabled, so
    parameters used inside receive gradients even from inputs that need none.

    >>> y = checkpoint(layer, x, use_reentrant=False)
    """
    reentrant = _reentrant(use_reentrant)
    if kwargs and reentrant:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    rng_state = default_generator.get_state() if preserve_rng_state else None
    with grad_mode.no_grad():
        outputs = function(*args, **kwargs)
    tensor_inputs = tuple(a for a in args if isinstance(a, Tensor))
    if not grad_mode.state.enabled:
        return outputs
    if reentrant and not any(t.requires_grad for t in tensor_inputs):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)
        return outputs
    if not isinstance(outputs, (Tensor, tuple, list)):
        # tensors inside anything else would come back without a graph: no gradients, silently
        raise TypeError(f"checkpoint: {getattr(function, '__name__', function)!r} returned "
                        f"{type(outputs).__name__}; return a tensor, or a tuple or list of them")
    differentiable = _tensors_of(outputs)
    segment = _Segment(function, args, kwargs, rng_state, len(differentiable))
    recorded = {}
    for index, out in enumerate(differentiable):
        # a new tensor on the same data: an input returned as is keeps its own graph
        wrapped = Tensor._make(out._data, out._dtype, out._backend)
        record(CheckpointBackward(segment, index), tensor_inputs, wrapped)
        recorded[id(out)] = wrapped
    if isinstance(outputs, Tensor):
        return recorded.get(id(outputs), outputs)
    return type(outputs)(recorded.get(id(o), o) for o in outputs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None,
                          **kwargs):
    """Run ``functions`` (a Sequential or a list of modules) on ``input`` in ``segments``
    pieces, each but the last checkpointed: only the tensors between the pieces are kept.

    >>> out = checkpoint_sequential(model, 4, x, use_reentrant=False)
    """
    reentrant = _reentrant(use_reentrant)
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    if hasattr(functions, "children"):
        functions = list(functions.children())
    size = len(functions) // segments

    def run(start: int, stop: int):
        def segment(x):
            for fn in functions[start:stop]:
                x = fn(x)
            return x
        return segment

    checkpointed = size * (segments - 1)
    for start in range(0, checkpointed, size):
        input = checkpoint(run(start, start + size), input, use_reentrant=reentrant,
                           preserve_rng_state=preserve)
    return run(checkpointed, len(functions))(input)
