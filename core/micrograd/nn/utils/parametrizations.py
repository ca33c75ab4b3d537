"""``micrograd.nn.utils.parametrizations``: weight normalisation, spectral normalisation and
orthogonal weights, each a parametrization (:mod:`.parametrize`) with PyTorch's names, state
dict keys and numbers.

>>> layer = weight_norm(micrograd.nn.Linear(20, 40))
>>> sorted(layer.state_dict())
['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
"""

from __future__ import annotations

import functools

import numpy as np

from ...autograd import grad_mode
from ...linalg import householder_product, matrix_exp, solve
from ...linalg.toplevel import geqrf
from ...ops.clamp import allclose
from ...ops.creation import eye, zeros
from ...ops.movement import cat
from ...random import randn
from ...tensor import Tensor
from .. import functional as F
from ..module import Module
from ..modules.conv import ConvTranspose2d
from . import parametrize
from .weight_norm import _norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _weight_of(module: Module, name: str) -> Tensor:
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    return weight


# ------------------------------------------------------------------ weight norm

class _WeightNorm(Module):
    """``weight = g * v / ||v||``, the norm over every dimension but ``dim`` (the whole tensor
    for ``dim=-1``, PyTorch's reading of ``None``); the originals are ``g`` then ``v``."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        return _norm_except_dim(weight, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Split ``module.<name>`` into a magnitude (``parametrizations.<name>.original0``, its
    norm over every dimension but ``dim``; over all of them with ``dim=None``) and a direction
    (``original1``, the weight itself); returns the module.

    >>> conv = weight_norm(micrograd.nn.Conv1d(4, 8, 3), dim=0)
    """
    _weight_of(module, name)
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    module.register_load_state_dict_pre_hook(functools.partial(_load_old_weight_norm, name))
    return module


def _load_old_weight_norm(name: str, module, state_dict, prefix, *_) -> None:
    """Checkpoints of the older ``nn.utils.weight_norm`` keep ``<name>_g`` and ``<name>_v``;
    they load into this parametrization's ``original0`` and ``original1``, as in PyTorch."""
    g, v = f"{prefix}{name}_g", f"{prefix}{name}_v"
    if g in state_dict and v in state_dict:
        state_dict[f"{prefix}parametrizations.{name}.original0"] = state_dict.pop(g)
        state_dict[f"{prefix}parametrizations.{name}.original1"] = state_dict.pop(v)


# ------------------------------------------------------------------ spectral norm

class _SpectralNorm(Module):
    """``weight / sigma``, ``sigma`` the largest singular value of the weight as a matrix
    (dimension ``dim`` first, the rest flattened) estimated by power iteration on the buffers
    ``_u`` and ``_v``, which advance in training mode only. A 1-d weight is just normalised."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            matrix = self._reshape_weight_to_matrix(weight.detach())
            rows, cols = matrix.shape
            like = {"dtype": weight.dtype, "device": weight._backend}
            self.register_buffer("_u", F.normalize(randn(rows, **like), dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(randn(cols, **like), dim=0, eps=eps))
            self._power_method(matrix, 15)     # start from a good estimate, as PyTorch does

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, matrix: Tensor, iterations: int) -> None:
        with grad_mode.no_grad():
            for _ in range(iterations):
                self._u.copy_(F.normalize(matrix.mv(self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(matrix.mT.mv(self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        matrix = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(matrix, self.n_power_iterations)
        # copies for the graph: the buffers change in place at the next training call
        u, v = self._u.clone(), self._v.clone()
        return weight / u.dot(matrix.mv(v))

    def right_inverse(self, value):
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm on every read; ``dim`` is the output
    dimension (1 for transposed convolutions, 0 otherwise, by default). The power iteration's
    vectors are the buffers ``parametrizations.<name>.0._u`` and ``._v``. Returns the module.

    >>> critic = spectral_norm(micrograd.nn.Conv2d(3, 64, 4))
    """
    weight = _weight_of(module, name)
    if dim is None:
        # ConvTranspose1d is a ConvTranspose2d here; both hold (in, out, ...) weights
        dim = 1 if isinstance(module, ConvTranspose2d) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ------------------------------------------------------------------ orthogonal

_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


