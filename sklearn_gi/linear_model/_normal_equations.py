"""Chunked assembly and solution of the GI (Sobolev) least-squares normal equations.

The model is ``f(z) = z @ coef + intercept`` with features ``z = T(x)`` and feature
Jacobian ``J = dz/dx`` (identity when the model sees the raw inputs). For output
``j`` the loss

    sum_i w_i [(y_ij - f_j(z_i))^2 + gamma * ||mask_ij * (J_i^T coef_j - g_ij)||^2]
    + alpha * ||coef_j||^2

has the normal equations ``(Zc^T W Zc + gamma H_j + alpha I) coef_j = Zc^T W yc_j + gamma r_j``
with ``H_j = sum_i w_i J_i M_ij J_i^T`` and ``r_j = sum_i w_i J_i (m_ij * g_ij)``.
Nothing of size ``n * (1 + d)`` is ever built: every sum is accumulated over row
chunks, so memory beyond the inputs is ``O(p^2 + chunk)``.
"""

import numpy as np
from scipy import linalg

from ..utils._validation import is_lazy_jacobian

# Target bytes of one temporary chunk: large enough for BLAS efficiency,
# small enough to keep the footprint flat as n grows.
_CHUNK_BYTES = 4 * 2**20


def _chunk_rows(n_samples, row_width, itemsize=8):
    rows = _CHUNK_BYTES // max(1, row_width * itemsize)
    return int(min(max(rows, 256), max(n_samples, 1)))


def weighted_offsets(X, y, sample_weight):
    """Weighted column means of ``X`` and ``y`` in float64."""
    sw_sum = sample_weight.sum()
    X_offset = (sample_weight @ X) / sw_sum if X.shape[1] else np.zeros(0)
    y_offset = (sample_weight @ y) / sw_sum
    return np.asarray(X_offset, dtype=np.float64), np.asarray(y_offset, dtype=np.float64)


def centered_gram_and_cross(X, Y, X_offset, y_offset, sample_weight):
    """Return ``Xc^T W Xc`` (p, p) and ``Xc^T W Yc`` (p, k) in float64, chunk by chunk.

    Centering each chunk on the fly avoids both a centred copy of ``X`` and the
    cancellation of the ``X^T X - n mean mean^T`` shortcut. (BLAS ``syrk`` would
    halve the flops, but was measured to stall OpenBLAS when interleaved with
    the cross product; plain ``gemm`` is steady.)
    """
    n, p = X.shape
    k = Y.shape[1]
    gram = np.zeros((p, p))
    cross = np.zeros((p, k))
    step = _chunk_rows(n, p + k, X.dtype.itemsize)
    X_off = X_offset.astype(X.dtype, copy=False)
    y_off = y_offset.astype(X.dtype, copy=False)
    unweighted = bool(np.all(sample_weight == 1.0))
    # reused buffers: fresh chunk-sized allocations cost page faults every chunk
    X_buf = np.empty((step, p), dtype=X.dtype)
    Y_buf = np.empty((step, k), dtype=X.dtype)
    for start in range(0, n, step):
        rows = slice(start, start + step)
        m = min(step, n - start)
        Xc = np.subtract(X[rows], X_off, out=X_buf[:m])
        Yc = np.subtract(Y[rows], y_off, out=Y_buf[:m])
        if not unweighted:
            root_w = np.sqrt(sample_weight[rows]).astype(X.dtype)[:, None]
            Xc *= root_w
            Yc *= root_w
        gram += Xc.T @ Xc
        cross += Xc.T @ Yc
    return gram, cross


def n_gradient_matrices(G, partial_weights):
    """1 when every output has the same known partials and weights (one shared ``H``), else ``k``."""
    n, k, d = G.shape
    if k == 1:
        return 1
    if partial_weights is not None and not np.all(partial_weights == partial_weights[:1]):
        return k
    step = _chunk_rows(n, k * d, G.dtype.itemsize)
    shared = all(
        bool(np.all(np.isnan(G[i : i + step]) == np.isnan(G[i : i + step, :1, :])))
        for i in range(0, n, step)
    )
    return 1 if shared else k


