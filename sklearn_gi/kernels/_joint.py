"""The joint observation system of values and partial derivatives, shared by the kernel models.

Observations are ordered component-major: the ``n`` values, then every
sample's ``dY/dX_1``, and so on; unknown (NaN) partials are dropped per output.
With a feature Jacobian ``J = dZ/dX`` the derivative observations are the raw
partials ``J^T grad f``; their covariance comes from
:mod:`sklearn_gi.kernels._feature_jacobian` (never the ``(n, n, p, p)``
descriptor-space block) for the kernels it covers, else from the kernel's
blocks projected by :func:`_to_raw`.
"""

import numpy as np

from ._derivative_kernels import (
    Blocks,
    Context,
    JointContext,
    _weighted,
    assemble,
    compile_kernel,
    gradient_noise_terms,
    split,
    supports_joint,
)
from ._feature_jacobian import (
    feature_jacobian_covariance,
    feature_jacobian_gradient,
    supports_feature_jacobian,
    supports_feature_jacobian_gradient,
)

# test points per chunk: bounds the (chunk, n, d, d) temporaries of prediction; 2**18
# elements (2 MB) stay in cache: wing weight, 2000 points, values and gradients in
# 0.04 s from the first call (2**21: 0.13 s first, 0.05 s after)
_CHUNK_ELEMENTS = 2**18


class ObservationGroup:
    """Outputs sharing one pattern of known observations, hence one factorisation."""

    def __init__(self, outputs, rows):
        self.outputs = outputs  # indices of the outputs
        self.rows = rows  # indices of the known observations, None for all
        self.factor = None

    def select(self, K):
        return K if self.rows is None else K[np.ix_(self.rows, self.rows)]

    def select_to_overwrite(self, K, shared):
        """This group's block of ``K`` in an array a factorisation may overwrite.

        ``shared``: other groups still need ``K``, so a full block must be a copy
        (a selection of rows always is one).
        """
        if self.rows is not None:
            return self.select(K)
        return K.copy() if shared else K

    def put(self, dual, values):
        """Write this group's ``values`` (known rows, its outputs) into the full ``dual``."""
        if self.rows is None:
            dual[:, self.outputs] = values
        else:
            dual[np.ix_(self.rows, self.outputs)] = values

    def targets(self, targets):
        t = targets[:, self.outputs]
        return t if self.rows is None else t[self.rows]

    def columns(self, cross):
        return cross if self.rows is None else cross[..., self.rows]


