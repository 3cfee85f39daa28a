"""Kernels invariant to a group of permutations of the inputs, with their derivative blocks."""

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from ._derivative_kernels import Blocks, Context, _Node, _weighted, compile_kernel

__all__ = ["PermutationInvariantKernel"]


class PermutationInvariantKernel(Kernel):
    """``k_G(x, x') = sum_{P in G} k(P x, x')``: a kernel invariant to permutations of the inputs.

    ``(P x)_i = x[permutations[g, i]]``. When ``k`` itself is invariant under
    the group (``k(P x, P x') = k(x, x')``, true of every isotropic
    stationary kernel), ``k_G`` is a symmetric positive semi-definite kernel
    whose functions are invariant: ``f(P x) = f(x)`` for every ``P`` in the
    group. This is how sGDML symmetrises its force fields over the
    permutations of like atoms, but nothing here is chemical: any model
    whose target cannot depend on the order of some inputs (exchangeable
    inputs, identical components, mirror symmetries written as
    permutations) gains from it. Unlike training on every permuted copy of
    the data, the joint system keeps its ``n (1 + d)`` rows; each kernel
    evaluation costs ``|G|`` times the base kernel's.

    Value and derivative blocks follow from the chain rule through the
    permutation, so the kernel works in
    :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor` (with
    its hyperparameters, those of ``kernel``, fitted by maximum likelihood)
    and :class:`~sklearn_gi.kernel_ridge.GIKernelRidge`, with gradients.

    Parameters
    ----------
    kernel : kernel instance
        The base kernel (any the estimators support). It must be invariant
        under the permutations: an isotropic stationary kernel, or an
        anisotropic one with equal length scales on the inputs that the
        permutations exchange. Put a ``WhiteKernel`` outside, not inside:
        noise belongs to identical points, not to permuted ones.
    permutations : array-like of int of shape (n_permutations, n_features)
        Each row a permutation of ``range(n_features)``; the group should be
        closed under composition and contain the identity (the identity is
        added when missing).

    Attributes
    ----------
    permutations_ : ndarray of shape (n_permutations, n_features)
        The validated permutations, the identity first.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process.kernels import RBF
    >>> from sklearn_gi.kernels import PermutationInvariantKernel
    >>> swap = PermutationInvariantKernel(RBF(1.0), [[0, 1], [1, 0]])
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 2.0]])
    >>> K = swap(X)
    >>> bool(np.allclose(K[0], K[1]))  # x and its mirror image are the same point to k_G
    True
    """

    def __init__(self, kernel, permutations):
        self.kernel = kernel
        self.permutations = permutations

    # ------------------------------------------------------------ validation
    @property
    def permutations_(self):
        perms = np.asarray(self.permutations)
        if perms.ndim != 2 or perms.shape[0] < 1 or not np.issubdtype(perms.dtype, np.integer):
            raise ValueError(
                "permutations must be an integer array of shape (n_permutations, n_features); "
                f"got {np.asarray(self.permutations).dtype} of shape {perms.shape}."
            )
        identity = np.arange(perms.shape[1])
        if np.any(np.sort(perms, axis=1) != identity):
            bad = int(np.flatnonzero(np.any(np.sort(perms, axis=1) != identity, axis=1))[0])
            raise ValueError(f"permutations row {bad} is not a permutation of range({perms.shape[1]}).")
        perms = np.unique(perms, axis=0)
        is_identity = np.all(perms == identity, axis=1)
        return np.vstack([identity[None], perms[~is_identity]])

    def _checked(self, X):
        perms = self.permutations_
        if np.shape(X)[-1] != perms.shape[1]:
            raise ValueError(
                f"X has {np.shape(X)[-1]} features but the permutations act on {perms.shape[1]}."
            )
        return perms

    # ------------------------------------------------- scikit-learn kernel API
    @property
    def hyperparameters(self):
        return [Hyperparameter("kernel__" + h.name, h.value_type, h.bounds, h.n_elements, h.fixed)
                for h in self.kernel.hyperparameters]

    @property
    def theta(self):
        return self.kernel.theta

    @theta.setter
    def theta(self, theta):
        self.kernel.theta = theta

    @property
    def bounds(self):
        return self.kernel.bounds

    def get_params(self, deep=True):
        params = {"kernel": self.kernel, "permutations": self.permutations}
        if deep:
            params.update(("kernel__" + k, v) for k, v in self.kernel.get_params().items())
        return params

    def __eq__(self, other):
        return (type(self) is type(other) and self.kernel == other.kernel
                and np.array_equal(np.asarray(self.permutations), np.asarray(other.permutations)))

    def __call__(self, X, Y=None, eval_gradient=False):
        """Kernel ``k_G(X, Y)`` (and its gradient in ``theta`` when asked, ``Y`` None only)."""
        X = np.asarray(X, dtype=float)
        perms = self._checked(X)
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        other = X if Y is None else np.asarray(Y, dtype=float)
        K, gradient = 0.0, 0.0
        for q in perms:
            if eval_gradient:
                # the base kernel's gradient at (P x, x'): its own formula with two point sets
                Kq, Gq = _gradient_two_sets(self.kernel, X[:, q], other)
                gradient = gradient + Gq
            else:
                Kq = self.kernel(X[:, q], other)
            K = K + Kq
        return (K, gradient) if eval_gradient else K

    def diag(self, X):
        X = np.asarray(X, dtype=float)
        perms = self._checked(X)
        return sum(_paired(self.kernel, X[:, q], X) for q in perms)

    def is_stationary(self):
        return self.kernel.is_stationary()

    @property
    def requires_vector_input(self):
        return True

    def __repr__(self):
        return f"PermutationInvariantKernel({self.kernel!r}, {len(self.permutations_)} permutations)"

    # ------------------------------------------------------- derivative blocks
    def _compile_derivatives(self, n_features):
        """The node computing value and derivative blocks (see ``compile_kernel``)."""
        perms = self._checked(np.empty((0, n_features)))
        return _PermutationSum([compile_kernel(self.kernel, n_features) for _ in perms], perms)


def _paired(kernel, A, B):
    """``k(A[i], B[i])`` for each row, in chunks (never the full ``(n, n)`` matrix)."""
    out = np.empty(A.shape[0])
    step = 256
    for start in range(0, A.shape[0], step):
        rows = slice(start, start + step)
        out[rows] = np.diag(kernel(A[rows], B[rows]))
    return out


def _gradient_two_sets(kernel, A, B):
    """``k(A, B)`` and its gradient in ``theta``: the off-diagonal block of the stacked set's.

    scikit-learn kernels give gradients for one point set only; ``[A; B]`` with
    itself contains ``k(A, B)`` as its upper-right block.
    """
    K, gradient = kernel(np.vstack([A, B]), eval_gradient=True)
    n = A.shape[0]
    return K[:n, n:], gradient[:n, n:]


class _PermutationSum(_Node):
    """Node of ``sum_q k(x[:, q], y)``: one compiled copy of the base kernel per permutation.

    The derivative with respect to the permuted argument is mapped back to the
    unpermuted inputs: ``d/dx_{q_i} = d/d(P x)_i``, so the ``Kx`` block and the
    first feature axis of ``Kxy`` are scattered by ``q``; ``Ky`` is unchanged.
    """

    def __init__(self, nodes, perms):
        self.nodes, self.perms = nodes, perms
        self.n_theta = nodes[0].n_theta

    def _context(self, ctx, q):
        sub = Context(ctx.X[:, q], ctx.Y, need_x=ctx.need_x, need_y=ctx.need_y)
        if ctx.diag:  # each point with its own permuted image: (m, 1, p) differences
            sub.D = (ctx.X[:, q] - ctx.Y)[:, None, :]
            sub.shape = sub.D.shape[:2]
            sub.diag = True
        return sub

    def forward(self, ctx):
        # one running total plus one permutation's blocks at a time: the derivative block
        # (m, n, p, p) dominates memory, so it is added column slice by column slice
        total = None
        for q, node in zip(self.perms, self.nodes):
            blocks = node.forward(self._context(ctx, q))
            if total is None:
                total = Blocks(blocks.K.copy(), None, None if blocks.Ky is None else blocks.Ky.copy())
                if blocks.Kx is not None:
                    total.Kx = np.zeros_like(blocks.Kx)
                if blocks.Kxy is not None:
                    total.Kxy = np.zeros_like(blocks.Kxy)
            else:
                total.K += blocks.K
                if blocks.Ky is not None:
                    total.Ky += blocks.Ky
            for i, target in enumerate(q):  # d/dx_{q_i} = d/d(P x)_i
                if blocks.Kx is not None:
                    total.Kx[..., target] += blocks.Kx[..., i]
                if blocks.Kxy is not None:
                    total.Kxy[:, :, target, :] += blocks.Kxy[:, :, i, :]
            del blocks
        self._out = total
        return total

    def forward_weighted(self, ctx, beta):
        total = [None, None, None, None]
        for q, node in zip(self.perms, self.nodes):
            K, Kx, Ky_beta, Kxy_beta = _weighted(node, self._context(ctx, q), beta)
            if Kx is not None:
                mapped = np.empty_like(Kx)
                mapped[..., q] = Kx
                Kx = mapped
            if Kxy_beta is not None:
                mapped = np.empty_like(Kxy_beta)
                mapped[:, :, q, :] = Kxy_beta
                Kxy_beta = mapped
            for i, part in enumerate((K, Kx, Ky_beta, Kxy_beta)):
                if part is not None:
                    total[i] = part if total[i] is None else total[i] + part
        return tuple(total)

    @staticmethod
    def _permuted_adjoint(adj, q):
        return Blocks(adj.K, None if adj.Kx is None else adj.Kx[..., q], adj.Ky,
                      None if adj.Kxy is None else adj.Kxy[:, :, q, :])

    def backward(self, adj):
        return sum(node.backward(self._permuted_adjoint(adj, q)) for q, node in zip(self.perms, self.nodes))

    def inner(self, adj):
        return sum(node.inner(self._permuted_adjoint(adj, q)) for q, node in zip(self.perms, self.nodes))