def gradient_terms(G, J, sample_weight, partial_weights=None):
    """Gradient part of the normal equations, accumulated over row chunks.

    Parameters
    ----------
    G : ndarray of shape (n, k, d)
        Gradient targets; NaN marks an unknown partial derivative.
    J : None, ndarray of shape (p, d) or (n, p, d), or lazy Jacobian
        Feature Jacobian; ``None`` means the identity (``p == d``). A lazy one
        (:func:`~sklearn_gi.utils._validation.is_lazy_jacobian`) is pulled
        chunk by chunk; a row-scaled one ``J_i = diag(s_i) R`` with every
        partial known takes the Hadamard form of :func:`_row_scaled_gradient_terms`,
        a polynomial one the derivative-basis form of :func:`_polynomial_gradient_terms`.
    sample_weight : ndarray of shape (n,)
    partial_weights : ndarray of shape (k, d), default=None
        Weight ``lambda_jm`` of the squared error of partial ``m`` of output
        ``j`` (None: all 1).

    Returns
    -------
    H : ndarray of shape (1, p, p) or (k, p, p)
        A single shared matrix when every output has the same pattern of
        known partials and the same weights, one per output otherwise.
    r : ndarray of shape (k, p)
    """
    n, k, d = G.shape
    lam = np.ones((k, d)) if partial_weights is None else np.asarray(partial_weights, dtype=float)
    lazy = is_lazy_jacobian(J)
    if getattr(J, "kind", None) == "polynomial":
        return _polynomial_gradient_terms(G, J, sample_weight, lam)
    per_sample = lazy or (J is not None and J.ndim == 3)
    p = (J.shape_out_in[0] if lazy else J.shape[-2]) if J is not None else d
    width = k * d + (p * d if per_sample else 0)
    step = _chunk_rows(n, width, G.dtype.itemsize)

    # NaN propagates through the weighted sum (inf was rejected by validation),
    # so one BLAS pass both detects unknown partials and does the common case
    weighted_sum = (sample_weight @ G.reshape(n, k * d)).reshape(k, d)
    all_known = bool(np.all(np.isfinite(weighted_sum)))
    # only without a left factor: L (R R^T * S^T W S) L^T loses to cancellation what
    # (L diag(s_i) R) rows keep when L is large and nearly cancels (rank-deficient Nystroem)
    if getattr(J, "kind", None) == "row_scaled" and J.left is None and all_known:
        return _row_scaled_gradient_terms(G, J, sample_weight, lam)
    n_matrices = n_gradient_matrices(G, partial_weights)
    if not per_sample and all_known:
        total = float(sample_weight.sum())
        counts = total * lam[:n_matrices]
        if J is None:
            H = np.zeros((n_matrices, d, d))
            H[:, np.arange(d), np.arange(d)] = counts
            return H, weighted_sum * lam
        return np.einsum("pd,kd,qd->kpq", J, counts, J), (weighted_sum * lam) @ J.T

    counts = np.zeros((k, d))  # sum_i w_i m_ijd lambda_jd
    weighted_sum = np.zeros((k, d))  # sum_i w_i m_ijd lambda_jd g_ijd
    H3 = np.zeros((n_matrices, p, p)) if per_sample else None
    r3 = np.zeros((k, p)) if per_sample else None
    for start in range(0, n, step):
        rows = slice(start, start + step)
        Gc = G[rows]
        m = Gc.shape[0]
        known = ~np.isnan(Gc)
        Wm = known * sample_weight[rows, None, None] * lam  # weight of each gradient entry
        WG = np.where(known, Gc, 0.0) * Wm
        if not per_sample:
            counts += Wm.reshape(m, k * d).sum(axis=0).reshape(k, d)
            weighted_sum += WG.reshape(m, k * d).sum(axis=0).reshape(k, d)
            continue
        block = J.rows(start, start + m) if lazy else J[rows]
        Jr = block.transpose(0, 2, 1).reshape(m * d, p)  # each sample adds d rows
        for j in range(n_matrices):
            H3[j] += Jr.T @ (Jr * Wm[:, j, :].reshape(m * d, 1))
        for j in range(k):
            r3[j] += WG[:, j, :].reshape(m * d) @ Jr

    if per_sample:
        return H3, r3
    diag = counts[:n_matrices]
    if J is None:
        H = np.zeros((diag.shape[0], d, d))
        idx = np.arange(d)
        H[:, idx, idx] = diag
        return H, weighted_sum
    # constant Jacobian: sum_i w_i J M_i J^T = J diag(counts) J^T
    return np.einsum("pd,kd,qd->kpq", J, diag, J), weighted_sum @ J.T


