"""Products of the value-and-gradient joint kernel with vectors, without storing the matrix.

For a stationary leaf ``k = phi(s)``, ``s = sum_i w_i (x_i - y_i)^2`` with
``w_i = 1 / l_i^2`` and ``u_i = w_i (x_i - y_i)``, the joint kernel between
points ``a`` and ``b`` has the blocks ``K = phi``, ``Kx_i = 2 phi' u_i``, ``Ky_j
= -2 phi' u_j`` and ``Kxy_ij = -4 phi'' u_i u_j - 2 phi' w_i delta_ij``. Their
product with weights ``v`` on the values and ``beta`` on the partials at
``b`` is, with ``P[a, b] = sum_j u_j[a, b] beta[b, j]`` (one matrix product
``(X_a w) @ beta^T`` less a column term),

* values:  ``sum_b phi v_b - 2 sum_b phi' P``;
* partial ``i``: ``2 w_i (x_ai (phi' @ v)_a - (phi' @ (x_i v))_a)
  - 4 w_i (x_ai (W @ 1)_a - (W @ x_i)_a) - 2 w_i (phi' @ beta_i)_a`` with
  ``W = phi'' * P``.

Every sum over ``b`` is a matrix product with a ``(block, n)`` array: ``O(n^2
d)`` time per product and ``O(block * n)`` memory, where the joint matrix has
``(n (1 + d))^2`` entries. The squared distances come from ``|z_a|^2 + |z_b|^2 -
2 z_a . z_b`` on centred inputs (a matrix product as well).
"""

import contextlib

import numpy as np

from ._derivative_kernels import (
    _Constant,
    _GradientWhite,
    _Matern32,
    _RBF,
    _Product,
    _Sum,
    _White,
    compile_kernel,
    supports_joint,
)

__all__ = ["JointKernelOperator", "supports_matrix_free"]

# elements of one (block, n) temporary: 2**21 doubles (16 MB) keep the few live
# temporaries of a block within ~100 MB whatever n is
_BLOCK_ELEMENTS = 2**21
# an iterative solve keeps the RBF terms' kernel matrices (one n x n array per term)
# between products when they take at most this many bytes: each product then skips
# the squared distances and the exponentials, at the cost of that memory for the
# duration of the solve (d = 9, two RBF terms, one thread: n = 3,000 0.24 -> 0.12 s
# per product; n = 10,000, 1.6 GB: 1.75 -> 1.13 s, the first product 5.5 s)
KERNEL_CACHE_BYTES = 2 * 2**30


def supports_matrix_free(kernel, n_features):
    """Whether ``kernel`` is a sum of constant-scaled stationary, constant and white terms."""
    try:
        node = compile_kernel(kernel, n_features)
    except TypeError:
        return False
    # Matern 3/2's phi'' is unbounded at zero distance, where the products'
    # rounding leaves a tiny non-zero u: its derivative blocks need exact differences
    return supports_joint(node) and not any(isinstance(leaf, _Matern32) for _, leaf in _terms(node))


def _terms(node, scale=1.0, out=None):
    """``[(scale, leaf), ...]`` of a kernel that :func:`supports_joint` accepts."""
    out = [] if out is None else out
    if isinstance(node, _Sum):
        _terms(node.left, scale, out)
        _terms(node.right, scale, out)
    elif isinstance(node, _Product):
        const, other = node._scaled()
        _terms(other, scale * const.value, out)
    elif not isinstance(node, _GradientWhite):
        # derivative noise has zero blocks: the operator's kernel_noise carries it
        out.append((scale, node))
    return out


