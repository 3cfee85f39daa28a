"""Cheap representations of Jacobians ``dZ/dX`` for the chain rule.

A Jacobian is one of:

* ``constant``: one ``(p, d)`` matrix for every sample (linear maps: PCA);
* ``diagonal``: ``(d,)`` (the same for every sample: scalers) or ``(n, d)``
  (elementwise maps, clipping), never expanded to ``(n, d, d)`` unless asked;
* ``dense``: ``(n, p, d)``;
* ``row_scaled`` (:class:`RowScaledJacobian`): ``J_i = L diag(s_i) R`` with
  constant ``L (p, m)`` (or the identity) and ``R (m, d)`` and per-sample scales
  ``s_i`` computed on demand, chunk by chunk (random Fourier features, Nystroem
  with dot-product kernels);
* ``polynomial`` (:class:`PolynomialJacobian`): ``J_i = diag(l) P(u_i) diag(s_i)``
  with ``P`` the Jacobian of polynomial features at the polynomial map's inputs
  ``u_i``, ``l`` a shared output scale and ``s_i`` an input scale (scalers
  around PolynomialFeatures). Every non-zero entry of ``P(u_i)`` is a constant
  times a monomial of lower degree, which lets least-squares sums be formed
  from the ``(p', p')`` Gram matrix of those monomials instead of the rows;
* ``lazy`` (:class:`LazyJacobian`): any per-sample Jacobian whose dense rows
  ``J[start:stop]`` are computed on demand (Nystroem with the RBF kernel,
  compositions that no cheaper form covers).

Composition, pull-back of gradients and application to model gradients keep
the cheapest form; the two lazy kinds never hold ``(n, p, d)`` at once unless
:meth:`Jacobian.toarray` is asked for it.
"""

import numpy as np

# Target bytes of one temporary chunk of a lazy Jacobian's rows.
_CHUNK_BYTES = 4 * 2**20


