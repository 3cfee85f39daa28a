"""Covariances of a Gaussian process and its first derivatives, for scikit-learn kernels.

For a kernel ``k(x, y)`` the joint prior of values and input-gradients has four
blocks between point sets ``X`` (n) and ``Y`` (m):

* ``K[a, b] = k(x_a, y_b)``;
* ``Kx[a, b, i] = dk/dx_i``  (covariance of ``df/dx_i`` at ``x_a`` with ``f(y_b)``);
* ``Ky[a, b, j] = dk/dy_j``  (covariance of ``f(x_a)`` with ``df/dy_j`` at ``y_b``);
* ``Kxy[a, b, i, j] = d^2 k / dx_i dy_j``.

A scikit-learn kernel expression is compiled into a tree of nodes. Each node
computes these blocks (``forward``) and, given the adjoint of each block (the
matrix ``dL/dK`` of a scalar ``L`` such as the log marginal likelihood), the
gradient of ``L`` with respect to its log-hyperparameters (``backward``): a
hand-written reverse mode, so that the likelihood gradient costs one pass over
the ``O(n^2 d^2)`` blocks instead of one joint matrix per hyperparameter.
For the training set with itself, sums of leaves scaled by constants (the
default kernel and most users' kernels) also have ``forward_joint`` and
``backward_joint``, which write the blocks straight into the joint matrix and
read the adjoint from it (:class:`JointContext`): 2.5x faster at wing weight
than building the ``(n, n, d, d)`` blocks and transposing them.

Stationary kernels are written as ``k = phi(s)`` with ``s = sum_i (x_i - y_i)^2 /
l_i^2``; with ``u = (x - y) / l^2`` their blocks are

* ``Kx_i = 2 phi'(s) u_i``, ``Ky_j = -2 phi'(s) u_j``,
* ``Kxy_ij = -4 phi''(s) u_i u_j - 2 phi'(s) delta_ij / l_i^2``.
"""

import numpy as np
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    Matern,
    Product,
    RationalQuadratic,
    Sum,
    WhiteKernel,
)

from ..gaussian_process._kernels import GradientWhiteKernel

__all__ = ["compile_kernel", "gradient_noise_terms", "joint_kernel", "polynomial_kernel",
           "SUPPORTED_KERNELS"]

SUPPORTED_KERNELS = (
    "RBF (isotropic or anisotropic), Matern with nu in {1.5, 2.5, inf}, RationalQuadratic, "
    "DotProduct, ConstantKernel, WhiteKernel, and sums and products of these, plus "
    "GradientWhiteKernel in sums"
)


class Blocks:
    """The four covariance blocks between two point sets (``None``: identically zero)."""

    __slots__ = ("K", "Kx", "Ky", "Kxy")

    def __init__(self, K, Kx=None, Ky=None, Kxy=None):
        self.K, self.Kx, self.Ky, self.Kxy = K, Kx, Ky, Kxy


class Context:
    """Point sets of one evaluation and which derivative blocks are wanted.

    ``diag`` evaluates each point with itself only: the blocks then have a
    second axis of length one.
    """

    def __init__(self, X, Y=None, *, need_x=False, need_y=False, diag=False):
        self.same = Y is None
        self.diag = diag
        Y = X if Y is None else Y
        self.X, self.Y = X, Y
        self.need_x, self.need_y = need_x, need_y
        if diag:
            self.D = np.zeros((X.shape[0], 1, X.shape[1]), dtype=X.dtype)
        else:
            self.D = X[:, None, :] - Y[None, :, :]
        self.shape = self.D.shape[:2]
        self.n_features = X.shape[1]


class JointContext:
    """The training set with itself, for blocks written straight into the joint matrix.

    The joint matrix viewed as ``(1 + d, n, 1 + d, n)`` has ``[0, a, 0, b] = K``,
    ``[1 + i, a, 0, b] = Kx_i``, ``[0, a, 1 + j, b] = Ky_j`` and ``[1 + i, a,
    1 + j, b] = Kxy_ij``: leaves compute their blocks feature-major, with the
    sample index ``b`` contiguous, and add them in place; the adjoint is read
    in the same order.
    """

    def __init__(self, X):
        self.n, self.n_features = X.shape
        XT = np.ascontiguousarray(X.T)
        self.D = XT[:, :, None] - XT[:, None, :]  # (d, n, n): x_a - x_b per feature


def supports_joint(node):
    """Whether ``node`` is a sum of constant-scaled constant, white and stationary leaves."""
    if isinstance(node, _Sum):
        return supports_joint(node.left) and supports_joint(node.right)
    if isinstance(node, _Product):
        return node._scale_side is not None and supports_joint(node._scaled()[1])
    return isinstance(node, (_Constant, _White, _GradientWhite, _Stationary))


