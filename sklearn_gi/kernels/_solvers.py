"""Preconditioned conjugate gradients for the joint kernel system, and the choice of solver."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._matvec import JointKernelOperator, supports_matrix_free
from ._preconditioners import PivotedCholeskyPreconditioner

__all__ = ["conjugate_gradients", "solve_joint_system", "resolve_solver", "preconditioner_rank",
           "CG_MIN_ROWS"]

# "auto" solves by conjugate gradients from this many joint rows on (dense Cholesky
# below): see benchmarks/results/solver_switch.md
CG_MIN_ROWS = 15000
# rank of the pivoted-Cholesky preconditioner: PRECONDITIONER_ELEMENTS / N columns for
# N joint rows (its factor, scaled copy and SVD hold about three N x rank arrays:
# 0.7 GB), within [PRECONDITIONER_MIN_RANK, PRECONDITIONER_MAX_RANK]. A larger rank
# takes fewer CG iterations, and each costs more (the preconditioner is applied
# once per iteration, O(N rank)); measured on the 9-D function of
# kernel_scaling_cg at noise 0.01 (one thread, the same hyperparameters): at 15,000
# rows rank 300 stopped at the 1,000-iteration cap (residual 2.7e-3) in 50 s, rank
# 1,000 converged in 851 iterations (52 s) and rank 2,000 in 390 (45 s); at 30,000
# rows, both at the cap, rank 300 reached a residual of 0.026 and a test NRMSE of
# 0.036 in 189 s, rank 1,000 1.1e-4 and 0.021 in 219 s
PRECONDITIONER_ELEMENTS = 30_000_000
PRECONDITIONER_MIN_RANK = 300
PRECONDITIONER_MAX_RANK = 2000


def preconditioner_rank(n_rows):
    """Default rank of the pivoted-Cholesky preconditioner for ``n_rows`` joint rows."""
    return int(min(max(PRECONDITIONER_ELEMENTS // max(n_rows, 1), PRECONDITIONER_MIN_RANK),
                   PRECONDITIONER_MAX_RANK))


CG_TOL = 1e-6
CG_MAX_ITER = 1000


def resolve_solver(solver, n_rows, kernel, n_features, has_jacobian=False):
    """``"cholesky"`` or ``"cg"`` for ``solver`` in {"auto", "cholesky", "cg"}.

    ``"cg"`` needs a kernel the matrix-free products support and no feature
    Jacobian; asking for it otherwise is a ``ValueError``.
    """
    if solver == "cholesky":
        return "cholesky"
    supported = not has_jacobian and supports_matrix_free(kernel, n_features)
    if solver == "cg":
        if not supported:
            raise ValueError(
                "solver='cg' needs a kernel that is a sum of constant-scaled RBF, Matern(nu=2.5 "
                "or inf), RationalQuadratic, ConstantKernel and WhiteKernel terms and no dZdX; got "
                f"kernel={kernel}{' with dZdX' if has_jacobian else ''}. Use solver='cholesky'."
            )
        return "cg"
    return "cg" if supported and n_rows >= CG_MIN_ROWS else "cholesky"


def conjugate_gradients(matvec, B, precondition=None, tol=None, max_iter=None, X0=None):
    """Solve ``A X = B`` for symmetric positive definite ``A`` given by ``matvec``.

    Every column of ``B`` (N, r) runs its own preconditioned CG recursion;
    the products of all columns share one call of ``matvec``. A column stops
    once its residual norm is at most ``tol`` times its right-hand side's.

    Returns
    -------
    X : ndarray of shape (N, r)
    info : dict
        ``iterations`` (the largest over the columns), ``residual`` (the
        largest relative residual norm) and ``converged``.
    """
    tol = CG_TOL if tol is None else tol
    max_iter = CG_MAX_ITER if max_iter is None else max_iter
    B = np.asarray(B, dtype=float)
    vector = B.ndim == 1
    B = B.reshape(B.shape[0], -1)
    precondition = precondition or (lambda R: R)
    X = np.zeros_like(B) if X0 is None else np.array(X0, dtype=float).reshape(B.shape)
    R = B - matvec(X) if X0 is not None else B.copy()
    b_norm = np.linalg.norm(B, axis=0)
    b_norm[b_norm == 0] = 1.0
    Z = precondition(R)
    Pdir = Z.copy()
    rz = np.einsum("ij,ij->j", R, Z)
    active = np.linalg.norm(R, axis=0) / b_norm > tol
    iteration = 0
    while active.any() and iteration < max_iter:
        iteration += 1
        cols = np.flatnonzero(active)
        AP = matvec(Pdir[:, cols])
        curvature = np.einsum("ij,ij->j", Pdir[:, cols], AP)
        step = np.where(curvature > 0, rz[cols] / np.where(curvature > 0, curvature, 1.0), 0.0)
        X[:, cols] += step * Pdir[:, cols]
        R[:, cols] -= step * AP
        Zc = precondition(R[:, cols])
        rz_new = np.einsum("ij,ij->j", R[:, cols], Zc)
        Pdir[:, cols] = Zc + (rz_new / np.where(rz[cols] != 0, rz[cols], 1.0)) * Pdir[:, cols]
        rz[cols] = rz_new
        active[cols] = (np.linalg.norm(R[:, cols], axis=0) / b_norm[cols] > tol) & (curvature > 0)
    residual = float(np.max(np.linalg.norm(B - matvec(X), axis=0) / b_norm)) if B.size else 0.0
    info = {"iterations": iteration, "residual": residual, "converged": residual <= 10 * tol}
    return (X[:, 0] if vector else X), info


def solve_joint_system(operator, B, *, rank=None, tol=None, max_iter=None, preconditioner=None, warn=True):
    """Solve ``operator @ X = B`` by CG with a pivoted-Cholesky preconditioner.

    Returns ``X``, the preconditioner (reusable for further solves) and the CG info.
    """
    tol = CG_TOL if tol is None else tol
    if preconditioner is None:
        rank = preconditioner_rank(operator.shape[0]) if rank is None else rank
        preconditioner = PivotedCholeskyPreconditioner(operator, rank)
    X, info = conjugate_gradients(operator.matvec, B, preconditioner.solve, tol=tol, max_iter=max_iter)
    if warn and not info["converged"]:
        warnings.warn(
            f"Conjugate gradients stopped after {info['iterations']} iterations with a relative "
            f"residual of {info['residual']:.2g} (tolerance {tol:g}): the joint system is "
            "ill-conditioned. Increase alpha (and gradient_alpha), or use solver='cholesky' "
            "if the matrix fits in memory.",
            ConvergenceWarning,
            stacklevel=3,
        )
    info["rank"] = preconditioner.rank
    return X, preconditioner, info


__all__ += ["JointKernelOperator"]