class JointObservations:
    """Training inputs, targets and the layout of the joint value-and-gradient system.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    Y : ndarray of shape (n, k)
    G : ndarray of shape (n, k, d) or None
        Gradient targets (NaN: unknown).
    J : ndarray of shape (n, p, d) or (p, d) or None
        Feature Jacobian; ``None`` means the gradients are with respect to ``X``.
    noise_scale : ndarray of shape (d,) or None
        Scale of each input for a ``GradientWhiteKernel`` term: the partial
        ``dY/dX_c`` gets ``noise_level_c / noise_scale_c^2``; ``None`` means ones.
    """

    def __init__(self, X, Y, G=None, J=None, noise_scale=None):
        n, p = X.shape
        self.X, self.n, self.p = X, n, p
        self.k = Y.shape[1]
        if J is not None and J.ndim == 2:
            J = np.broadcast_to(J, (n,) + J.shape)
        self.J = J
        self.n_gradients = 0 if G is None else G.shape[2]
        targets = Y
        if G is not None:
            targets = np.concatenate([Y, G.transpose(2, 0, 1).reshape(self.n_gradients * n, self.k)])
        self.targets = targets
        self.groups = self._mask_groups(np.isfinite(targets))
        self.noise_scale = noise_scale
        self.noise_weight = (np.ones(self.n_gradients) if noise_scale is None
                             else 1.0 / np.asarray(noise_scale, dtype=float) ** 2)
        # the node whose covariance came from _feature_jacobian: it holds no blocks to backward
        self._blocks_pending = None

    @property
    def n_observations(self):
        return self.n * (1 + self.n_gradients)

    @staticmethod
    def _mask_groups(mask):
        patterns = {}
        for j in range(mask.shape[1]):
            patterns.setdefault(mask[:, j].tobytes(), []).append(j)
        groups = []
        for outputs in patterns.values():
            known = mask[:, outputs[0]]
            groups.append(ObservationGroup(np.array(outputs), None if known.all()
                                           else np.flatnonzero(known)))
        return groups

    # ------------------------------------------------------------ training
    def _joint_layout(self, node):
        return self.n_gradients > 0 and self.J is None and supports_joint(node)

    def covariance(self, kernel):
        """Joint prior covariance of all observations (no noise) and the compiled kernel."""
        with_grad = self.n_gradients > 0
        node = compile_kernel(kernel, self.p)
        if self._joint_layout(node):
            n, d = self.n, self.n_gradients
            out = np.zeros((1 + d, n, 1 + d, n))
            node.forward_joint(JointContext(self.X), out, 1.0)
            K = out.reshape((1 + d) * n, (1 + d) * n)
        elif with_grad and self.J is not None and supports_feature_jacobian(node, self.p):
            # never the (n, n, p, p) descriptor-space block; the likelihood gradient
            # (gradient below) is contracted the same way where it can be
            K = feature_jacobian_covariance(node, self.X, self.J)
            self._blocks_pending = node
        else:
            blocks = node.forward(Context(self.X, need_x=with_grad, need_y=with_grad))
            if with_grad and self.J is not None:
                blocks = _to_raw(blocks, self.J, self.J)
            K = assemble(blocks, self.n, self.n, self.n_gradients)
        noise = self.kernel_noise(node)
        if noise is not None:
            K[np.diag_indices_from(K)] += noise
        return K, node

    def kernel_noise(self, node):
        """Diagonal ``(N,)`` of the kernel's ``GradientWhiteKernel`` terms (None without any).

        Zero on the value rows; ``noise_level_c * noise_weight_c`` on the rows of
        ``dY/dX_c``. Matrix-free solvers add it to their products.
        """
        terms = gradient_noise_terms(compile_kernel(node, self.p))
        if not terms or not self.n_gradients:
            return None
        per_input = np.zeros(self.n_gradients)
        for leaf, _ in terms:
            if leaf.noise.size not in (1, self.n_gradients):
                raise ValueError(
                    f"GradientWhiteKernel has {leaf.noise.size} noise levels but the gradients "
                    f"have {self.n_gradients} partials: give one level or one per partial."
                )
            per_input += leaf.noise * self.noise_weight
        return np.concatenate([np.zeros(self.n), np.repeat(per_input, self.n)])

    def gradient(self, node, A):
        """``d sum(A * K) / d theta`` for the ``node`` of the last :meth:`covariance`."""
        if self._joint_layout(node):
            n, d = self.n, self.n_gradients
            grad = node.backward_joint(A.reshape(1 + d, n, 1 + d, n), 1.0)[0]
        else:
            if self._blocks_pending is not node:
                grad = node.backward(self.adjoint(A))
            elif supports_feature_jacobian_gradient(node, self.p):
                grad = feature_jacobian_gradient(node, self.X, self.J, A)
            else:
                # the covariance skipped the blocks that backward reads: O(n^2 p^2) memory
                node.forward(Context(self.X, need_x=True, need_y=True))
                self._blocks_pending = None
                grad = node.backward(self.adjoint(A))
        terms = gradient_noise_terms(node)
        if terms and self.n_gradients:
            # the adjoint's diagonal on each partial's rows, summed per partial
            diagonal = np.diagonal(A)[self.n:].reshape(self.n_gradients, self.n).sum(axis=1)
            for leaf, offset in terms:
                if leaf.n_theta:
                    per_input = leaf.noise * self.noise_weight * diagonal
                    grad[offset:offset + leaf.n_theta] = (per_input if leaf.n_theta > 1
                                                          else per_input.sum())
        return grad

    def adjoint(self, A):
        """Adjoint blocks of a joint ``(N, N)`` matrix, in the kernel's coordinates."""
        adj = split(A, self.n, self.n_gradients, self.n_gradients > 0)
        if self.n_gradients and self.J is not None:
            adj = _adjoint_from_raw(adj, self.J)
        return adj

    def dual_parts(self, dual):
        """Split dual weights ``(N, k)`` into value ``(n, k)`` and derivative ``(n, p, k)`` parts.

        The derivative part is mapped to the kernel's coordinates (``J @ w``).
        """
        values = dual[: self.n]
        d = self.n_gradients
        if not d:
            return values, None
        beta = dual[self.n:].reshape(d, self.n, self.k).transpose(1, 0, 2)
        if self.J is not None:
            beta = np.einsum("bjs,bsk->bjk", self.J, beta)
        return values, beta

    # ---------------------------------------------------------- prediction
    def chunks(self, m, width):
        step = max(1, _CHUNK_ELEMENTS // max(1, self.n * width))
        return [slice(i, min(m, i + step)) for i in range(0, m, step)]

    def means(self, kernel, X, dual_values, dual_gradients, want_values, want_gradients):
        """Posterior means: values ``(m, k)`` and gradients ``(m, k, p)`` (None when not wanted).

        Never builds the ``(m, n, p, p)`` cross covariance: the derivative
        blocks are contracted with the dual weights leaf by leaf.
        """
        node = compile_kernel(kernel, X.shape[1])
        m, p = X.shape
        k = dual_values.shape[1]
        beta = dual_gradients
        values = np.zeros((m, k)) if want_values else None
        grads = np.zeros((m, k, p)) if want_gradients else None
        for rows in self.chunks(m, p * k * (1 + (beta is not None))):
            ctx = Context(X[rows], self.X, need_x=want_gradients, need_y=beta is not None)
            if beta is None:
                blocks = node.forward(ctx)
                K, Kx, Ky_beta, Kxy_beta = blocks.K, blocks.Kx, None, None
            else:
                K, Kx, Ky_beta, Kxy_beta = _weighted(node, ctx, beta)
            if want_values:
                values[rows] = K @ dual_values
                if Ky_beta is not None:
                    values[rows] += Ky_beta.sum(axis=1)
            if want_gradients:
                if Kx is not None:
                    grads[rows] = np.einsum("abi,bk->aki", Kx, dual_values)
                if Kxy_beta is not None:
                    grads[rows] += Kxy_beta.sum(axis=1).transpose(0, 2, 1)
        return values, grads

    def cross(self, node, X, part):
        """Cross covariance of test values ``(m, N)`` or gradients ``(m, p, N)`` with the observations."""
        n, d = self.n, self.n_gradients
        m, p = X.shape
        blocks = node.forward(Context(X, self.X, need_x=part == "gradients", need_y=d > 0))
        if d and blocks.Ky is None:  # a kernel without derivatives (constant, white)
            blocks.Ky = np.zeros((m, n, p))
        if d and self.J is not None:
            blocks.Ky = np.einsum("abj,bjs->abs", blocks.Ky, self.J)
            if blocks.Kxy is not None:
                blocks.Kxy = np.einsum("abij,bjs->abis", blocks.Kxy, self.J)
        if part == "values":
            cols = [blocks.K] + ([blocks.Ky.transpose(0, 2, 1).reshape(m, d * n)] if d else [])
            return np.hstack(cols)
        Kx = blocks.Kx if blocks.Kx is not None else np.zeros((m, n, p))
        cols = [Kx.transpose(0, 2, 1)]
        if d:
            Kxy = blocks.Kxy if blocks.Kxy is not None else np.zeros((m, n, p, d))
            cols.append(Kxy.transpose(0, 2, 3, 1).reshape(m, p, d * n))
        return np.concatenate(cols, axis=2)


def _to_raw(blocks, Ja, Jb):
    """Blocks of the raw partials ``J^T grad f`` from the kernel-coordinate blocks."""
    Kx = None if blocks.Kx is None else np.einsum("abi,air->abr", blocks.Kx, Ja)
    Ky = None if blocks.Ky is None else np.einsum("abj,bjs->abs", blocks.Ky, Jb)
    Kxy = None
    if blocks.Kxy is not None:
        Kxy = np.einsum("air,abij,bjs->abrs", Ja, blocks.Kxy, Jb, optimize=True)
    return Blocks(blocks.K, Kx, Ky, Kxy)


def _adjoint_from_raw(adj, J):
    """The adjoint of :func:`_to_raw`."""
    Kx = np.einsum("abr,air->abi", adj.Kx, J)
    Ky = np.einsum("abs,bjs->abj", adj.Ky, J)
    Kxy = np.einsum("air,abrs,bjs->abij", J, adj.Kxy, J, optimize=True)
    return Blocks(adj.K, Kx, Ky, Kxy)