def polynomial_gram_bytes(G_shape, J, n_matrices, all_known):
    """Bytes of the derivative-basis Gram matrices :func:`_polynomial_gradient_terms` holds."""
    if getattr(J, "kind", None) != "polynomial":
        return 0
    q = J.derivative_basis()[0].shape[0]
    right = J.right
    shared = all_known and (right is None or right.ndim == 1)
    d = G_shape[2]
    return 8 * q * q * (1 if shared else n_matrices * d) + 8 * G_shape[1] * q * d


def _polynomial_gradient_terms(G, J, sample_weight, lam):
    """``H``, ``r`` for polynomial features from the Gram matrix of their derivative basis.

    ``J_i[f, m] = l_f c_fm b_{idx(f, m)}(u_i) s_im``: each partial of a
    feature is a constant times a monomial ``b`` of lower degree (``p'`` of
    them). With ``omega_ijm = w_i M_ijm lambda_jm s_im^2``

        ``H_j[f, g] = sum_m l_f l_g c_fm c_gm B_jm[idx(f, m), idx(g, m)]``,
        ``B_jm = sum_i omega_ijm b(u_i) b(u_i)^T``,

    so the ``O(n d p^2)`` sum over Jacobian rows becomes ``O(n p'^2)`` (one
    shared ``B`` when every partial is known and the input scales are shared;
    ``O(n d p'^2)`` otherwise) plus an ``O(d p^2)`` scatter. For degree 3 in
    20 inputs ``p = 1771`` and ``p' = 231``.
    """
    n, k, d = G.shape
    exponents, index, coefficient = J.derivative_basis()
    p, q = coefficient.shape[0], exponents.shape[0]
    known = ~np.isnan(G)
    all_known = bool(known.all())
    n_matrices = n_gradient_matrices(G, None if np.all(lam == lam[:1]) else lam)
    shared_right = J.right is None or J.right.ndim == 1
    shared_basis = all_known and shared_right
    B = np.zeros((1, 1, q, q)) if shared_basis else np.zeros((n_matrices, d, q, q))
    Q = np.zeros((k, q, d))  # sum_i w_i M_ijm lambda_jm s_im g_ijm b(u_i)
    step = _chunk_rows(n, 2 * q + 2 * k * d, 8)
    for start in range(0, n, step):
        stop = min(start + step, n)
        basis = J.monomials(start, stop).astype(np.float64, copy=False)
        w = sample_weight[start:stop]
        s = J.right_scales(start, stop)
        s = np.ones(d) if s is None else s
        Wm = known[start:stop] * w[:, None, None] * lam  # (m, k, d)
        WG = np.where(known[start:stop], G[start:stop], 0.0) * Wm * (s[:, None, :] if s.ndim == 2 else s)
        for j in range(k):
            Q[j] += basis.T @ WG[:, j, :]
        if shared_basis:
            B[0, 0] += basis.T @ (basis * w[:, None])
            continue
        omega = Wm * (s[:, None, :] if s.ndim == 2 else s) ** 2
        for j in range(n_matrices):
            for m in range(d):
                B[j, m] += basis.T @ (basis * omega[:, j, m, None])

    left = np.ones(p) if J.left is None else J.left
    H = np.zeros((n_matrices, p, p))
    r = np.zeros((k, p))
    s_shared = np.ones(d) if J.right is None or J.right.ndim == 2 else J.right
    for m in range(d):
        features = np.nonzero(coefficient[:, m])[0]
        a = left[features] * coefficient[features, m]
        block = np.ix_(features, features)
        rows = index[features, m]
        for j in range(k):
            r[j, features] += a * Q[j, rows, m]
        outer = np.outer(a, a)
        for j in range(n_matrices):
            if shared_basis:
                factor = lam[j, m] * s_shared[m] ** 2
                H[j][block] += factor * outer * B[0, 0][np.ix_(rows, rows)]
            else:
                H[j][block] += outer * B[j, m][np.ix_(rows, rows)]
    return H, r


