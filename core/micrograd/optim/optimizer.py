"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

Subclasses implement ``_update(group, param, grad, state)`` for one parameter; ``step`` runs it
under ``no_grad`` so updates never build autograd graphs, and bumps each parameter's version
(an update is an in-place write, which a graph holding the old value must notice).
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..ops.creation import zeros_like
from ..ops.views import bump_version
from ..tensor import Tensor

_REQUIRED = object()


class Optimizer:
    """Base class of optimizers, with PyTorch's ``param_groups`` and ``state_dict`` layout."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):      # iterating it would optimise its rows
            raise TypeError(f"params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got a Tensor of shape {tuple(params.shape)}; "
                            f"pass [tensor] or model.parameters()")
        if isinstance(params, (str, bytes, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for key, value in self.defaults.items():
            if value is _REQUIRED and key not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    with grad_mode.no_grad():
                        p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the
        loss (with grad enabled) and its value is returned."""
        loss = None
        if closure is not None:
            with grad_mode.enable_grad():
                loss = closure()
        with grad_mode.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad
                    if grad._backend is not p._backend or grad._dtype is not p._dtype:
                        raise RuntimeError(f"gradient ({grad._dtype}, {grad.device}) does not "
                                           f"match its parameter ({p._dtype}, {p.device})")
                    self._update(group, p, grad, self.state.setdefault(p, {}))
                    bump_version(p)
        return loss

    def _update(self, group: dict, param: Tensor, grad: Tensor, state: dict) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`` with
        parameters numbered in group order, as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: {k: (v.clone() if isinstance(v, Tensor) else v)
                                for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")
        params = {}
        for mine, saved in zip(self.param_groups, groups):
            if len(mine["params"]) != len(saved["params"]):
                raise ValueError(f"loaded state dict contains a parameter group of "
                                 f"{len(saved['params'])} parameters that doesn't match the "
                                 f"size of optimizer's group ({len(mine['params'])})")
            params.update(zip(saved["params"], mine["params"]))
            for key, value in saved.items():
                if key != "params":
                    mine[key] = value
        self.state = {}
        for idx, saved_state in state_dict["state"].items():
            p = params[int(idx)]
            self.state[p] = {k: (v.to(p._backend).to(p._dtype).clone()
                                 if isinstance(v, Tensor) and v._dtype.is_floating_point
                                 else v) for k, v in saved_state.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def zeros_state(param: Tensor) -> Tensor:
    """A zero tensor shaped, typed and placed like ``param`` (optimizer state)."""
    return zeros_like(param)