class _Orthogonal(Module):
    """An orthogonal matrix (or batch of them) of the weight's shape, from an unconstrained
    one: the matrix exponential or the Cayley transform of the skew-symmetric matrix built from
    its lower triangle, or the product of the Householder reflectors below its diagonal. With
    ``use_trivialization`` the result is ``base @ Q``, ``base`` a buffer set on assignment, so
    assigning any orthogonal matrix works and the original restarts at the map's identity."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X):
        n, k = X.shape[-2:]
        transposed = n < k
        if transposed:                          # work with a tall matrix
            X = X.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            X = X.tril()
            if n != k:                          # embed in a square matrix
                X = cat([X, zeros(n, n - k, dtype=X.dtype, device=X._backend)
                         .expand(*X.shape[:-2], -1, -1)], dim=-1)
            A = X - X.mT                         # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                Q = matrix_exp(A)
            else:                                # (I + A/2)(I - A/2)^-1, the Cayley retraction
                identity = eye(n, dtype=A.dtype, device=A._backend)
                Q = solve(identity - 0.5 * A, identity + 0.5 * A)
            if n != k:
                Q = Q[..., :k]
        else:
            A = X.tril(-1)
            tau = 2.0 / (1.0 + (A * A).sum(dim=-2))
            Q = householder_product(A, tau)
            # X's diagonal holds the signs (+-1) of Q's columns; not differentiated
            Q = Q * X.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)
        if "base" in self._buffers:
            Q = self.base @ Q
        return Q.mT if transposed else Q

    def right_inverse(self, Q):
        with grad_mode.no_grad():
            return self._right_inverse(Q)

    def _right_inverse(self, Q):
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(Q.shape)}.")
        Q_init = Q
        n, k = Q.shape[-2:]
        transposed = n < k
        if transposed:
            Q = Q.mT
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map != "householder":
                raise NotImplementedError("It is not possible to assign to the matrix "
                                          "exponential or the Cayley parametrizations when "
                                          "use_trivialization=False.")
            # the reflectors of Q's QR decomposition, with diag(R) > 0 read off their signs
            A, tau = geqrf(Q)
            diagonal = A.diagonal(dim1=-2, dim2=-1)
            # LAPACK leaves tau exactly 0 where it skips a reflection: flip that sign
            diagonal.copy_(diagonal.sign() * (1 - 2 * (tau == 0.0).to(A.dtype)))
            return A.mT if transposed else A
        if n == k and _is_orthogonal(Q):
            Q = Q.clone()
        else:
            if n != k:                           # complete Q to a square matrix first
                Q = cat([Q, randn(*Q.shape[:-2], n, n - k, dtype=Q.dtype, device=Q._backend)],
                        dim=-1)
            Q = _make_orthogonal(Q)
        self.base = Q
        # -I: the householder map sends it to the identity (and the others send anything with
        # a zero lower triangle there)
        neg_identity = zeros(Q_init.shape, dtype=Q_init.dtype, device=Q_init._backend)
        neg_identity.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_identity


def _is_orthogonal(Q: Tensor) -> bool:
    n, k = Q.shape[-2:]
    identity = eye(k, dtype=Q.dtype, device=Q._backend)
    return allclose(Q.mT @ Q, identity, atol=10.0 * n * float(np.finfo(Q.dtype.numpy).eps))


def _make_orthogonal(A: Tensor) -> Tensor:
    """The Q of ``A = QR`` with ``diag(R) >= 0`` (``A`` tall)."""
    X, tau = geqrf(A)
    Q = householder_product(X, tau)
    return Q * X.diagonal(dim1=-2, dim2=-1).sign().unsqueeze(-2)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Keep ``module.<name>`` (a matrix or a batch of them) orthogonal: ``Q^T Q = I`` for a tall
    one, ``Q Q^T = I`` for a wide one. ``orthogonal_map`` is ``"matrix_exp"``, ``"cayley"`` or
    ``"householder"`` (the default: matrix_exp for square weights, householder otherwise).
    Returns the module.

    >>> layer = orthogonal(micrograd.nn.Linear(4, 4))
    >>> Q = layer.weight
    >>> bool(((Q @ Q.T - micrograd.eye(4)).abs() < 1e-5).all())
    True
    """
    weight = _weight_of(module, name)
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    parametrization = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, parametrization, unsafe=True)
    return module