def _row_scaled_gradient_terms(G, J, sample_weight, lam):
    """``H``, ``r`` for ``J_i = diag(s_i) R`` when every partial is known.

    With ``M_i = I`` and partial weights ``Lambda_j = diag(lam_j)``,
    ``sum_i w_i J_i Lambda_j J_i^T = (R Lambda_j R^T) * (S^T diag(w) S)``
    (``*`` elementwise, ``S`` the stacked scales ``(n, p)``) and
    ``r_j = sum_i w_i s_i * (R Lambda_j g_ij)``: ``O(n p^2)`` rather than the
    ``O(n d p^2)`` of the generic per-sample sum, and no ``(n, p, d)`` block.
    """
    n, k, d = G.shape
    R = J.right
    m = R.shape[0]
    SS = np.zeros((m, m))
    r = np.zeros((k, m))
    unweighted = bool(np.all(sample_weight == 1.0))
    step = _chunk_rows(n, 2 * m + k * (d + m), G.dtype.itemsize)
    for start in range(0, n, step):
        stop = min(start + step, n)
        S = J.scales(start, stop)
        Sw = S if unweighted else S * sample_weight[start:stop, None].astype(S.dtype)
        SS += S.T @ Sw
        # sum over the chunk of w_i s_i * (R Lambda_j g_ij), for every output j
        r += np.einsum("im,ikm->km", Sw, (G[start:stop] * lam) @ R.T)
    n_matrices = 1 if np.all(lam == lam[:1]) else k
    return np.stack([(R * lam[j]) @ R.T * SS for j in range(n_matrices)]), r


def add_scaled(A, B, factor=1.0):
    """``A += factor * B`` in place, in row blocks (no temporary of ``A``'s size)."""
    step = max(1, _CHUNK_BYTES // max(1, 8 * A.shape[1]))
    for start in range(0, A.shape[0], step):
        rows = slice(start, start + step)
        A[rows] += factor * B[rows] if factor != 1.0 else B[rows]
    return A


def add_outer(A, u, factor):
    """``A += factor * outer(u, u)`` in place, in row blocks."""
    step = max(1, _CHUNK_BYTES // max(1, 8 * A.shape[1]))
    for start in range(0, A.shape[0], step):
        A[start : start + step] += (factor * u[start : start + step, None]) * u
    return A


def solve_normal_equations(A, B, *, rebuild=None):
    """Solve ``A x = B`` for symmetric positive semi-definite ``A``.

    Cholesky when ``A`` is well conditioned; otherwise a minimum-norm ``lstsq``
    solution, which for the normal equations equals the minimum-norm
    least-squares fit.

    Parameters
    ----------
    A : ndarray of shape (p, p) or None
        None: ``rebuild()`` builds it, so that this function holds its only
        reference and the fallback can release it.
    B : ndarray of shape (p,) or (p, k)
    rebuild : callable, default=None
        Returns a fresh ``A``. When given, ``A`` is factorised in place (no
        copy of its size) and rebuilt for the ``lstsq`` fallback.

    Returns
    -------
    x : ndarray, same shape as ``B``
    solver : {"cholesky", "lstsq"}
    """
    if A is None:
        A = rebuild()
    p = A.shape[0]
    if p == 0:
        return np.zeros_like(B), "cholesky"
    in_place = rebuild is not None
    # A is symmetric: its transpose is the Fortran-ordered view LAPACK works on without a copy
    try:
        factor = linalg.cho_factor(A.T if in_place else A, lower=True, check_finite=False,
                                   overwrite_a=in_place)
        pivots = np.abs(np.diag(factor[0]))
        # squared pivot ratio bounds the condition number from below
        if pivots.min() > 0 and (pivots.min() / pivots.max()) ** 2 > p * np.finfo(float).eps:
            return linalg.cho_solve(factor, B, check_finite=False), "cholesky"
        del factor
    except linalg.LinAlgError:
        pass
    if in_place:
        del A  # the factor: release it before building the matrix again
        A = rebuild().T
    x, *_ = linalg.lstsq(A, B, check_finite=False, lapack_driver="gelsd", overwrite_a=in_place)
    return x, "lstsq"
