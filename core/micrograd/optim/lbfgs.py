"""L-BFGS with PyTorch's interface and control flow: ``step(closure)`` runs up to ``max_iter``
quasi-Newton iterations (the two-loop recursion over ``history_size`` curvature pairs), with a
fixed step or a strong-Wolfe line search (cubic interpolation, then zoom).

All parameters are viewed as one flat vector; scalars (dot products, step lengths, losses) are
Python floats, so the iteration logic is plain Python and every vector operation runs on the
parameters' backend.
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..ops.movement import cat
from ..tensor import Tensor
from .optimizer import Optimizer


def _dot(a: Tensor, b: Tensor) -> float:
    return float((a * b).sum().item())


def _max_abs(a: Tensor) -> float:
    return float(a.abs().max().item()) if a.numel() else 0.0


class LBFGS(Optimizer):
    """Limited-memory BFGS; ``step`` needs a ``closure`` that zeroes the gradients, computes
    the loss, calls ``backward()`` and returns the loss. One parameter group only.

    >>> opt = micrograd.optim.LBFGS(model.parameters(), lr=1, line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); return loss
    >>> opt.step(closure)
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None):
        if lr <= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        max_eval = max_eval if max_eval is not None else max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # ------------------------------------------------------------------ the flat vector
    def _flat_grad(self) -> Tensor:
        return cat([p.grad.reshape(-1) if p.grad is not None else p.new_zeros(p.numel())
                    for p in self._params])

    def _add_to_params(self, step: float, direction: Tensor) -> None:
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(direction[offset:offset + n].reshape(tuple(p.shape)) * step)
            offset += n

    def _snapshot(self) -> list[Tensor]:
        return [p.clone() for p in self._params]

    def _restore(self, values: list[Tensor]) -> None:
        for p, v in zip(self._params, values):
            p.copy_(v)

    def _evaluate(self, closure) -> float:
        with grad_mode.enable_grad():
            return float(closure())

    def _directional_evaluate(self, closure, start, step: float, direction: Tensor):
        """Loss and flat gradient at ``start + step * direction``; parameters are restored."""
        self._add_to_params(step, direction)
        loss = self._evaluate(closure)
        grad = self._flat_grad()
        self._restore(start)
        return loss, grad

    # ------------------------------------------------------------------ the step
    def step(self, closure=None):
        if closure is None:
            raise RuntimeError("LBFGS requires a closure that reevaluates the model and returns "
                               "the loss: opt.step(closure)")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with grad_mode.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        with grad_mode.no_grad():
            flat_grad = self._flat_grad()
            if _max_abs(flat_grad) <= tolerance_grad:
                return orig_loss
            d, t = state.get("d"), state.get("t")
            old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
            h_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")
            prev_loss = state.get("prev_loss")
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = _dot(y, s)
                    if ys > 1e-10:   # keep only pairs with positive curvature
                        if len(old_dirs) == history_size:
                            for history in (old_dirs, old_stps, ro):
                                history.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        h_diag = ys / _dot(y, y)
                    al = state.setdefault("al", [None] * history_size)
                    q = -flat_grad
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = _dot(old_stps[i], q) * ro[i]
                        q = q - old_dirs[i] * al[i]
                    d = r = q * h_diag
                    for i in range(len(old_dirs)):
                        be_i = _dot(old_dirs[i], r) * ro[i]
                        r = r + old_stps[i] * (al[i] - be_i)
                    d = r
                prev_flat_grad = flat_grad.clone()
                prev_loss = loss
                t = min(1.0, 1.0 / float(flat_grad.abs().sum().item())) * lr \
                    if state["n_iter"] == 1 else lr
                gtd = _dot(flat_grad, d)
                if gtd > -tolerance_change:   # not a descent direction
                    break
                ls_func_evals = 0
                if group["line_search_fn"] is not None:
                    start = self._snapshot()
                    loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                        lambda step: self._directional_evaluate(closure, start, step, d),
                        t, d, loss, flat_grad, gtd)
                    self._add_to_params(t, d)
                    opt_cond = _max_abs(flat_grad) <= tolerance_grad
                else:
                    self._add_to_params(t, d)
                    opt_cond = False
                    if n_iter != max_iter:
                        loss = self._evaluate(closure)
                        flat_grad = self._flat_grad()
                        opt_cond = _max_abs(flat_grad) <= tolerance_grad
                        ls_func_evals = 1
                current_evals += ls_func_evals
                state["func_evals"] += ls_func_evals
                if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                    break
                if _max_abs(d) * abs(t) <= tolerance_change or \
                        abs(loss - prev_loss) < tolerance_change:
                    break
            state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                         prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss


# ------------------------------------------------------------------ strong-Wolfe line search


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser, clamped to ``bounds`` (default: between the points), of the cubic through
    two points with values ``f`` and slopes ``g``; the bounds' midpoint if it has none."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = d2_square ** 0.5
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (sufficient decrease ``c1``,
    curvature ``c2``): bracket a minimum, then zoom into the bracket by cubic interpolation.
    Returns the loss and flat gradient there, ``t`` and the number of evaluations."""
    d_norm = _max_abs(d)
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = _dot(g_new, d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        overshot = f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
        if not overshot and abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if overshot or gtd_new >= 0:   # a minimum lies between t_prev and t
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: the cubic's minimum, between a little and ten times beyond t
        step = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                              bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = step
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
    # zoom: shrink the bracket until a point satisfies both conditions
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket_f[0], bracket_gtd[0],
                           bracket[1], bracket_f[1], bracket_gtd[1])
        # keep away from the ends of the bracket, unless progress there has stalled
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) \
                    else min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = \
                t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = \
                t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals
