"""The joint covariance of values and raw partials through a feature Jacobian, without ``(n, n, p, p)``.

With descriptors ``z(x)`` (``p`` of them, Jacobian ``J = dz/dx`` of
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
computes the columns from its first point on and the rest is mirrored (the
kernel is symmetric; for a permutation sum, when the permutations form a group
as :class:`~sklearn_gi.kernels.PermutationInvariantKernel` asks).

Covered: sums of ``ConstantKernel``-scaled stationary kernels (RBF, Matern
1.5/2.5/inf, RationalQuadratic; isotropic or anisotropic), ``ConstantKernel``,
``WhiteKernel`` and ``GradientWhiteKernel`` terms, and
:class:`~sklearn_gi.kernels.PermutationInvariantKernel` around any of these.
Other kernels (``DotProduct``, products of two non-constant kernels) keep the
general path, which builds the descriptor-space blocks and projects them.

The likelihood gradient, ``d sum(A * K) / d theta`` for an adjoint ``A`` of
the joint matrix (:func:`feature_jacobian_gradient`), is contracted the same
way: per pair of points the adjoint meets ``phi``, ``L``, ``R``, ``L R^T`` and
the Gram block; for ``t = log l`` of an isotropic length scale the derivative
blocks have the covariance's form with ``phi, phi', phi''`` replaced by
``-2 s phi'``, ``-2 s phi'' - 2 phi'`` and ``-2 s phi^(3) - 4 phi''``. It
covers free isotropic length scales of RBF and Matern 1.5/2.5, constant
factors and terms and white noise; anisotropic or RationalQuadratic leaves
with free hyperparameters fall back to the general path
(:func:`supports_feature_jacobian_gradient`).
"""

import numpy as np

from ._derivative_kernels import (
    _RBF,
    _Constant,
    _GradientWhite,
    _Matern32,
    _Matern52,
    _Product,
    _Stationary,
    _Sum,
    _White,
    compile_kernel,
)
from ._permutation import _PermutationSum

__all__ = ["feature_jacobian_covariance", "feature_jacobian_gradient", "supports_feature_jacobian",
           "supports_feature_jacobian_gradient"]

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


def supports_feature_jacobian_gradient(kernel, n_features):
    """Whether :func:`feature_jacobian_gradient` covers ``kernel``'s free hyperparameters."""
    try:
        terms = _terms(compile_kernel(kernel, n_features))
    except (_Unsupported, TypeError):
        return False
    return all(not isinstance(leaf, _Stationary) or leaf.n_theta == 0
               or (type(leaf) in (_RBF, _Matern52, _Matern32) and not leaf.anisotropic)
               for _, leaf, _ in terms)


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