def chunk_slices(n_samples, row_bytes):
    """Row slices covering ``range(n_samples)`` whose chunks take about ``_CHUNK_BYTES``."""
    step = int(max(16, _CHUNK_BYTES // max(1, int(row_bytes))))
    return [slice(start, min(start + step, n_samples)) for start in range(0, n_samples, step)]


class Jacobian:
    """Jacobian of a feature map at ``n`` samples, in its cheapest form.

    Parameters
    ----------
    kind : {"constant", "diagonal", "dense"}
    values : ndarray
        ``(p, d)``, ``(d,)`` or ``(n, d)``, or ``(n, p, d)`` respectively.
    """

    is_lazy = False

    def __init__(self, kind, values):
        self.kind = kind
        self.values = np.asarray(values)

    @property
    def n_samples(self):
        """Number of samples of a per-sample Jacobian; None when shared by all."""
        if self.kind == "dense" or (self.kind == "diagonal" and self.values.ndim == 2):
            return self.values.shape[0]
        return None

    def rows(self, start, stop):
        """``J[start:stop]`` as ``(m, p, d)``, or ``(p, d)`` when shared by every sample."""
        if self.kind == "dense":
            return self.values[start:stop]
        if self.kind == "diagonal" and self.values.ndim == 2:
            return Jacobian("diagonal", self.values[start:stop]).toarray()
        return self.toarray()

    @classmethod
    def from_array(cls, array):
        """A 2-D array is a constant Jacobian, a 3-D one a per-sample one."""
        array = np.asarray(array, dtype=float)
        if array.ndim == 2:
            return cls("constant", array)
        if array.ndim == 3:
            return cls("dense", array)
        raise ValueError(
            f"A Jacobian must be 2-D (n_outputs, n_inputs) or 3-D (n_samples, n_outputs, "
            f"n_inputs), got shape {array.shape}."
        )

    @property
    def shape_out_in(self):
        """``(p, d)``: output and input widths."""
        if self.kind == "diagonal":
            return (self.values.shape[-1],) * 2
        return self.values.shape[-2:]

    def then(self, outer):
        """The composition ``outer @ self`` (``self`` applied first)."""
        if self.is_lazy or outer.is_lazy:
            return _compose_lazy(self, outer)
        a, b = outer, self
        if a.kind == "diagonal" and b.kind == "diagonal":
            return Jacobian("diagonal", a.values * b.values)
        if a.kind == "diagonal":
            # rows of b scaled by a
            scaled = a.values[..., :, None] * (b.values if b.kind == "dense" else b.values)
            kind = "constant" if a.values.ndim == 1 and b.kind == "constant" else "dense"
            return Jacobian(kind, scaled)
        if b.kind == "diagonal":
            scaled = a.values * b.values[..., None, :]
            kind = "constant" if b.values.ndim == 1 and a.kind == "constant" else "dense"
            return Jacobian(kind, scaled)
        kind = "constant" if a.kind == b.kind == "constant" else "dense"
        return Jacobian(kind, a.values @ b.values)

    def toarray(self):
        """``(p, d)`` when the same for every sample, else ``(n, p, d)``."""
        if self.kind == "diagonal":
            if self.values.ndim == 1:
                return np.diag(self.values)
            n, d = self.values.shape
            out = np.zeros((n, d, d), dtype=self.values.dtype)
            out[:, np.arange(d), np.arange(d)] = self.values
            return out
        return self.values

    def apply(self, gradient):
        """Chain a model gradient ``(n, k, p)`` through: ``(n, k, d)``."""
        if self.kind == "diagonal":
            return gradient * self.values[..., None, :]
        return gradient @ self.values

    def is_square(self):
        p, d = self.shape_out_in
        return p == d

    def pull_back(self, gradient):
        """``gradient @ inv(J)`` for ``gradient (n, k, d)``, or None when J is singular."""
        if not self.is_square():
            return None
        if self.kind == "diagonal":
            if np.any(self.values == 0):
                return None
            return gradient / self.values[..., None, :]
        J = self.values
        # G @ inv(J) = solve(J^T, G^T)^T, without forming the inverse
        try:
            if self.kind == "constant":
                if _ill_conditioned(J):
                    return None
                flat = gradient.reshape(-1, J.shape[0])
                # an unknown (NaN) partial makes every partial it mixes into unknown
                return np.linalg.solve(J.T, flat.T).T.reshape(gradient.shape)
            if any(_ill_conditioned(Ji) for Ji in J):
                return None
            return np.swapaxes(np.linalg.solve(np.swapaxes(J, 1, 2),
                                               np.swapaxes(gradient, 1, 2)), 1, 2)
        except np.linalg.LinAlgError:
            return None


class _LazyBase(Jacobian):
    """Shared behaviour of the Jacobians whose rows are computed on demand."""

    is_lazy = True
    values = None

    def _row_bytes(self, extra=0):
        p, d = self.shape_out_in
        return 8 * (p * d + extra)

    def chunks(self, extra_width=0):
        """Row slices of about ``_CHUNK_BYTES`` (``extra_width`` more floats per row)."""
        return chunk_slices(self.n_samples, self._row_bytes(extra_width))

    def toarray(self):
        """The whole ``(n, p, d)`` array (only when asked: it is what the lazy kinds avoid)."""
        p, d = self.shape_out_in
        return np.concatenate([self.rows(c.start, c.stop) for c in self.chunks()], axis=0) \
            if self.n_samples else np.zeros((0, p, d))

    def _apply_rows(self, gradient, start, stop):
        return np.matmul(gradient, self.rows(start, stop))

    def apply(self, gradient):
        """Chain a model gradient ``(n, k, p)`` through, chunk by chunk: ``(n, k, d)``."""
        gradient = np.asarray(gradient) if not isinstance(gradient, np.ndarray) else gradient
        n, k, p = gradient.shape
        out = np.empty((n, k, self.shape_out_in[1]), dtype=np.result_type(gradient.dtype, float))
        for c in self.chunks(2 * k * p):
            out[c] = self._apply_rows(gradient[c], c.start, c.stop)
        return out

    def pull_back(self, gradient):
        """``gradient @ inv(J_i)`` chunk by chunk, or None when non-square or singular."""
        if not self.is_square():
            return None
        out = np.empty(gradient.shape, dtype=np.result_type(gradient.dtype, float))
        for c in self.chunks():
            block = Jacobian("dense", self.rows(c.start, c.stop)).pull_back(gradient[c])
            if block is None:
                return None
            out[c] = block
        return out


class RowScaledJacobian(_LazyBase):
    """Per-sample Jacobians ``J_i = L diag(s_i) R``, the scales computed on demand.

    Random Fourier features ``z = c cos(x W + b)`` have ``J_i = diag(s_i) W^T``
    with ``s_i = -c sin(x_i W + b)``; a Nystroem map with a dot-product kernel
    has ``J_i = N diag(k'(x_i . c_j)) C``. Only ``L``, ``R`` and one chunk of
    scales are held at a time, so memory is ``O(p m + m d + chunk)``. Without
    ``L`` the Gram-like sum of a least-squares fit has the exact, cheaper form
    ``sum_i w_i J_i J_i^T = (R R^T) * (S^T diag(w) S)`` (``*`` elementwise).

    Parameters
    ----------
    scales : callable
        ``scales(start, stop)`` returns the scales of samples ``start:stop``,
        an array of shape ``(stop - start, m)``.
    right : ndarray of shape (m, d)
        ``R``.
    left : ndarray of shape (p, m), default=None
        ``L``; None is the identity (``p == m``).
    n_samples : int
        Number of samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.preprocessing._jacobian_types import RowScaledJacobian
    >>> S = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> J = RowScaledJacobian(lambda start, stop: S[start:stop], np.eye(2), n_samples=2)
    >>> J.toarray()[1]
    array([[3., 0.],
           [0., 4.]])
    """

    kind = "row_scaled"

    def __init__(self, scales, right, left=None, *, n_samples):
        self.scales = scales
        self.right = np.asarray(right)
        self.left = None if left is None else np.asarray(left)
        self._n_samples = int(n_samples)

    @property
    def n_samples(self):
        return self._n_samples

    @property
    def shape_out_in(self):
        p = self.right.shape[0] if self.left is None else self.left.shape[0]
        return (p, self.right.shape[1])

    def rows(self, start, stop):
        block = self.scales(start, stop)[:, :, None] * self.right
        return block if self.left is None else np.matmul(self.left, block)

    def _apply_rows(self, gradient, start, stop):
        if self.left is not None:
            gradient = gradient @ self.left
        return (gradient * self.scales(start, stop)[:, None, :]) @ self.right

    def with_scales(self, factor):
        """Scales multiplied by ``factor`` (``(m,)``, or a callable of ``(start, stop)``)."""
        scales = self.scales
        if callable(factor):
            def scaled(start, stop):
                return factor(start, stop) * scales(start, stop)
        else:
            def scaled(start, stop):
                return factor * scales(start, stop)
        return RowScaledJacobian(scaled, self.right, self.left, n_samples=self.n_samples)


class LazyJacobian(_LazyBase):
    """Per-sample Jacobians whose dense rows are computed on demand.

    Parameters
    ----------
    rows : callable
        ``rows(start, stop)`` returns ``J[start:stop]``, of shape
        ``(stop - start, p, d)``.
    n_samples : int
    shape_out_in : tuple of int
        ``(p, d)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.preprocessing._jacobian_types import LazyJacobian
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> J = LazyJacobian(lambda start, stop: X[start:stop, None, :], n_samples=3, shape_out_in=(1, 2))
    >>> J.apply(np.ones((3, 1, 1)))[:, 0]
    array([[0., 1.],
           [2., 3.],
           [4., 5.]])
    """

    kind = "lazy"

    def __init__(self, rows, *, n_samples, shape_out_in):
        self._rows = rows
        self._n_samples = int(n_samples)
        self._shape = tuple(shape_out_in)

    @property
    def n_samples(self):
        return self._n_samples

    @property
    def shape_out_in(self):
        return self._shape

    def rows(self, start, stop):
        return self._rows(start, stop)


class PolynomialJacobian(_LazyBase):
    """Jacobians of polynomial features, ``J_i = diag(left) P(u_i) diag(right_i)``, on demand.

    For a feature ``z_f = prod_m u_m ** e_fm`` the partial ``dz_f/du_m`` is
    ``e_fm`` times the monomial with exponents ``e_f - 1_m``, of lower degree.
    Those monomials (the *derivative basis*, ``p'`` of them) are computed per
    chunk of rows, so memory is ``O(chunk * p')`` and a dense row costs a
    gather, not ``p * d`` powers.

    Parameters
    ----------
    U : ndarray of shape (n_samples, d)
        Inputs of the polynomial map.
    powers : ndarray of shape (p, d)
        ``PolynomialFeatures.powers_``.
    left : ndarray of shape (p,), default=None
        Scale of each output feature (a scaler after the features); None is 1.
    right : ndarray of shape (d,) or (n_samples, d), default=None
        Scale of each input (a scaler before the features), shared or per
        sample; None is 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.preprocessing._jacobian_types import PolynomialJacobian
    >>> powers = np.array([[0, 0], [1, 0], [1, 1], [0, 2]])  # 1, u0, u0 u1, u1^2
    >>> J = PolynomialJacobian(np.array([[2.0, 3.0]]), powers)
    >>> J.toarray()[0]
    array([[0., 0.],
           [1., 0.],
           [3., 2.],
           [0., 6.]])
    """

    kind = "polynomial"

    def __init__(self, U, powers, *, left=None, right=None):
        self.U = np.asarray(U)
        self.powers = np.asarray(powers, dtype=np.int64)
        self.left = None if left is None else np.asarray(left, dtype=float)
        self.right = None if right is None else np.asarray(right, dtype=float)
        self._basis = None

    @property
    def n_samples(self):
        return self.U.shape[0]

    @property
    def shape_out_in(self):
        return self.powers.shape

    def derivative_basis(self):
        """``(exponents (p', d), index (p, d), coefficient (p, d))``, cached.

        ``P(u)[f, m] = coefficient[f, m] * monomial(u, exponents[index[f, m]])``;
        ``coefficient`` is 0 (and ``index`` 0) where ``z_f`` does not depend on ``u_m``.
        """
        if self._basis is None:
            p, d = self.powers.shape
            coefficient = self.powers.astype(float)
            index = np.zeros((p, d), dtype=np.int64)
            position = {}
            for f, m in zip(*np.nonzero(self.powers)):
                lowered = self.powers[f].copy()
                lowered[m] -= 1
                index[f, m] = position.setdefault(tuple(lowered), len(position))
            exponents = np.array(list(position), dtype=np.int64).reshape(len(position), d)
            self._basis = exponents, index, coefficient
        return self._basis

    def monomials(self, start, stop):
        """The derivative basis at rows ``start:stop``: ``(stop - start, p')``."""
        exponents = self.derivative_basis()[0]
        U = self.U[start:stop]
        out = np.ones((U.shape[0], exponents.shape[0]), dtype=U.dtype if U.dtype.kind == "f" else float)
        for m in range(exponents.shape[1]):
            for power in np.unique(exponents[:, m]):
                if power:
                    out[:, exponents[:, m] == power] *= (U[:, m] ** power)[:, None]
        return out

    def right_scales(self, start, stop):
        """``right`` at rows ``start:stop`` as ``(stop - start, d)``, or ``(d,)``/None when shared."""
        if self.right is None or self.right.ndim == 1:
            return self.right
        return self.right[start:stop]

    def rows(self, start, stop):
        _, index, coefficient = self.derivative_basis()
        monomials = self.monomials(start, stop)
        block = monomials[:, index] * coefficient.astype(monomials.dtype)  # (m, p, d)
        if self.left is not None:
            block *= self.left[:, None]
        right = self.right_scales(start, stop)
        if right is not None:
            block *= right[:, None, :] if right.ndim == 2 else right
        return block

    def with_left(self, scale):
        left = scale if self.left is None else self.left * scale
        return PolynomialJacobian(self.U, self.powers, left=left, right=self.right)

    def with_right(self, scale):
        right = scale if self.right is None else self.right * scale
        return PolynomialJacobian(self.U, self.powers, left=self.left, right=right)


def _is_shared_diagonal(J):
    return J.kind == "diagonal" and J.values.ndim == 1


def _compose_lazy(inner, outer):
    """``outer @ inner`` when either is lazy: a row-scaled form where one exists."""
    p, d = outer.shape_out_in[0], inner.shape_out_in[1]
    n = inner.n_samples if inner.n_samples is not None else outer.n_samples
    # scalers around polynomial features keep the structured form
    if outer.kind == "polynomial" and not inner.is_lazy and inner.kind == "diagonal":
        return outer.with_right(inner.values)
    if inner.kind == "polynomial" and _is_shared_diagonal(outer):
        return inner.with_left(outer.values)
    if inner.kind == "row_scaled" and not outer.is_lazy:
        if outer.kind == "diagonal" and inner.left is None:
            if outer.values.ndim == 1:
                return inner.with_scales(outer.values)
            values = outer.values
            return inner.with_scales(lambda start, stop: values[start:stop])
        if outer.kind == "constant" or _is_shared_diagonal(outer):
            left = inner.left if inner.left is not None else None
            matrix = np.diag(outer.values) if outer.kind == "diagonal" else outer.values
            left = matrix if left is None else matrix @ left
            return RowScaledJacobian(inner.scales, inner.right, left, n_samples=n)
    if outer.kind == "row_scaled" and not inner.is_lazy:
        if _is_shared_diagonal(inner):
            return RowScaledJacobian(outer.scales, outer.right * inner.values, outer.left,
                                     n_samples=n)
        if inner.kind == "constant":
            return RowScaledJacobian(outer.scales, outer.right @ inner.values, outer.left,
                                     n_samples=n)

    def rows(start, stop):
        return np.matmul(outer.rows(start, stop), inner.rows(start, stop))

    return LazyJacobian(rows, n_samples=n, shape_out_in=(p, d))


def _ill_conditioned(J):
    return np.linalg.cond(J) > 1.0 / np.finfo(float).eps ** 0.5
