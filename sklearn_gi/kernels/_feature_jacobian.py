"""The joint covariance of values and raw partials through a feature Jacobian, without ``(n, n, p, p)``.

With descriptors ``z = phi(x)`` (``p`` of them, Jacobian ``J = dz/dx`` of
shape ``(p, d)`` at each point) the derivative observations are the raw
partials ``J^T grad_z f``, and their covariance between points ``a`` and ``b``
is ``J_a^T H_ab J_b`` with ``H_ab`` the kernel's ``(p, p)`` second-derivative
block. Building every ``H_ab`` first costs ``n^2 p^2`` numbers (ethanol's
inverse distances, ``p = 36``: 12 GB at ``n = 600``), more than the
``(n (1 + d))^2`` joint matrix itself. For a stationary kernel ``k = phi(s)``,
``s = |z~_a - z~_b|^2`` with ``z~ = z / l`` (``l`` per feature), the block is
``H = -4 phi'' u u^T - 2 phi' diag(1 / l^2)``, ``u = (z_a - z_b) / l^2``, so
with ``J~ = diag(1 / l) J``

* ``J_a^T H J_b = -4 phi'' L R^T - 2 phi' J~_a^T J~_b``,
  ``L = J~_a^T (z~_a - z~_b)``, ``R = J~_b^T (z~_a - z~_b)``;
* the value-gradient blocks are ``2 phi' L`` and ``-2 phi' R``.

``J~_a^T J~_b`` for all pairs is one matrix product (the Gram matrix of the
scaled Jacobians, the size of the output), ``L`` and ``R`` are batched
``(n, p) @ (p, d)`` products: this is sGDML's own contraction. A
:class:`~sklearn_gi.kernels.PermutationInvariantKernel` is a sum of such
terms, one per permutation ``q``, with the left point's descriptors and
Jacobian rows permuted (``z_a[q]``, ``J_a[q]``). Rows are processed in blocks:
peak memory is the output plus ``O(block * n * d * max(d, p))``; each row block
computes the columns from its first point on and the rest is mirrored.

Covered: sums of ``ConstantKernel``-scaled stationary kernels (RBF, Matern
1.5/2.5/inf, RationalQuadratic; isotropic or anisotropic), ``ConstantKernel``,
``WhiteKernel`` and ``GradientWhiteKernel`` terms, and
:class:`~sklearn_gi.kernels.PermutationInvariantKernel` around any of these.
Other kernels (``DotProduct``, products of two non-constant kernels) keep the
general path, which builds the descriptor-space blocks and projects them.
"""

import numpy as np

from ..gaussian_process._derivative_kernels import (
    _Constant,
    _GradientWhite,
    _Product,
    _Stationary,
    _Sum,
    _White,
    compile_kernel,
)
from ._permutation import _PermutationSum

__all__ = ["feature_jacobian_covariance", "supports_feature_jacobian"]

# elements of the (d, block, d, n) derivative temporary: 2**22 doubles (32 MB)
_BLOCK_ELEMENTS = 2**22


class _Unsupported(Exception):
    pass


def _terms(node, scale=1.0, perm=None, out=None):
    """``[(scale, leaf, permutation or None), ...]`` of a covered kernel; raises ``_Unsupported``."""
    out = [] if out is None else out
    if isinstance(node, _Sum):
        _terms(node.left, scale, perm, out)
        _terms(node.right, scale, perm, out)
    elif isinstance(node, _Product):
        if node._scale_side is None:
            raise _Unsupported
        const, other = node._scaled()
        _terms(other, scale * const.value, perm, out)
    elif isinstance(node, _PermutationSum):
        for q, sub in zip(node.perms, node.nodes):
            # the sub-kernel sees x[:, perm][:, q] = x[:, perm[q]]
            _terms(sub, scale, q if perm is None else perm[q], out)
    elif isinstance(node, _GradientWhite):
        pass  # zero blocks: JointObservations.kernel_noise adds it to the diagonal
    elif isinstance(node, (_Constant, _White, _Stationary)):
        out.append((scale, node, perm))
    else:
        raise _Unsupported
    return out


def supports_feature_jacobian(kernel, n_features):
    """Whether :func:`feature_jacobian_covariance` covers ``kernel`` (else: the general path)."""
    try:
        _terms(compile_kernel(kernel, n_features))
    except (_Unsupported, TypeError):
        return False
    return True