def feature_jacobian_gradient(kernel, Z, J, A):
    """``d sum(A * K) / d theta`` for ``K = feature_jacobian_covariance(kernel, Z, J)``.

    ``theta`` is the compiled kernel's (scikit-learn's order); ``A`` any
    ``(n (1 + d), n (1 + d))`` adjoint (triangular adjoints work: every entry
    is contracted). ``GradientWhiteKernel`` entries are left zero (the joint
    system fills them). Memory: ``O(block * n * d * max(d, p))`` beyond ``A``.
    """
    n, p = Z.shape
    d = J.shape[2]
    node = compile_kernel(kernel, p)
    A4 = A.reshape(1 + d, n, 1 + d, n)
    step = max(1, _BLOCK_ELEMENTS // (d * d * n))
    return _gradient(node, A4, 1.0, None, Z, J, step, {})[0]


def _gradient(node, A4, scale, perm, Z, J, step, cache):
    """``(gradient of sum(A * scale * node), sum(A * node))`` over ``node``'s theta."""
    if isinstance(node, _Sum):
        gl, il = _gradient(node.left, A4, scale, perm, Z, J, step, cache)
        gr, ir = _gradient(node.right, A4, scale, perm, Z, J, step, cache)
        return np.concatenate([gl, gr]), il + ir
    if isinstance(node, _Product):
        const, other = node._scaled()
        g_other, inner = _gradient(other, A4, scale * const.value, perm, Z, J, step, cache)
        g_const = np.array([scale * const.value * inner]) if const.n_theta else np.zeros(0)
        parts = [g_const, g_other] if node._scale_side == "left" else [g_other, g_const]
        return np.concatenate(parts), const.value * inner
    if isinstance(node, _PermutationSum):
        grad, inner = np.zeros(node.n_theta), 0.0
        for q, sub in zip(node.perms, node.nodes):
            g, i = _gradient(sub, A4, scale, q if perm is None else perm[q], Z, J, step, cache)
            grad, inner = grad + g, inner + i
        return grad, inner
    if isinstance(node, _GradientWhite):
        return np.zeros(node.n_theta), 0.0
    if isinstance(node, _Constant):
        inner = node.value * float(A4[0, :, 0, :].sum())
    elif isinstance(node, _White):
        inner = 0.0 if perm is not None else node.noise * float(np.trace(A4[0, :, 0, :]))
    else:
        return _stationary_gradient(node, A4, scale, perm, Z, J, step, cache)
    return (np.array([scale * inner]) if node.n_theta else np.zeros(0)), inner


def _stationary_gradient(leaf, A4, scale, perm, Z, J, step, cache):
    """A stationary leaf's (isotropic) length-scale gradient and its inner product with ``A``."""
    n, p = Z.shape
    d = J.shape[2]
    key = leaf.inv_sq.tobytes()
    if key not in cache:
        root = np.sqrt(leaf.inv_sq)
        Js = J * root[None, :, None]
        cache[key] = (root, Z * root, Js, np.ascontiguousarray(Js.transpose(1, 2, 0)).reshape(p, d * n))
    root, Zs, Js, right_matrix = cache[key]
    inner, length = 0.0, 0.0
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        if perm is None:
            left_z, left_J = Zs[rows], Js[rows]
        else:
            left_z = Z[rows][:, perm] * root
            left_J = J[rows][:, perm, :] * root[None, :, None]
        m = left_z.shape[0]
        D = left_z[:, None, :] - Zs[None, :, :]
        s = np.einsum("abi,abi->ab", D, D)
        L = np.matmul(D, left_J)  # (m, n, d)
        R = np.matmul(D.transpose(1, 0, 2), Js).transpose(1, 0, 2)
        del D
        gram = (np.ascontiguousarray(left_J.transpose(2, 0, 1)).reshape(d * m, p) @ right_matrix)
        gram = gram.reshape(d, m, d, n)
        # the adjoint contracted with each kind of block, per pair of points (m, n)
        c0 = A4[0, rows, 0, :]
        cx = (np.einsum("ran,anr->an", A4[1:, rows, 0, :], L)
              - np.einsum("asn,ans->an", A4[0, rows, 1:, :], R))
        R_t = R.transpose(0, 2, 1)  # (m, d, n)
        c_gram = np.zeros((m, n))
        c_lr = np.zeros((m, n))
        for r in range(d):
            adj = A4[1 + r, rows, 1:, :]  # (m, d, n)
            c_gram += np.einsum("asn,asn->an", adj, gram[r])
            c_lr += L[:, :, r] * np.einsum("asn,asn->an", adj, R_t)
        phi0, phi1, phi2, phi3 = leaf._phi(s, 3)
        inner += float(np.sum(phi0 * c0 + 2.0 * phi1 * (cx - c_gram) - 4.0 * phi2 * c_lr))
        if leaf.n_theta:
            psi1 = -2.0 * s * phi2 - 2.0 * phi1
            psi2 = -2.0 * s * phi3 - 4.0 * phi2
            length += float(np.sum(-2.0 * s * phi1 * c0 + 2.0 * psi1 * (cx - c_gram) - 4.0 * psi2 * c_lr))
    grad = np.array([scale * length]) if leaf.n_theta else np.zeros(0)
    return grad, inner
