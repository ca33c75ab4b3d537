"""The orthogonal factorizations of ``torch.linalg``, differentiable: qr, eigh, eigvalsh, svd
and svdvals.

Each forward runs on the host through numpy.linalg (``linalg/host.py``). A factorization has
several outputs (Q and R, eigenvalues and eigenvectors, U, S and Vh): it is one node whose
output packs them all, flattened, along one last dim, and the results are views into it. Its
backward then sees every output's gradient at once (zeros for those a loss does not use) and
reads the outputs back from its own saved output, without a reference cycle, so the second
derivative flows through all of them. The formulas are PyTorch's.

>>> U, S, Vh = micrograd.linalg.svd(micrograd.randn(4, 3), full_matrices=False)
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..ops.matrix import diag_embed, triu
from ..ops.movement import cat
from ..tensor import Tensor
from .host import HostResult, check_matrices, eye_like, on_host
from .solvers import inv

QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])


def _is_zero(grad: Tensor) -> bool:
    """Whether an output's gradient is all zeros and nothing depends on it (the gradient of an
    output the loss never used): its terms are skipped, as PyTorch skips an undefined one."""
    return not grad.requires_grad and not bool((grad != 0).any())


def _pack(*arrays: np.ndarray, batch: tuple) -> tuple:
    flat = [a.reshape(batch + (int(np.prod(a.shape[len(batch):])),)) for a in arrays]
    return (np.concatenate(flat, axis=-1),)


def unpack(packed: Tensor, shapes) -> list:
    """The outputs that ``packed`` holds, flattened one after another: views of ``shapes``."""
    batch, start, out = tuple(packed.shape[:-1]), 0, []
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(packed.narrow(-1, start, size).reshape(batch + tuple(shape)))
        start += size
    return out


class Packed(HostResult):
    """The outputs of one factorization, packed (see the module docstring)."""

    saves_output = True

    def forward(self, a, *, data, shapes, **options):
        self.shapes, self.options = shapes, options
        self.rows, self.cols = a.shape[-2:]
        return data

    def outputs_and_grads(self, grad):
        return unpack(self.output, self.shapes), unpack(grad, self.shapes)


class QR(Packed):
    def forward(self, a, **attrs):
        if a.shape[-2] < a.shape[-1]:       # a wide matrix's backward reads its right part
            self.save_for_backward(a)
        return super().forward(a, **attrs)

    def backward(self, grad):
        mode, m, n = self.options["mode"], self.rows, self.cols
        if mode == "r":
            raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                               "when mode='r'. Please use linalg.qr(A, mode='reduced') if you "
                               "are going to differentiate through linalg.qr.")
        if mode == "complete" and m > n:
            raise RuntimeError("The QR decomposition is not differentiable when "
                               "mode='complete' and nrows > ncols.")
        (Q, R), (grad_q, grad_r) = self.outputs_and_grads(grad)
        if m >= n:
            return _qr_grad(Q, R, grad_q, grad_r)
        # A = [X | Y], R = [U | V]: X = Q U is a square QR and V = Q^T Y, so Y's gradient is
        # Q gV and Q's gains Y gV^T (PyTorch's linalg_qr_backward for m < n).
        (a,) = self.saved_tensors
        Y, grad_v = a.narrow(-1, m, n - m), grad_r.narrow(-1, m, n - m)
        grad_x = _qr_grad(Q, R.narrow(-1, 0, m), grad_q + Y @ grad_v.mT,
                          grad_r.narrow(-1, 0, m))
        return cat([grad_x, Q @ grad_v], -1)


def _qr_grad(Q: Tensor, R: Tensor, grad_q: Tensor, grad_r: Tensor) -> Tensor:
    """A's gradient for A = Q R with m >= n: (gQ + Q syminvadj(triu(gR R^T - Q^T gQ))) R^-T."""
    M = triu(grad_r @ R.mT - Q.mT @ grad_q)
    M = M + M.mT - diag_embed(M.diagonal(0, -2, -1))
    return (grad_q + Q @ M) @ inv(R).mT


def qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """``(Q, R)`` with ``A = Q R``, Q orthonormal columns and R upper triangular. ``mode``:
    ``"reduced"`` (Q m x k, R k x n, k = min(m, n)), ``"complete"`` (Q m x m) or ``"r"`` (R
    only; Q is empty). Differentiable except in ``"r"`` mode and, for m > n, in ``"complete"``.

    >>> Q, R = micrograd.linalg.qr(micrograd.randn(4, 3))
    """
    check_matrices(A, "linalg.qr", square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    m, n = A.shape[-2:]
    batch = tuple(A.shape[:-2])
    q_cols = m if mode == "complete" else min(m, n)
    host_mode = "complete" if mode == "complete" else "reduced"
    (data,) = on_host(lambda a: _pack(*np.linalg.qr(a, mode=host_mode), batch=batch), A)
    Q, R = unpack(QR.apply(A, data=data, shapes=((m, q_cols), (q_cols, n)), mode=mode),
                  ((m, q_cols), (q_cols, n)))
    if mode == "r":
        Q = A.new_zeros((0,))
    return QRResult(Q, R)


class Eigh(Packed):
    def backward(self, grad):
        (L, V), (grad_l, grad_v) = self.outputs_and_grads(grad)
        inner = diag_embed(grad_l)
        if not _is_zero(grad_v):
            # V (skew(V^T gV) / E + diag gL) V^T, E_ij = L_j - L_i: infinite where eigenvalues
            # coincide, as in PyTorch (only losses blind to the eigenvectors are safe there).
            VgV = V.mT @ grad_v
            VgV = 0.5 * (VgV - VgV.mT)
            E = L.unsqueeze(-2) - L.unsqueeze(-1) + eye_like(V.shape[-1], V)
            inner = inner + VgV / E
        return V @ inner @ V.mT


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix of ``A``, eigenvalues ascending,
    read from its lower (``UPLO="L"``) or upper triangle. Eigenvectors are defined up to sign;
    their gradient is infinite where eigenvalues repeat.

    >>> micrograd.linalg.eigh(micrograd.tensor([[2., 1.], [1., 2.]])).eigenvalues
    tensor([1., 3.])
    """
    check_matrices(A, "linalg.eigh")
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    n, batch = A.shape[-1], tuple(A.shape[:-2])
    (data,) = on_host(lambda a: _pack(*np.linalg.eigh(a, UPLO=UPLO), batch=batch), A)
    shapes = ((n,), (n, n))
    return EighResult(*unpack(Eigh.apply(A, data=data, shapes=shapes), shapes))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of each symmetric matrix of ``A``, ascending (see :func:`eigh`)."""
    check_matrices(A, "linalg.eigvalsh")
    return eigh(A, UPLO).eigenvalues


class SVD(Packed):
    def backward(self, grad):
        (U, S, Vh), (grad_u, grad_s, grad_vh) = self.outputs_and_grads(grad)
        m, n = self.rows, self.cols
        k = min(m, n)
        if self.options["full_matrices"]:       # the extra columns carry no information
            U, grad_u = U.narrow(-1, 0, k), grad_u.narrow(-1, 0, k)
            Vh, grad_vh = Vh.narrow(-2, 0, k), grad_vh.narrow(-2, 0, k)
        use_u, use_v = not _is_zero(grad_u), not _is_zero(grad_vh)
        inner = diag_embed(grad_s)
        if use_u or use_v:
            # PyTorch's svd_backward: U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag gS] V^T,
            # E_jk = S_k^2 - S_j^2, plus the parts of gU, gV outside the spans of U, V.
            S2 = S * S
            E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye_like(k, S)
            off = 0
            if use_u:
                UgU = U.mT @ grad_u
                off = (UgU - UgU.mT) * S.unsqueeze(-2)
            if use_v:
                VgV = Vh @ grad_vh.mT
                off = off + S.unsqueeze(-1) * (VgV - VgV.mT)
            inner = inner + off / E
        if m > n and use_u:
            grad_u_s = grad_u / S.unsqueeze(-2)
            return (U @ inner + grad_u_s - U @ (U.mT @ grad_u_s)) @ Vh
        if m < n and use_v:
            s_grad_vh = grad_vh / S.unsqueeze(-1)
            return U @ (inner @ Vh + s_grad_vh - (s_grad_vh @ Vh.mT) @ Vh)
        return U @ inner @ Vh


def svd(A: Tensor, full_matrices: bool = True, *, driver=None) -> SVDResult:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending. With
    ``full_matrices`` (the default, as in PyTorch) U is m x m and Vh n x n; otherwise m x k
    and k x n, k = min(m, n). Singular vectors are defined up to sign: differentiate losses
    that do not depend on it (S, U S Vh, |U|...); the gradient is infinite where singular
    values repeat and U or Vh is used.

    >>> micrograd.linalg.svd(micrograd.tensor([[3., 0.], [0., 4.]])).S
    tensor([4., 3.])
    """
    check_matrices(A, "linalg.svd", square=False)
    m, n = A.shape[-2:]
    k, batch = min(m, n), tuple(A.shape[:-2])
    u_cols, v_rows = (m, n) if full_matrices else (k, k)
    (data,) = on_host(lambda a: _pack(*np.linalg.svd(a, full_matrices=full_matrices),
                                      batch=batch), A)
    shapes = ((m, u_cols), (k,), (v_rows, n))
    return SVDResult(*unpack(SVD.apply(A, data=data, shapes=shapes,
                                       full_matrices=full_matrices), shapes))


def svdvals(A: Tensor, *, driver=None) -> Tensor:
    """The singular values of each matrix of ``A``, descending."""
    check_matrices(A, "linalg.svdvals", square=False)
    return svd(A, full_matrices=False).S