class JointKernelOperator:
    """The joint covariance of values and partials at ``X`` as a linear operator.

    Parameters
    ----------
    kernel : scikit-learn kernel or compiled node
        A sum of constant-scaled stationary (RBF, Matern, RationalQuadratic),
        constant and white terms.
    X : ndarray of shape (n, d)
    with_gradients : bool
        Whether the observations include the ``d`` partials at every point
        (component-major: the ``n`` values, then every ``df/dx_1``, ...).
    noise : ndarray of shape (n * (1 + d),) or None
        Added to the diagonal.
    rows : ndarray of int or None
        The observed joint rows (``None``: all); the operator acts on those.
    kernel_noise : ndarray of shape (n * (1 + d),) or None
        The kernel's own diagonal terms that the blocks do not carry
        (``GradientWhiteKernel``: ``JointObservations.kernel_noise``); part of
        ``K``, so scaled by ``row_scale`` like it.
    row_scale : ndarray of shape (len(rows),) or None
        ``S`` of the operator ``S K S + diag(noise)`` (weighted kernel ridge).
    """

    def __init__(self, kernel, X, with_gradients, noise=None, rows=None, row_scale=None, kernel_noise=None):
        self.n, self.d = X.shape
        node = compile_kernel(kernel, self.d)
        if not supports_matrix_free(node, self.d):
            raise TypeError(
                "The matrix-free solver needs a kernel that is a sum of constant-scaled RBF, Matern "
                f"(nu=2.5 or inf), RationalQuadratic, ConstantKernel and WhiteKernel terms; got {kernel}."
            )
        self.terms = _terms(node)
        self.center = X.mean(axis=0)
        self.X = X - self.center
        self.with_gradients = with_gradients
        self.n_full = self.n * (1 + self.d) if with_gradients else self.n
        self.rows = rows
        self.shape = (self.n_full,) * 2 if rows is None else (len(rows),) * 2
        noise = np.zeros(self.n_full) if noise is None else np.asarray(noise, dtype=float)
        self.noise = noise if rows is None else noise[rows]
        self.row_scale = row_scale
        self._kernel_cache = None
        if kernel_noise is not None:
            kernel_noise = self._restrict(np.asarray(kernel_noise, dtype=float))
            if row_scale is not None:
                kernel_noise = kernel_noise * row_scale**2
            self.noise = self.noise + kernel_noise

    @contextlib.contextmanager
    def kernel_cache(self, max_bytes=None):
        """Within the block, products keep the RBF terms' kernel matrices between calls.

        For the many products of one iterative solve: the squared distances
        and exponentials of the training points are computed once. Nothing is
        kept when the matrices would take more than ``max_bytes`` (default
        :data:`KERNEL_CACHE_BYTES`), and nothing after the block.
        """
        max_bytes = KERNEL_CACHE_BYTES if max_bytes is None else max_bytes
        n_rbf = sum(type(leaf) is _RBF for _, leaf in self.terms)
        if n_rbf and n_rbf * self.n**2 * 8 <= max_bytes:
            self._kernel_cache = {}
        try:
            yield self
        finally:
            self._kernel_cache = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_kernel_cache"] = None
        return state

    # ------------------------------------------------------------ structure
    def _embed(self, V):
        if self.rows is None:
            return V
        full = np.zeros((self.n_full, V.shape[1]))
        full[self.rows] = V
        return full

    def _restrict(self, V):
        return V if self.rows is None else V[self.rows]

    def matvec(self, V):
        """``(S K S + diag(noise)) @ V`` for ``V`` of shape (N,) or (N, r)."""
        V = np.asarray(V, dtype=float)
        vector = V.ndim == 1
        V = V.reshape(V.shape[0], -1)
        if self.row_scale is not None:
            V_in = V * self.row_scale[:, None]
        else:
            V_in = V
        out = self._restrict(self.cross(self.X, self._embed(V_in), self.with_gradients,
                                        same=True, centred=True, cache=self._kernel_cache))
        if self.row_scale is not None:
            out *= self.row_scale[:, None]
        out += self.noise[:, None] * V
        return out[:, 0] if vector else out

    __matmul__ = matvec

    def diagonal(self):
        """Diagonal of the operator, in ``O(N)``."""
        value = 0.0
        grad = np.zeros(self.d)
        for scale, leaf in self.terms:
            if isinstance(leaf, _Constant):
                value += scale * leaf.value
            elif isinstance(leaf, _White):
                value += scale * leaf.noise
            else:
                phi0, phi1 = leaf._phi(np.zeros(1), 1)
                value += scale * phi0[0]
                grad += scale * (-2.0 * phi1[0]) * leaf.inv_sq
        diag = np.full(self.n, value)
        if self.with_gradients:
            diag = np.concatenate([diag, np.repeat(grad, self.n)])
        diag = self._restrict(diag)
        if self.row_scale is not None:
            diag = diag * self.row_scale**2
        return diag + self.noise

    def column(self, index):
        """Column ``index`` (of the observed rows) of the operator, in ``O(n d)``."""
        return self.columns([index])[:, 0]

    def columns(self, indices):
        """Columns ``indices`` (of the observed rows) of the operator: ``(N, len(indices))``.

        One kernel product for all of them, ``O(n d)`` per column.
        """
        indices = np.asarray(indices, dtype=int)
        full = indices if self.rows is None else self.rows[indices]
        points, components = full % self.n, full // self.n
        unique, which = np.unique(points, return_inverse=True)
        width = len(indices)
        # one-hot right-hand sides: component c of point j is row c * m + j of cross's V
        units = np.zeros(((1 + self.d if self.with_gradients else 1) * len(unique), width))
        units[components * len(unique) + which, np.arange(width)] = 1.0
        cols = self.cross(self.X, units, self.with_gradients, Y=self.X[unique],
                          y_gradients=self.with_gradients, centred=True)
        # a white term is the identity on the training values only
        white = sum(scale * leaf.noise for scale, leaf in self.terms if isinstance(leaf, _White))
        if white:
            on_values = np.flatnonzero(components == 0)
            cols[points[on_values], on_values] += white
        cols = self._restrict(cols)
        if self.row_scale is not None:
            cols = cols * self.row_scale[:, None] * self.row_scale[indices][None, :]
        cols[indices, np.arange(width)] += self.noise[indices]
        return cols

    # ------------------------------------------------------------- products
    def cross(self, X, V, x_gradients, *, Y=None, y_gradients=None, same=False, centred=False,
              cache=None):
        """``K(X, Y) @ V`` of the joint kernel between ``X`` and the training points (or ``Y``).

        ``V`` has shape ``(m (1 + d), r)`` (or ``(m, r)`` when ``Y`` has no
        gradients); the result ``(n_X (1 + d), r)``, or ``(n_X, r)`` without
        ``x_gradients``. ``same`` adds the white terms (``X`` is the training set).
        ``cache``: a dict that keeps the RBF terms' kernel blocks of this ``X``
        and ``Y`` between calls (see :meth:`kernel_cache`).
        """
        if not centred:
            X = X - self.center
        if Y is None:
            Y = self.X
            y_gradients = self.with_gradients
        m, d = Y.shape
        V = np.asarray(V, dtype=float).reshape(V.shape[0], -1)
        r = V.shape[1]
        v0 = V[:m]
        beta = V[m:].reshape(d, m, r) if y_gradients else None
        n_x = X.shape[0]
        out = np.zeros(((1 + d) * n_x if x_gradients else n_x, r))
        out_values = out[:n_x]
        out_grads = out[n_x:].reshape(d, n_x, r) if x_gradients else None
        v0_sum = v0.sum(axis=0)
        for index, (scale, leaf) in enumerate(self.terms):
            if isinstance(leaf, _Constant):
                out_values += scale * leaf.value * v0_sum
            elif isinstance(leaf, _White):
                if same:
                    out_values += scale * leaf.noise * v0
            else:
                # only an RBF term's blocks are kept: one array serves phi, phi' and phi''
                blocks = None if cache is None or type(leaf) is not _RBF else cache.setdefault(index, {})
                self._stationary(scale, leaf, X, Y, v0, beta, out_values, out_grads, blocks)
        return out

    def _stationary(self, scale, leaf, X, Y, v0, beta, out_values, out_grads, blocks=None):
        w = leaf.inv_sq
        m, d = Y.shape
        r = v0.shape[1]
        root_w = np.sqrt(w)
        Zx, Zy = X * root_w, Y * root_w
        sq_x, sq_y = np.einsum("ai,ai->a", Zx, Zx), np.einsum("bi,bi->b", Zy, Zy)
        x_gradients = out_grads is not None
        order = 2 if x_gradients and beta is not None else 1 if (x_gradients or beta is not None) else 0
        # RBF: phi' = -phi / 2 and phi'' = phi / 4, so one exponential serves all three
        # and the products with phi and phi' share one matrix product
        rbf = type(leaf) is _RBF
        factor1, factor2 = (-0.5, 0.25) if rbf else (1.0, 1.0)
        # right-hand sides of phi' (m, *): v, x_i v (for Kx), beta_i and c (for Ky, Kxy)
        rhs1 = []
        if x_gradients:
            rhs1 += [v0, (Y[:, :, None] * v0[:, None, :]).reshape(m, d * r)]
        if beta is not None:
            beta_t = beta.transpose(1, 0, 2)  # (m, d, r)
            c_b = np.einsum("bj,bjr->br", Y * w, beta_t)  # sum_j w_j y_bj beta_bj
            rhs1 += [beta_t.reshape(m, d * r), c_b]
            Xw = X * w
            ones_y = np.concatenate([np.ones((m, 1)), Y], axis=1)
        rhs1 = factor1 * np.concatenate(rhs1, axis=1) if rhs1 else np.zeros((m, 0))
        width1 = rhs1.shape[1]
        if rbf:
            rhs1 = np.concatenate([v0, rhs1], axis=1)
        step = max(1, _BLOCK_ELEMENTS // max(m, 1))
        for start in range(0, X.shape[0], step):
            a = slice(start, min(X.shape[0], start + step))
            kept = None if blocks is None else blocks.get(start)
            if kept is None:
                s = Zx[a] @ Zy.T
                s *= -2.0
                s += sq_x[a, None]
                s += sq_y[None, :]
                np.maximum(s, 0.0, out=s)
            if rbf:
                if kept is None:
                    s *= -0.5
                    kept = np.exp(s, out=s)
                    if blocks is not None:
                        blocks[start] = kept
                phi0 = phi1 = phi2 = kept
                T = phi0 @ rhs1
                out_values[a] += scale * T[:, :r]
                T = T[:, r:]
            else:
                phis = leaf._phi(s, order)
                phi0 = phis[0]
                out_values[a] += scale * (phi0 @ v0)
                if order == 0:
                    continue
                phi1 = phis[1]
                phi2 = phis[2] if order == 2 else None
                T = phi1 @ rhs1
            if not width1:
                continue
            col = 0
            if x_gradients:
                T_v = T[:, :r]
                T_xv = T[:, r:r + d * r].reshape(-1, d, r)
                col = r + d * r
                # Kx: 2 w_i (x_ai (phi' v)_a - (phi' (x_i v))_a)
                kx = X[a, :, None] * T_v[:, None, :] - T_xv  # (block, d, r)
                out_grads[:, a] += (2.0 * scale) * (w[:, None, None] * kx.transpose(1, 0, 2))
            if beta is None:
                continue
            T_beta = T[:, col:col + d * r].reshape(-1, d, r)  # (phi' @ beta_i)_a
            T_c = T[:, col + d * r:]  # (phi' @ c)_a
            # values: -2 sum_b phi' P = -2 (sum_j xw_aj T_beta_j - phi' @ c_b)
            out_values[a] += (-2.0 * scale) * (np.einsum("aj,ajr->ar", Xw[a], T_beta) - T_c)
            if not x_gradients:
                continue
            out_grads[:, a] -= (2.0 * scale) * (w[:, None, None] * T_beta.transpose(1, 0, 2))
            for k in range(r):
                P = Xw[a] @ beta[:, :, k]
                P -= c_b[None, :, k]
                P *= phi2
                WY = P @ ones_y  # (block, 1 + d): row sums and W @ y_i
                kxy = X[a] * WY[:, :1] - WY[:, 1:]
                out_grads[:, a, k] -= (4.0 * scale * factor2) * (w[:, None] * kxy.T)