def feature_jacobian_covariance(kernel, Z, J, out=None):
    """Joint covariance of the values and the raw partials ``J^T grad_z f`` at ``Z``.

    Parameters
    ----------
    kernel : scikit-learn kernel or compiled node
        A kernel that :func:`supports_feature_jacobian` accepts.
    Z : ndarray of shape (n, p)
        Descriptors (the kernel's inputs).
    J : ndarray of shape (n, p, d)
        ``dZ/dX`` at each point.
    out : ndarray of shape (n (1 + d), n (1 + d)), optional
        Written over (not added to).

    Returns
    -------
    K : ndarray of shape (n (1 + d), n (1 + d))
        Component-major (the ``n`` values, then every point's ``df/dx_1``,
        ...), without the noise of ``GradientWhiteKernel`` terms.
    """
    n, p = Z.shape
    d = J.shape[2]
    terms = _terms(compile_kernel(kernel, p))
    N = n * (1 + d)
    if out is None:
        out = np.zeros((N, N))
    else:
        out[...] = 0.0
    view = out.reshape(1 + d, n, 1 + d, n)
    step = max(1, _BLOCK_ELEMENTS // (d * d * n))
    starts = range(0, n, step)
    scaled = {}  # per length scale: its root, z~ (n, p) and J~ (n, p, d)
    for scale, leaf, perm in terms:
        if isinstance(leaf, _Constant):
            view[0, :, 0, :] += scale * leaf.value
            continue
        if isinstance(leaf, _White):
            if perm is None:  # inside a permutation sum white noise meets no identical point
                values = view[0, :, 0, :]
                values[np.diag_indices(n)] += scale * leaf.noise
            continue
        key = leaf.inv_sq.tobytes()
        if key not in scaled:
            root = np.sqrt(leaf.inv_sq)
            scaled[key] = (root, Z * root, J * root[None, :, None])
        for start in starts:
            _add_block(view, leaf, scale, perm, slice(start, min(n, start + step)), Z, J, *scaled[key])
    # the covariance is symmetric: each row block computed its columns from its first
    # point on; the columns before come from the rows computed earlier
    for start in starts:
        rows = slice(start, min(n, start + step))
        view[:, rows, :, :start] = view[:, :start, :, rows].transpose(2, 3, 0, 1)
    return out


def _add_block(view, leaf, scale, perm, rows, Z, J, root, Zs, Js):
    """Add one term's covariance of the points ``rows`` with the points from ``rows.start`` on."""
    p, d = Js.shape[1:]
    cols = slice(rows.start, Zs.shape[0])
    if perm is None:
        left_z, left_J = Zs[rows], Js[rows]
    else:  # the left point's descriptors permuted, each scaled by the length scale of its new slot
        left_z = Z[rows][:, perm] * root
        left_J = J[rows][:, perm, :] * root[None, :, None]
    right_z, right_J = Zs[cols], Js[cols]
    m, n = left_z.shape[0], right_z.shape[0]
    D = left_z[:, None, :] - right_z[None, :, :]  # (m, n, p)
    s = np.einsum("abi,abi->ab", D, D)
    phi0, phi1, phi2 = leaf._phi(s, 2)
    view[0, rows, 0, cols] += scale * phi0
    L = np.matmul(D, left_J)  # (m, n, d): J~_a^T (z~_a - z~_b)
    R = np.matmul(D.transpose(1, 0, 2), right_J).transpose(1, 0, 2)  # (m, n, d): J~_b^T (z~_a - z~_b)
    del D
    c1 = (2.0 * scale) * phi1
    view[1:, rows, 0, cols] += c1[None] * L.transpose(2, 0, 1)
    view[0, rows, 1:, cols] -= (c1[..., None] * R).transpose(0, 2, 1)
    # -2 phi' J~_a^T J~_b: a block of the Gram matrix of the scaled Jacobians, (d, m, d, n)
    gram = (np.ascontiguousarray(left_J.transpose(2, 0, 1)).reshape(d * m, p)
            @ np.ascontiguousarray(right_J.transpose(1, 2, 0)).reshape(p, d * n))
    gram = gram.reshape(d, m, d, n)
    gram *= -c1[None, :, None, :]
    # -4 phi'' L R^T, one left partial at a time: (m, d, n) temporaries
    weighted_L = ((-4.0 * scale) * phi2)[None] * L.transpose(2, 0, 1)  # (d, m, n)
    R_t = R.transpose(0, 2, 1)  # (m, d, n)
    for r in range(d):
        gram[r] += weighted_L[r][:, None, :] * R_t
    view[1:, rows, 1:, cols] += gram
