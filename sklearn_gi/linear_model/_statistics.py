"""Mergeable sufficient statistics of the GI ridge normal equations.

They let :meth:`GIRidge.partial_fit` and map-reduce frameworks (Dask, Spark)
fit :class:`GIRidge` on data that arrives, or lives, in pieces: every piece
reduces to ``O(p^2)`` numbers and two pieces' statistics merge exactly.
"""

import numpy as np


class GIRidgeStatistics:
    """Sufficient statistics of GI ridge fits on part of the data, mergeable.

    Holds the weight sum, the weighted means of ``X`` and ``y``, their centred
    co-moments (about those means) and the gradient terms of the normal
    equations. Merging updates the means and co-moments with the pairwise
    formula of Chan, Golub and LeVeque, so data far from the origin lose no
    accuracy to cancellation, and the result does not depend on the order of
    the pieces (up to rounding). The statistics do not depend on ``alpha``,
    ``gradient_weight`` or ``fit_intercept``, which are applied when solving.

    Build them with :meth:`GIRidge.sufficient_statistics`, combine them with
    :meth:`merge` (or ``+``) and solve with :meth:`GIRidge.fit_statistics`.

    Parameters
    ----------
    sum_weight : float
        Sum of the sample weights.
    X_mean : ndarray of shape (n_features,)
    y_mean : ndarray of shape (n_outputs,)
    gram : ndarray of shape (n_features, n_features)
        ``sum_i w_i (x_i - X_mean)(x_i - X_mean)^T``.
    cross : ndarray of shape (n_features, n_outputs)
        ``sum_i w_i (x_i - X_mean)(y_i - y_mean)^T``.
    H : ndarray of shape (1 or n_outputs, n_features, n_features) or None
        Gradient term ``sum_i w_i J_i M_i J_i^T`` (None: no gradients).
    r : ndarray of shape (n_outputs, n_features) or None
        Gradient term ``sum_i w_i J_i (m_i * g_i)``.
    y_ndim : {1, 2}
        Dimensions of the targets.
    dtype : numpy dtype
        Floating dtype of ``X``, the dtype of the coefficients.
    partial_weights : ndarray of shape (n_outputs, n_inputs), default=None
        The partial weights baked into ``H`` and ``r`` (None: all 1). Only
        statistics with the same weights merge.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.linear_model import GIRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)) + 1000.0
    >>> y = X @ [1.0, 2.0, 3.0] + rng.normal(size=100)
    >>> G = np.tile([1.0, 2.0, 3.0], (100, 1))
    >>> model = GIRidge(alpha=0.1)
    >>> parts = [model.sufficient_statistics(X[i::4], y[i::4], G[i::4]) for i in range(4)]
    >>> merged = parts[0] + parts[1] + parts[2] + parts[3]
    >>> merged.sum_weight
    100.0
    >>> one_shot = GIRidge(alpha=0.1).fit(X, y, G)
    >>> bool(np.allclose(model.fit_statistics(merged).coef_, one_shot.coef_, rtol=1e-10))
    True
    """

    def __init__(self, sum_weight, X_mean, y_mean, gram, cross, H=None, r=None, *, y_ndim=1,
                 dtype=np.float64, partial_weights=None):
        self.sum_weight = float(sum_weight)
        self.X_mean = np.asarray(X_mean, dtype=np.float64)
        self.y_mean = np.asarray(y_mean, dtype=np.float64)
        self.gram = np.asarray(gram, dtype=np.float64)
        self.cross = np.asarray(cross, dtype=np.float64)
        self.H = None if H is None else np.asarray(H, dtype=np.float64)
        self.r = None if r is None else np.asarray(r, dtype=np.float64)
        self.y_ndim = y_ndim
        self.dtype = np.dtype(dtype)
        self.partial_weights = None if partial_weights is None else np.asarray(partial_weights, float)

    @property
    def n_features(self):
        return self.X_mean.shape[0]

    @property
    def n_outputs(self):
        return self.y_mean.shape[0]

    def merge(self, other):
        """Statistics of the union of both pieces of data (a new object).

        Parameters
        ----------
        other : GIRidgeStatistics

        Returns
        -------
        merged : GIRidgeStatistics

        Raises
        ------
        ValueError
            If the pieces have different numbers of features or outputs, or
            1-D and 2-D targets.
        """
        if not isinstance(other, GIRidgeStatistics):
            raise TypeError(f"Can only merge GIRidgeStatistics, got {type(other).__name__}.")
        if other.n_features != self.n_features:
            raise ValueError(
                f"Cannot merge statistics of X with {self.n_features} and {other.n_features} "
                "features."
            )
        if other.n_outputs != self.n_outputs or other.y_ndim != self.y_ndim:
            raise ValueError(
                f"Cannot merge statistics of y with {self.n_outputs} output(s) ({self.y_ndim}-D) "
                f"and {other.n_outputs} output(s) ({other.y_ndim}-D)."
            )
        mine, theirs = _weights_of(self), _weights_of(other)
        if self.H is not None and other.H is not None and not _same_weights(mine, theirs):
            raise ValueError(
                "Cannot merge statistics computed with different partial weights "
                f"({mine} and {theirs}); partial_weights='rms' takes them from each piece's data: "
                "compute them once and pass them as an array."
            )
        wa, wb = self.sum_weight, other.sum_weight
        total = wa + wb
        dx = other.X_mean - self.X_mean
        dy = other.y_mean - self.y_mean
        share = wb / total
        coupling = wa * wb / total
        return GIRidgeStatistics(
            total,
            self.X_mean + share * dx,
            self.y_mean + share * dy,
            self.gram + other.gram + coupling * np.outer(dx, dx),
            self.cross + other.cross + coupling * np.outer(dx, dy),
            _add(self.H, other.H),
            _add(self.r, other.r),
            y_ndim=self.y_ndim,
            dtype=np.result_type(self.dtype, other.dtype),
            partial_weights=mine if self.H is not None else theirs,
        )

    __add__ = merge

    def normal_equation_terms(self, fit_intercept):
        """``(gram, cross, X_offset, y_offset, rank_one)``: :meth:`normal_equations` with the
        uncentred Gram matrix left as ``gram + w * outer(mean, mean)``, ``rank_one = (w, mean)``
        (None with an intercept), so that no second ``(p, p)`` matrix is built."""
        if fit_intercept:
            return self.gram, self.cross, self.X_mean, self.y_mean, None
        w = self.sum_weight
        cross = self.cross + w * np.outer(self.X_mean, self.y_mean)
        return (self.gram, cross, np.zeros(self.n_features), np.zeros(self.n_outputs),
                (w, self.X_mean))

    def normal_equations(self, fit_intercept):
        """``(gram, cross, X_offset, y_offset)`` for a fit with or without intercept."""
        if fit_intercept:
            return self.gram, self.cross, self.X_mean, self.y_mean
        # uncentred moments: a sum of positive semi-definite terms, no cancellation
        w = self.sum_weight
        gram = self.gram + w * np.outer(self.X_mean, self.X_mean)
        cross = self.cross + w * np.outer(self.X_mean, self.y_mean)
        return gram, cross, np.zeros(self.n_features), np.zeros(self.n_outputs)


def _weights_of(statistics):
    # files of the first release have no partial weights: all 1
    return getattr(statistics, "partial_weights", None)


def _same_weights(a, b):
    if a is None or b is None:
        return a is None and b is None or np.all((a if b is None else b) == 1.0)
    return a.shape == b.shape and bool(np.all(a == b))


def _add(a, b):
    """Sum of gradient terms, None meaning zero; a shared ``(1, p, p)`` H broadcasts."""
    if a is None:
        return None if b is None else b.copy()
    if b is None:
        return a.copy()
    return a + b
