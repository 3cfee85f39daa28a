"""A joint value-and-gradient kernel model solved by conjugate gradients, never storing the matrix."""

import numpy as np

from ._matvec import JointKernelOperator
from ._solvers import solve_joint_system

__all__ = ["IterativeJointSolution", "search_subset"]


class IterativeJointSolution:
    """Dual weights of ``(K + diag(noise)) a = t`` by PCG, and the products that use them.

    One operator (and preconditioner) per group of outputs that share a
    pattern of known observations (``JointObservations.groups``).

    Parameters
    ----------
    kernel : scikit-learn kernel or compiled node
    system : JointObservations
        Without a feature Jacobian.
    noise : ndarray of shape (n_observations,)
    row_scale : ndarray of shape (n_observations,) or None
        Solve ``(S K S + diag(noise)) c = S t`` and keep ``a = S c``
        (weighted kernel ridge); ``None`` for the plain system.
    """

    def __init__(self, kernel, system, noise, row_scale=None):
        self.system = system
        with_gradients = system.n_gradients > 0
        dual = np.zeros((system.n_observations, system.k))
        kernel_noise = system.kernel_noise(kernel)  # GradientWhiteKernel's diagonal, None without
        self.groups, self.info = [], []
        for group in system.groups:
            scale = None
            if row_scale is not None:
                scale = row_scale if group.rows is None else row_scale[group.rows]
            operator = JointKernelOperator(kernel, system.X, with_gradients, noise, group.rows, scale,
                                           kernel_noise=kernel_noise)
            targets = group.targets(system.targets)
            if scale is not None:
                targets = targets * scale[:, None]
            with operator.kernel_cache():
                coef, preconditioner, info = solve_joint_system(operator, targets)
            if scale is not None:
                coef = coef * scale[:, None]
            group.put(dual, coef)
            self.groups.append((group, operator, preconditioner))
            self.info.append(info)
        self.dual = dual
        self.n_iterations = max(info["iterations"] for info in self.info)

    def means(self, X, want_values, want_gradients):
        """Posterior means: values ``(m, k)`` and gradients ``(m, k, p)`` (None when not wanted)."""
        operator = self.groups[0][1]
        m, p = X.shape
        out = operator.cross(X, self.dual, want_gradients)
        values = out[:m] if want_values else None
        grads = out[m:].reshape(p, m, -1).transpose(1, 2, 0) if want_gradients else None
        return values, grads

    def reduction(self, cross, pairwise=False):
        """``c K^-1 c^T`` for the rows ``c`` of ``cross`` (rows, N), per group of outputs.

        The diagonal ``(rows, k)``, or the full ``(rows, rows, k)`` with
        ``pairwise``: one CG solve with ``rows`` right-hand sides.
        """
        rows = cross.shape[0]
        out = np.zeros((rows, rows, self.system.k) if pairwise else (rows, self.system.k))
        for group, operator, preconditioner in self.groups:
            C = group.columns(cross)
            if operator.row_scale is not None:
                raise NotImplementedError("posterior variances of a weighted system")
            with operator.kernel_cache():
                V, _, _ = solve_joint_system(operator, C.T, preconditioner=preconditioner)
            if pairwise:
                out[:, :, group.outputs] = (C @ V)[:, :, None]
            else:
                out[:, group.outputs] = np.einsum("ij,ji->i", C, V)[:, None]
        return out


def search_subset(indices, X, Y, G, J, noise, noise_scale=None):
    """The joint observations and diagonal noise of the samples ``indices``.

    ``noise`` is component-major like the joint rows: ``(1 + d, n)`` raveled;
    ``noise_scale`` is the full system's (the units of ``GradientWhiteKernel``).
    """
    from ._joint import JointObservations

    n = X.shape[0]
    sub_J = J[indices] if J is not None and J.ndim == 3 else J
    system = JointObservations(X[indices], Y[indices], None if G is None else G[indices], sub_J,
                               noise_scale=noise_scale)
    sub_noise = noise.reshape(-1, n)[:, indices].ravel()
    return system, sub_noise