def _add(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _mul(a, b):
    """Product of two block components where ``None`` is zero."""
    if a is None or b is None:
        return None
    return a * b


# ---------------------------------------------------------------- leaves
class _Node:
    """A node of the compiled kernel. ``n_theta`` free log-hyperparameters."""

    n_theta = 0

    def forward(self, ctx):
        raise NotImplementedError

    def backward(self, adj):
        return np.zeros(0)

    def inner(self, adj):
        """``sum adj * blocks`` over all four blocks of the last ``forward``."""
        return _inner(adj, self._out)


class _Constant(_Node):
    def __init__(self, kernel):
        self.value = float(kernel.constant_value)
        self.n_theta = 0 if kernel.hyperparameter_constant_value.fixed else 1

    def forward(self, ctx):
        return Blocks(np.full(ctx.shape, self.value))

    def backward(self, adj):
        if not self.n_theta:
            return np.zeros(0)
        return np.array([self.inner(adj)])

    def inner(self, adj):
        return self.value * adj.K.sum()

    def forward_joint(self, jctx, out, scale):
        """Add ``scale`` times the blocks into ``out`` (the joint matrix, 4-D view)."""
        out[0, :, 0, :] += scale * self.value

    def backward_joint(self, A4, scale):
        """Gradient of ``sum(A * scale * blocks)`` and the unscaled ``sum(A * blocks)``."""
        inner = self.value * float(A4[0, :, 0, :].sum())
        return (np.array([scale * inner]) if self.n_theta else np.zeros(0)), inner


class _White(_Node):
    """Noise on values only: ``k(x, y) = noise`` for a training point with itself."""

    def __init__(self, kernel):
        self.noise = float(kernel.noise_level)
        self.n_theta = 0 if kernel.hyperparameter_noise_level.fixed else 1

    def forward(self, ctx):
        if ctx.diag:
            return Blocks(np.full(ctx.shape, self.noise))
        if ctx.same:
            return Blocks(self.noise * np.eye(ctx.shape[0]))
        return Blocks(np.zeros(ctx.shape))

    def backward(self, adj):
        if not self.n_theta:
            return np.zeros(0)
        return np.array([self.inner(adj)])

    def inner(self, adj):
        return self.noise * np.trace(adj.K)  # only ever called on the training set

    def forward_joint(self, jctx, out, scale):
        values = out[0, :, 0, :]
        values[np.diag_indices(jctx.n)] += scale * self.noise

    def backward_joint(self, A4, scale):
        inner = self.noise * float(np.trace(A4[0, :, 0, :]))
        return (np.array([scale * inner]) if self.n_theta else np.zeros(0)), inner


class _GradientWhite(_Node):
    """Noise on observed derivatives only (:class:`GradientWhiteKernel`).

    Its blocks are zero: the noise is a property of the observations, not of
    the function, so the joint system adds it to the derivative rows of its
    diagonal and fills in its likelihood gradient
    (:func:`gradient_noise_terms`, ``JointObservations``), where the input
    scales and the observed partials are known.
    """

    def __init__(self, kernel):
        self.noise = np.atleast_1d(np.asarray(kernel.noise_level, dtype=float)).ravel()
        self.n_theta = 0 if kernel.hyperparameter_noise_level.fixed else self.noise.size

    def forward(self, ctx):
        self._out = Blocks(np.zeros(ctx.shape))
        return self._out

    def backward(self, adj):
        return np.zeros(self.n_theta)

    def inner(self, adj):
        return 0.0

    def forward_joint(self, jctx, out, scale):
        pass

    def backward_joint(self, A4, scale):
        return np.zeros(self.n_theta), 0.0


def gradient_noise_terms(node):
    """``(leaf, offset)`` of each :class:`GradientWhiteKernel` term of a compiled kernel.

    ``offset`` is the index of the leaf's first log-hyperparameter in the
    kernel's ``theta``. Such terms sit in sums only (``compile_kernel`` checks).
    """
    terms = []

    def walk(current, offset):
        if isinstance(current, _GradientWhite):
            terms.append((current, offset))
        elif isinstance(current, (_Sum, _Product)):
            walk(current.left, offset)
            walk(current.right, offset + current.left.n_theta)

    walk(node, 0)
    return terms


def _contains_gradient_white(kernel):
    if isinstance(kernel, GradientWhiteKernel):
        return True
    if isinstance(kernel, (Sum, Product)):
        return _contains_gradient_white(kernel.k1) or _contains_gradient_white(kernel.k2)
    return False


class _Stationary(_Node):
    """``k = phi(s)``, ``s`` the squared scaled distance; subclasses give ``phi`` and derivatives."""

    def __init__(self, kernel, n_features):
        length = np.asarray(kernel.length_scale, dtype=float)
        self.anisotropic = length.ndim == 1 and length.size > 1
        if self.anisotropic and length.size != n_features:
            raise ValueError(
                f"{type(kernel).__name__} has {length.size} length scales but X has "
                f"{n_features} features."
            )
        self.length = length
        self.inv_sq = np.broadcast_to(1.0 / length.reshape(-1) ** 2, (n_features,)).copy()
        self.length_free = not kernel.hyperparameter_length_scale.fixed
        self.n_theta = (length.size if self.anisotropic else 1) if self.length_free else 0

    # phi(s) and its first three derivatives with respect to s; the second and
    # third are set to 0 where s == 0: every term they enter there is multiplied
    # by u or q, which vanish, and for Matern 3/2 they are singular
    def _phi(self, s, order):
        raise NotImplementedError

    def forward(self, ctx):
        D = ctx.D
        u = D * self.inv_sq
        s = np.einsum("abi,abi->ab", D, u)
        self._ctx, self._u, self._s = ctx, u, s
        want_d = ctx.need_x or ctx.need_y
        phis = self._phi(s, 2 if want_d else 0)
        blocks = Blocks(phis[0])
        if want_d:
            grad = 2.0 * phis[1][..., None] * u
            if ctx.need_x:
                blocks.Kx = grad
            if ctx.need_y:
                blocks.Ky = -grad
            if ctx.need_x and ctx.need_y:
                Kxy = np.einsum("abi,abj->abij", u, u)
                Kxy *= (-4.0 * phis[2])[..., None, None]
                idx = np.arange(ctx.n_features)
                Kxy[..., idx, idx] -= 2.0 * phis[1][..., None] * self.inv_sq
                blocks.Kxy = Kxy
        return blocks

    def forward_weighted(self, ctx, beta):
        """``K``, ``Kx`` and ``sum_j Kxy[a, b, :, j] beta[b, j, :]`` without the full ``Kxy``.

        ``beta`` has shape (m, d, k): weights of the derivative observations at
        ``Y``. Returns ``(K, Kx, Ky_beta (n, m, k), Kxy_beta (n, m, d, k))``.
        """
        D = ctx.D
        u = D * self.inv_sq
        s = np.einsum("abi,abi->ab", D, u)
        phi, phi1, phi2 = self._phi(s, 2)
        u_beta = np.einsum("abj,bjk->abk", u, beta)
        Ky_beta = -2.0 * phi1[..., None] * u_beta
        if not ctx.need_x:  # values only: no derivative at the test points
            return phi, None, Ky_beta, None
        Kx = 2.0 * phi1[..., None] * u
        Kxy_beta = (-4.0 * phi2)[..., None, None] * u[..., :, None] * u_beta[..., None, :]
        Kxy_beta -= (2.0 * phi1)[..., None, None] * (self.inv_sq[:, None] * beta)[None]
        return phi, Kx, Ky_beta, Kxy_beta

    def backward(self, adj):
        grads = []
        if self.n_theta:
            grads.append(self._length_gradient(adj))
        return np.concatenate(grads) if grads else np.zeros(0)

    def inner(self, adj):
        u, s = self._u, self._s
        phi, phi1, phi2 = self._phi(s, 2)
        total = np.sum(adj.K * phi)
        B = _add(adj.Kx, None if adj.Ky is None else -adj.Ky)
        if B is not None:
            total += 2.0 * np.sum(phi1 * np.einsum("abi,abi->ab", B, u))
        if adj.Kxy is not None:
            W = np.einsum("abij,abi,abj->ab", adj.Kxy, u, u, optimize=True)
            T = np.einsum("abii->abi", adj.Kxy) @ self.inv_sq
            total += np.sum(-4.0 * phi2 * W - 2.0 * phi1 * T)
        return total

    def _length_gradient(self, adj):
        ctx, u, s = self._ctx, self._u, self._s
        d = ctx.n_features
        phi1, phi2, phi3 = self._phi(s, 3)[1:]
        q = ctx.D * u  # (x_i - y_i)^2 / l_i^2
        coef_q = -2.0 * phi1 * adj.K
        g = np.zeros(d)
        B = _add(adj.Kx, None if adj.Ky is None else -adj.Ky)
        if B is not None:
            P = np.einsum("abi,abi->ab", B, u)
            coef_q = coef_q - 4.0 * phi2 * P
            g += np.einsum("abk,abk->k", B, u * (-4.0 * phi1)[..., None])
        if adj.Kxy is not None:
            A = adj.Kxy
            Au = np.einsum("abij,abj->abi", A, u)
            W = np.einsum("abi,abi->ab", Au, u)
            diagA = np.einsum("abii->abi", A)
            T = diagA @ self.inv_sq
            V = Au + np.einsum("abji,abj->abi", A, u)
            coef_q = coef_q + 8.0 * phi3 * W + 4.0 * phi2 * T
            g += np.einsum("abk,abk->k", V, u * (8.0 * phi2)[..., None])
            g += 4.0 * self.inv_sq * np.einsum("abk,ab->k", diagA, phi1)
        g += np.einsum("abk,ab->k", q, coef_q)
        return g if self.anisotropic else np.array([g.sum()])

    def forward_joint(self, jctx, out, scale):
        """Add ``scale`` times the four blocks into ``out``, the ``(1+d, n, 1+d, n)`` joint view."""
        D = jctx.D
        u = D * self.inv_sq[:, None, None]
        s = np.einsum("iab,iab->ab", D, u)
        phi0, phi1, phi2 = self._phi(s, 2)
        self._joint = (jctx, u, s)
        out[0, :, 0, :] += scale * phi0
        grad = (2.0 * scale * phi1) * u  # Kx_i = 2 phi' u_i, Ky_j = -2 phi' u_j
        out[1:, :, 0, :] += grad
        out[0, :, 1:, :] -= grad.transpose(1, 0, 2)
        w = ((-4.0 * scale) * phi2) * u
        out[1:, :, 1:, :] += u[:, :, None, :] * w.transpose(1, 0, 2)[None]
        diag = (2.0 * scale) * phi1
        for i in range(jctx.n_features):
            out[1 + i, :, 1 + i, :] -= self.inv_sq[i] * diag

    def backward_joint(self, A4, scale):
        jctx, u, s = self._joint
        adjK = A4[0, :, 0, :]
        B = A4[1:, :, 0, :] - A4[0, :, 1:, :].transpose(1, 0, 2)  # adj.Kx - adj.Ky
        Axy = A4[1:, :, 1:, :]
        P = np.einsum("iab,iab->ab", B, u)
        Au = np.einsum("iajb,ajb->iab", Axy, np.ascontiguousarray(u.transpose(1, 0, 2)))
        W = np.einsum("iab,iab->ab", Au, u)
        diagA = np.einsum("iaib->iab", Axy)
        T = np.einsum("iab,i->ab", diagA, self.inv_sq)
        phi0, phi1, phi2, phi3 = self._phi(s, 3)
        inner = float(np.sum(adjK * phi0) + 2.0 * np.sum(phi1 * P)
                      + np.sum(-4.0 * phi2 * W - 2.0 * phi1 * T))
        grads = [scale * g for g in self._shape_gradients(s, adjK, P, W, T)]
        if self.length_free:
            V = Au + np.einsum("jaib,jab->iab", Axy, u)
            coef_q = -2.0 * phi1 * adjK - 4.0 * phi2 * P + 8.0 * phi3 * W + 4.0 * phi2 * T
            g = np.einsum("iab,iab->i", u, (-4.0 * phi1) * B + (8.0 * phi2) * V)
            g += 4.0 * self.inv_sq * np.einsum("iab,ab->i", diagA, phi1)
            g += np.einsum("iab,ab->i", jctx.D * u, coef_q)
            grads.append(scale * (g if self.anisotropic else np.array([g.sum()])))
        return (np.concatenate(grads) if grads else np.zeros(0)), inner

    def _shape_gradients(self, s, adjK, P, W, T):
        """Gradients of hyperparameters other than the length scales (ordered before them)."""
        return []


class _RBF(_Stationary):
    def _phi(self, s, order):
        phi = np.exp(-0.5 * s)
        return [phi, -0.5 * phi, 0.25 * phi, -0.125 * phi][: order + 1]


class _Matern52(_Stationary):
    def _phi(self, s, order):
        r = np.sqrt(5.0 * s)
        e = np.exp(-r)
        out = [(1.0 + r + r * r / 3.0) * e]
        if order >= 1:
            out.append(-(5.0 / 6.0) * (1.0 + r) * e)
        if order >= 2:
            phi2 = (25.0 / 12.0) * e
            out.append(np.where(s > 0, phi2, 0.0))
        if order >= 3:
            safe = np.where(s > 0, s, 1.0)
            out.append(np.where(s > 0, -(25.0 / 24.0) * 5.0 * e / np.sqrt(5.0 * safe), 0.0))
        return out


class _Matern32(_Stationary):
    def _phi(self, s, order):
        r = np.sqrt(3.0 * s)
        e = np.exp(-r)
        out = [(1.0 + r) * e]
        if order >= 1:
            out.append(-1.5 * e)
        if order >= 2 or order >= 3:
            safe_r = np.where(s > 0, r, 1.0)
            # d/ds = (sqrt(3) / (2 r)) d/dr
            if order >= 2:
                out.append(np.where(s > 0, 1.5 * 3.0 * e / (2.0 * safe_r), 0.0))
            if order >= 3:
                out.append(np.where(
                    s > 0, -(27.0 / 4.0) * e * (safe_r + 1.0) / (2.0 * safe_r ** 3), 0.0))
        return out


class _RationalQuadratic(_Stationary):
    def __init__(self, kernel, n_features):
        if np.ndim(kernel.length_scale) and np.size(kernel.length_scale) > 1:
            raise TypeError("RationalQuadratic supports only an isotropic length_scale.")
        super().__init__(kernel, n_features)
        self.alpha = float(kernel.alpha)
        self.alpha_free = not kernel.hyperparameter_alpha.fixed
        self.n_theta += int(self.alpha_free)

    def _phi(self, s, order):
        a = self.alpha
        base = 1.0 + s / (2.0 * a)
        out = [base ** -a]
        if order >= 1:
            out.append(-0.5 * base ** (-a - 1.0))
        if order >= 2:
            out.append((a + 1.0) / (4.0 * a) * base ** (-a - 2.0))
        if order >= 3:
            out.append(-(a + 1.0) * (a + 2.0) / (8.0 * a * a) * base ** (-a - 3.0))
        return out

    def backward(self, adj):
        # scikit-learn orders hyperparameters by name: alpha, then length_scale
        grads = []
        if self.alpha_free:
            grads.append(self._alpha_gradient(adj))
        if self.length_free:
            grads.append(self._length_gradient(adj))
        return np.concatenate(grads) if grads else np.zeros(0)

    def _alpha_gradient(self, adj):
        u = self._u
        B = _add(adj.Kx, None if adj.Ky is None else -adj.Ky)
        P = 0.0 if B is None else np.einsum("abi,abi->ab", B, u)
        W = T = 0.0
        if adj.Kxy is not None:
            W = np.einsum("abij,abi,abj->ab", adj.Kxy, u, u)
            T = np.einsum("abii->abi", adj.Kxy) @ self.inv_sq
        return self._alpha_total(self._s, adj.K, P, W, T)

    def _shape_gradients(self, s, adjK, P, W, T):
        return [self._alpha_total(s, adjK, P, W, T)] if self.alpha_free else []

    def _alpha_total(self, s, adjK, P, W, T):
        """d/d(log alpha) of ``sum(adj * blocks)`` from the adjoint's contractions."""
        a = self.alpha
        base = 1.0 + s / (2.0 * a)
        log_base = np.log(base)
        ratio = s / (2.0 * a * base)  # = -a * d(log base)/da
        phi, phi1, phi2 = self._phi(s, 2)
        # d/d(log a) of phi, phi', phi''
        dphi = a * phi * (-log_base + ratio)
        dphi1 = a * phi1 * (-log_base + (a + 1.0) * ratio / a)
        dphi2 = a * phi2 * (1.0 / (a + 1.0) - 1.0 / a - log_base + (a + 2.0) * ratio / a)
        total = np.sum(adjK * dphi) + 2.0 * np.sum(dphi1 * P) + np.sum(-4.0 * dphi2 * W - 2.0 * dphi1 * T)
        return np.array([total])


class _Polynomial(_Node):
    """``k = (gamma x.y + coef0) ** degree``; scikit-learn's ``DotProduct`` is degree 1.

    Only ``coef0`` can be a free hyperparameter (``DotProduct``'s ``sigma_0``,
    with ``coef0 = sigma_0 ** 2``).
    """

    def __init__(self, gamma=1.0, coef0=1.0, degree=1, coef0_free=False):
        self.gamma, self.coef0, self.degree = float(gamma), float(coef0), int(degree)
        self.n_theta = int(coef0_free)

    def forward(self, ctx):
        X, Y = ctx.X, ctx.Y
        if ctx.diag:
            dot = np.einsum("ai,ai->a", X, Y)[:, None]
            Xa, Yb = X[:, None, :], Y[:, None, :]
        else:
            dot = X @ Y.T
            Xa, Yb = X[:, None, :], Y[None, :, :]
        base = self.gamma * dot + self.coef0
        deg = self.degree
        self._base = base
        blocks = Blocks(base ** deg)
        if ctx.need_x or ctx.need_y:
            d1 = deg * self.gamma * base ** (deg - 1) if deg >= 1 else np.zeros_like(base)
            if ctx.need_x:
                blocks.Kx = d1[..., None] * Yb
            if ctx.need_y:
                blocks.Ky = d1[..., None] * Xa
            if ctx.need_x and ctx.need_y:
                eye = np.eye(ctx.n_features)
                Kxy = d1[..., None, None] * eye
                if deg >= 2:
                    d2 = deg * (deg - 1) * self.gamma**2 * base ** (deg - 2)
                    Kxy = Kxy + d2[..., None, None] * Yb[..., :, None] * Xa[..., None, :]
                blocks.Kxy = Kxy
        self._out = blocks
        return blocks

    def forward_weighted(self, ctx, beta):
        """``K``, ``Kx``, ``Ky . beta`` and ``Kxy . beta`` without the ``(n, m, d, d)`` blocks."""
        X, Y = ctx.X, ctx.Y
        dot = X @ Y.T
        base = self.gamma * dot + self.coef0
        deg = self.degree
        K = base ** deg
        d1 = deg * self.gamma * base ** (deg - 1) if deg >= 1 else np.zeros_like(base)
        Kx = d1[..., None] * Y[None, :, :] if ctx.need_x else None
        x_beta = np.einsum("aj,bjk->abk", X, beta)  # x_a . beta_b
        Ky_beta = d1[..., None] * x_beta
        Kxy_beta = None
        if ctx.need_x:
            Kxy_beta = d1[..., None, None] * beta[None]
            if deg >= 2:
                d2 = deg * (deg - 1) * self.gamma**2 * base ** (deg - 2)
                Kxy_beta = Kxy_beta + (d2[..., None] * x_beta)[:, :, None, :] * Y[None, :, :, None]
        return K, Kx, Ky_beta, Kxy_beta

    def backward(self, adj):
        if not self.n_theta:
            return np.zeros(0)
        # d/d(log sigma_0) with coef0 = sigma_0^2 (degree 1: only K depends on it)
        return np.array([2.0 * self.coef0 * adj.K.sum()])


def polynomial_kernel(gamma, coef0, degree):
    """Compiled ``(gamma x.y + coef0) ** degree`` (fixed hyperparameters)."""
    return _Polynomial(gamma, coef0, degree)


# --------------------------------------------------------------- operators
class _Sum(_Node):
    def __init__(self, left, right):
        self.left, self.right = left, right
        self.n_theta = left.n_theta + right.n_theta

    def forward(self, ctx):
        a, b = self.left.forward(ctx), self.right.forward(ctx)
        return Blocks(a.K + b.K, _add(a.Kx, b.Kx), _add(a.Ky, b.Ky), _add(a.Kxy, b.Kxy))

    def forward_weighted(self, ctx, beta):
        a = _weighted(self.left, ctx, beta)
        b = _weighted(self.right, ctx, beta)
        return tuple(_add(x, y) for x, y in zip(a, b))

    def backward(self, adj):
        return np.concatenate([self.left.backward(adj), self.right.backward(adj)])

    def forward_joint(self, jctx, out, scale):
        self.left.forward_joint(jctx, out, scale)
        self.right.forward_joint(jctx, out, scale)

    def backward_joint(self, A4, scale):
        gl, il = self.left.backward_joint(A4, scale)
        gr, ir = self.right.backward_joint(A4, scale)
        return np.concatenate([gl, gr]), il + ir

    def inner(self, adj):
        return self.left.inner(adj) + self.right.inner(adj)


class _Product(_Node):
    def __init__(self, left, right):
        self.left, self.right = left, right
        self.n_theta = left.n_theta + right.n_theta
        # a constant factor (the amplitude of ConstantKernel() * RBF()) only scales
        self._scale_side = ("left" if isinstance(left, _Constant)
                            else "right" if isinstance(right, _Constant) else None)

    def forward(self, ctx):
        if self._scale_side is not None:
            const, other = ((self.left, self.right) if self._scale_side == "left"
                            else (self.right, self.left))
            b = other.forward(ctx)
            c = const.value
            if not isinstance(other, _Stationary):  # others keep their blocks for inner()
                return Blocks(c * b.K, *(None if x is None else c * x for x in (b.Kx, b.Ky, b.Kxy)))
            for block in (b.K, b.Kx, b.Ky, b.Kxy):  # fresh arrays: scaled in place
                if block is not None:
                    block *= c
            return b
        a, b = self.left.forward(ctx), self.right.forward(ctx)
        self._a, self._b = a, b
        K = a.K * b.K
        Kx = _add(_mul(a.Kx, b.K[..., None]), _mul(a.K[..., None], b.Kx))
        Ky = _add(_mul(a.Ky, b.K[..., None]), _mul(a.K[..., None], b.Ky))
        Kxy = None
        if ctx.need_x and ctx.need_y:
            terms = [
                _mul(a.Kxy, b.K[..., None, None]),
                _mul(a.K[..., None, None], b.Kxy),
                None if a.Kx is None or b.Ky is None else a.Kx[..., :, None] * b.Ky[..., None, :],
                None if a.Ky is None or b.Kx is None else b.Kx[..., :, None] * a.Ky[..., None, :],
            ]
            for term in terms:
                Kxy = _add(Kxy, term)
        out = Blocks(K, Kx, Ky, Kxy)
        self._out = out
        return out

    def _scaled(self):
        """``(constant, other)`` of a product with a constant factor."""
        if self._scale_side == "left":
            return self.left, self.right
        return self.right, self.left

    def forward_joint(self, jctx, out, scale):
        const, other = self._scaled()
        other.forward_joint(jctx, out, scale * const.value)

    def backward_joint(self, A4, scale):
        const, other = self._scaled()
        c = const.value
        g_other, inner_other = other.backward_joint(A4, scale * c)
        g_const = np.array([scale * c * inner_other]) if const.n_theta else np.zeros(0)
        parts = [g_const, g_other] if self._scale_side == "left" else [g_other, g_const]
        return np.concatenate(parts), c * inner_other

    def forward_weighted(self, ctx, beta):
        Ka, Kxa, Kyba, Kxyba = _weighted(self.left, ctx, beta)
        Kb, Kxb, Kybb, Kxybb = _weighted(self.right, ctx, beta)
        K = Ka * Kb
        Kx = _add(_mul(Kxa, Kb[..., None]), _mul(Ka[..., None], Kxb))
        Ky_beta = _add(_mul(Kyba, Kb[..., None]), _mul(Ka[..., None], Kybb))
        Kxy_beta = _add(_mul(Kxyba, Kb[..., None, None]), _mul(Ka[..., None, None], Kxybb))
        if Kxa is not None and Kybb is not None:
            Kxy_beta = _add(Kxy_beta, Kxa[..., :, None] * Kybb[..., None, :])
        if Kxb is not None and Kyba is not None:
            Kxy_beta = _add(Kxy_beta, Kxb[..., :, None] * Kyba[..., None, :])
        return K, Kx, Ky_beta, Kxy_beta

    def inner(self, adj):
        if self._scale_side is not None:
            const, other = ((self.left, self.right) if self._scale_side == "left"
                            else (self.right, self.left))
            return const.value * other.inner(adj)
        return _inner(adj, self._out)

    def backward(self, adj):
        if self._scale_side is not None:
            const, other = ((self.left, self.right) if self._scale_side == "left"
                            else (self.right, self.left))
            c = const.value
            # the gradient is linear in the adjoint: scale it rather than the blocks
            g_const = np.array([c * other.inner(adj)]) if const.n_theta else np.zeros(0)
            g_other = c * other.backward(adj)
            parts = [g_const, g_other] if self._scale_side == "left" else [g_other, g_const]
            return np.concatenate(parts)
        a, b = self._a, self._b
        return np.concatenate([
            self.left.backward(_product_adjoint(adj, b)),
            self.right.backward(_product_adjoint(adj, a)),
        ])


def _inner(adj, blocks):
    total = np.sum(adj.K * blocks.K)
    for x, y in ((adj.Kx, blocks.Kx), (adj.Ky, blocks.Ky), (adj.Kxy, blocks.Kxy)):
        if x is not None and y is not None:
            total += np.sum(x * y)
    return total


def _product_adjoint(adj, other):
    """Adjoint reaching one factor of a product, given the other factor's blocks."""
    K = adj.K * other.K
    if adj.Kx is not None and other.Kx is not None:
        K = K + np.einsum("abi,abi->ab", adj.Kx, other.Kx)
    if adj.Ky is not None and other.Ky is not None:
        K = K + np.einsum("abj,abj->ab", adj.Ky, other.Ky)
    if adj.Kxy is not None and other.Kxy is not None:
        K = K + np.einsum("abij,abij->ab", adj.Kxy, other.Kxy)
    Kx = _mul(adj.Kx, other.K[..., None])
    Ky = _mul(adj.Ky, other.K[..., None])
    if adj.Kxy is not None:
        if other.Ky is not None:
            Kx = _add(Kx, np.einsum("abij,abj->abi", adj.Kxy, other.Ky))
        if other.Kx is not None:
            Ky = _add(Ky, np.einsum("abij,abi->abj", adj.Kxy, other.Kx))
    Kxy = _mul(adj.Kxy, other.K[..., None, None])
    return Blocks(K, Kx, Ky, Kxy)


def _weighted(node, ctx, beta):
    """``forward_weighted`` of any node (leaves without derivatives have zero blocks)."""
    if hasattr(node, "forward_weighted"):
        return node.forward_weighted(ctx, beta)
    return node.forward(ctx).K, None, None, None


# ----------------------------------------------------------------- compile
def compile_kernel(kernel, n_features):
    """Compile a scikit-learn kernel into a tree of derivative-aware nodes.

    Raises
    ------
    TypeError
        For kernels whose derivative blocks are not implemented (or do not
        exist, e.g. the non-differentiable Matern 1/2 and the Laplacian).
    """
    if isinstance(kernel, _Node):  # already compiled (kernel ridge builds its own)
        return kernel
    own = getattr(kernel, "_compile_derivatives", None)
    if own is not None:  # kernels that build their own nodes (sklearn_gi.kernels)
        return own(n_features)
    if isinstance(kernel, Sum):
        return _Sum(compile_kernel(kernel.k1, n_features), compile_kernel(kernel.k2, n_features))
    if isinstance(kernel, Product):
        if _contains_gradient_white(kernel):
            raise TypeError(
                f"GradientWhiteKernel is noise of the observed derivatives and may only be "
                f"added to a kernel, not multiplied (got {kernel}): set its noise_level instead "
                "of scaling it."
            )
        return _Product(compile_kernel(kernel.k1, n_features),
                        compile_kernel(kernel.k2, n_features))
    if isinstance(kernel, ConstantKernel):
        return _Constant(kernel)
    if isinstance(kernel, WhiteKernel):
        return _White(kernel)
    if isinstance(kernel, GradientWhiteKernel):
        return _GradientWhite(kernel)
    if isinstance(kernel, Matern):  # before RBF: Matern subclasses RBF
        nu = kernel.nu
        if nu == 1.5:
            return _Matern32(kernel, n_features)
        if nu == 2.5:
            return _Matern52(kernel, n_features)
        if np.isinf(nu):
            return _RBF(kernel, n_features)
        raise TypeError(
            f"Matern(nu={nu}) has no derivative blocks here: nu=0.5 is not differentiable "
            "and general nu is not implemented. Use nu=1.5, 2.5 or inf. Supported kernels: "
            f"{SUPPORTED_KERNELS}."
        )
    if isinstance(kernel, RBF):
        return _RBF(kernel, n_features)
    if isinstance(kernel, RationalQuadratic):
        return _RationalQuadratic(kernel, n_features)
    if isinstance(kernel, DotProduct):
        return _Polynomial(1.0, kernel.sigma_0**2, 1,
                           coef0_free=not kernel.hyperparameter_sigma_0.fixed)
    raise TypeError(
        f"Kernel {kernel!r} ({type(kernel).__name__}) is not supported by the gradient-enhanced "
        f"models. Supported kernels: {SUPPORTED_KERNELS}."
    )


def assemble(blocks, n, m, d):
    """The joint matrix, component-major: row ``c * n + a`` (c=0 values, c=1..d partials)."""
    if blocks.Kx is None and blocks.Ky is None and blocks.Kxy is None:
        return blocks.K
    full = np.zeros((1 + d, n, 1 + d, m))
    full[0, :, 0, :] = blocks.K
    if blocks.Kx is not None:
        full[1:, :, 0, :] = blocks.Kx.transpose(2, 0, 1)
    if blocks.Ky is not None:
        full[0, :, 1:, :] = blocks.Ky.transpose(0, 2, 1)
    if blocks.Kxy is not None:
        full[1:, :, 1:, :] = blocks.Kxy.transpose(2, 0, 3, 1)
    return full.reshape((1 + d) * n, (1 + d) * m)


def split(A, n, d, with_gradients):
    """Adjoint blocks of a joint ``((1+d) n)^2`` matrix (the inverse of :func:`assemble`)."""
    if not with_gradients:
        return Blocks(A)
    full = A.reshape(1 + d, n, 1 + d, n)
    return Blocks(
        full[0, :, 0, :],
        full[1:, :, 0, :].transpose(1, 2, 0),
        full[0, :, 1:, :].transpose(0, 2, 1),
        full[1:, :, 1:, :].transpose(1, 3, 0, 2),
    )


def joint_kernel(kernel, X, Y=None):
    """Joint covariance of values and first derivatives under ``kernel``.

    Parameters
    ----------
    kernel : scikit-learn kernel
        One of the supported kernels (see ``SUPPORTED_KERNELS``).
    X : ndarray of shape (n, d)
    Y : ndarray of shape (m, d), default=None
        ``None`` means ``X`` (and a ``WhiteKernel`` then adds its noise to the
        values' diagonal).

    Returns
    -------
    K : ndarray of shape (n * (1 + d), m * (1 + d))
        Component-major: row ``c * n + a`` is the value (``c = 0``) or the
        partial ``df/dx_c`` at ``X[a]``; columns likewise at ``Y[b]``, with
        derivatives taken with respect to the second argument.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process.kernels import RBF
    >>> from sklearn_gi.kernels._derivative_kernels import joint_kernel
    >>> K = joint_kernel(RBF(1.0), np.array([[0.0], [1.0]]))
    >>> K.shape
    (4, 4)
    >>> float(K[2, 2])  # variance of the derivative of a unit RBF process
    1.0
    """
    X = np.asarray(X, dtype=float)
    Yv = X if Y is None else np.asarray(Y, dtype=float)
    d = X.shape[1]
    ctx = Context(X, None if Y is None else Yv, need_x=True, need_y=True)
    blocks = compile_kernel(kernel, d).forward(ctx)
    n, m = ctx.shape
    blocks.Kx = np.zeros((n, m, d)) if blocks.Kx is None else blocks.Kx
    return assemble(blocks, n, m, d)
