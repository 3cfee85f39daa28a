"""Ridge regression on values and input-gradients, solved in closed form."""

from numbers import Real

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.utils._param_validation import Interval, StrOptions

from ..utils._threads import limit_blas_threads, linear_fit_work
from ..utils._validation import no_half_fitted_model
from ._base import _BaseGILinear, _GILinearProblem, _nonneg
from ._normal_equations import add_outer, add_scaled, solve_normal_equations
from ._statistics import GIRidgeStatistics


def _solve_gi_ridge(problem, alpha, gradient_weight, rank_one=None):
    """Solve the GI ridge normal equations for every output; return (coef, solver).

    The system matrix ``gram + rank_one + alpha I + gamma H_j`` is built once per
    output in a fresh array that is factorised in place: the solve adds one
    ``(p, p)`` matrix to the held terms (two on the ``lstsq`` fallback).
    ``rank_one = (w, mean)`` adds ``w * outer(mean, mean)`` (uncentred moments).
    """
    p, k = problem.cross.shape
    B = problem.cross.copy()  # (p, k)
    use_gradients = problem.H is not None and gradient_weight != 0
    if use_gradients:
        B += gradient_weight * problem.r.T

    def system(H):
        def build():
            A = problem.gram.copy()
            if rank_one is not None:
                add_outer(A, rank_one[1], rank_one[0])
            A.flat[:: p + 1] += alpha
            if H is not None:
                add_scaled(A, H, gradient_weight)
            return A
        return build

    if not use_gradients or problem.H.shape[0] == 1:
        build = system(problem.H[0] if use_gradients else None)
        coef, solver = solve_normal_equations(None, B, rebuild=build)
        return coef.T, solver
    coef = np.empty((k, p))
    solvers = set()
    for j in range(k):
        coef[j], solver = solve_normal_equations(None, B[:, j], rebuild=system(problem.H[j]))
        solvers.add(solver)
    return coef, "lstsq" if "lstsq" in solvers else "cholesky"


class _BaseGIRidge(_BaseGILinear):
    """Shared ``fit`` and ``partial_fit`` of :class:`GIRidge` and :class:`GILinearRegression`."""

    # routed by default, as for fit (learning_curve and friends call partial_fit)
    __metadata_request__partial_fit = {"dYdX": True, "dZdX": True}

    _parameter_constraints: dict = {
        **_BaseGILinear._parameter_constraints,
        "gradient_weight": [_nonneg],
        "partial_weights": [None, StrOptions({"rms"}), "array-like"],
        "memory_limit": [None, StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    @limit_blas_threads(linear_fit_work)
    def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        """Fit the model to values and (optionally) input-gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (or features of the raw inputs, see ``dZdX``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Gradients of ``y`` with respect to the inputs; the 3-D form goes
            with a 2-D ``y``. ``n_inputs`` is ``n_features``, or the last axis of
            ``dZdX`` when that is given. NaN marks an unknown partial. ``None``
            gives the value-only model: exactly :class:`sklearn.linear_model.Ridge`
            for :class:`GIRidge`, the minimum-norm least-squares fit for
            :class:`GILinearRegression`.
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), or lazy Jacobian, default=None
            Jacobian of the columns of ``X`` with respect to the raw inputs the
            gradients refer to. The 2-D form is shared by all samples. A lazy
            Jacobian (what :class:`~sklearn_gi.pipeline.GIPipeline` passes for
            PolynomialFeatures and kernel feature maps such as RBFSampler and
            Nystroem; the protocol is
            :func:`sklearn_gi.utils._validation.is_lazy_jacobian`) is read
            chunk by chunk and never materialised.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, applied to both the value and gradient terms.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with no_half_fitted_model(self):
            self._solve_statistics(
                self._statistics_of(X, y, dYdX, dZdX, sample_weight, reset=True)
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @limit_blas_threads(linear_fit_work)
    def partial_fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        """Add a batch of data to the fit; the coefficients are usable after every call.

        The normal equations are accumulated exactly (see
        :class:`GIRidgeStatistics`), so any split of the data into batches, in
        any order, gives the coefficients of one :meth:`fit` on all of it (up to
        rounding), with memory ``O(n_features^2)`` between calls. A previous
        :meth:`fit` is continued, not restarted. ``alpha``, ``gradient_weight``
        and ``fit_intercept`` may be changed between calls: they are applied
        when solving.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch of training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its target values.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Its gradients, as in :meth:`fit` (NaN: unknown partial).
        dZdX : array-like or lazy Jacobian, default=None
            Its feature Jacobian, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Its per-sample weights.

        Returns
        -------
        self : object
            Fitted estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_gi.linear_model import GIRidge
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(90, 2))
        >>> y = X @ [1.0, -2.0] + 0.5
        >>> G = np.tile([1.0, -2.0], (90, 1))
        >>> model = GIRidge(alpha=1e-8)
        >>> for batch in np.array_split(np.arange(90), 3):
        ...     model = model.partial_fit(X[batch], y[batch], G[batch])
        >>> model.coef_.round(6), round(model.intercept_, 6)
        (array([ 1., -2.]), 0.5)
        """
        previous = getattr(self, "_statistics", None)
        # "rms" weights are fixed by the first batch with gradients: the held terms bake them in
        fixed = None if previous is None else previous.partial_weights
        batch = self._statistics_of(X, y, dYdX, dZdX, sample_weight, reset=previous is None,
                                    fixed_partial_weights=fixed,
                                    extra_copies=0 if previous is None else 1)
        try:
            merged = batch if previous is None else previous.merge(batch)
        except ValueError as exc:
            raise ValueError(f"partial_fit got y inconsistent with the earlier batches: {exc}") from exc
        self._solve_statistics(merged)
        return self

    def sufficient_statistics(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        """Reduce one piece of data to mergeable statistics, without fitting.

        For map-reduce fits (Dask, Spark): compute the statistics of every
        partition, combine them with :meth:`GIRidgeStatistics.merge` and solve
        with :meth:`fit_statistics`. The estimator is not changed; a fitted one
        checks the number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One partition's training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Its target values.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Its gradients, as in :meth:`fit` (NaN: unknown partial).
        dZdX : array-like or lazy Jacobian, default=None
            Its feature Jacobian, as in :meth:`fit`.
        sample_weight : array-like of shape (n_samples,), default=None
            Its per-sample weights.

        Returns
        -------
        statistics : GIRidgeStatistics

        Examples
        --------
        See :class:`GIRidgeStatistics`.
        """
        estimator = self if hasattr(self, "n_features_in_") else clone(self)
        return estimator._statistics_of(
            X, y, dYdX, dZdX, sample_weight, reset=not hasattr(self, "n_features_in_")
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_statistics(self, statistics):
        """Fit from (merged) :class:`GIRidgeStatistics`; later :meth:`partial_fit` calls add to them.

        Parameters
        ----------
        statistics : GIRidgeStatistics

        Returns
        -------
        self : object
            Fitted estimator (without ``feature_names_in_``).

        Examples
        --------
        See :class:`GIRidgeStatistics`.
        """
        if not isinstance(statistics, GIRidgeStatistics):
            raise TypeError(
                f"statistics must be GIRidgeStatistics (from sufficient_statistics), got "
                f"{type(statistics).__name__}."
            )
        self.n_features_in_ = statistics.n_features
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._solve_statistics(statistics)
        return self

    def _statistics_of(self, X, y, dYdX, dZdX, sample_weight, *, reset, fixed_partial_weights=None,
                       extra_copies=0):
        p = self._prepare(X, y, dYdX, dZdX, sample_weight, reset=reset, center=True,
                          fixed_partial_weights=fixed_partial_weights, extra_copies=extra_copies)
        return GIRidgeStatistics(p.sum_weight, p.X_offset, p.y_offset, p.gram, p.cross, p.H, p.r,
                                 y_ndim=p.y_ndim, dtype=p.dtype, partial_weights=p.partial_weights)

    def _solve_statistics(self, statistics):
        # uncentred moments for a fit without intercept: a rank-one update of the
        # system matrix, not another (p, p) copy of the Gram matrix
        gram, cross, X_offset, y_offset, rank_one = statistics.normal_equation_terms(
            self.fit_intercept)
        problem = _GILinearProblem(gram, cross, X_offset, y_offset, statistics.H, statistics.r,
                                   statistics.y_ndim, statistics.dtype)
        coef, self.solver_ = _solve_gi_ridge(problem, self._penalty(), self.gradient_weight,
                                             rank_one)
        self._set_coef(coef, problem)
        self._statistics = statistics
        self.partial_weights_ = statistics.partial_weights


class GIRidge(_BaseGIRidge):
    """Ridge regression fitted to values and input-gradients (Sobolev least squares).

    Minimises, for each output,

    .. math::

        \\sum_i w_i \\left[(y_i - f(x_i))^2
        + \\gamma \\lVert \\nabla f(x_i) - g_i \\rVert^2\\right]
        + \\alpha \\lVert \\beta \\rVert^2

    with :math:`f(x) = x^T \\beta + b`, :math:`g_i` the rows of ``dYdX`` and
    :math:`\\gamma` = ``gradient_weight``. The intercept is not penalised. The
    solution is exact (Cholesky on the normal equations, with a minimum-norm
    ``lstsq`` fallback when they are ill-conditioned) and is assembled in row
    chunks: the augmented ``(n (1 + d), p)`` design matrix is never built, so
    fitting with gradients costs about what :class:`sklearn.linear_model.Ridge`
    costs without them.

    Each gradient sample adds ``d`` equations, so the coefficients of a linear
    function are identified from fewer samples than features.

    Parameters
    ----------
    alpha : float, default=1.0
        L2 penalty on the coefficients (not on the intercept). Non-negative.
    gradient_weight : float, default=1.0
        Weight :math:`\\gamma` of the squared gradient error relative to the
        squared value error. ``0`` ignores the gradients. Non-negative.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    partial_weights : None, "rms" or array-like of shape (n_inputs,), default=None
        Weight :math:`\\lambda_m` of the squared error of each partial
        derivative (each column of ``dYdX``: the raw inputs when ``dZdX`` is
        given, so through :class:`~sklearn_gi.pipeline.GIPipeline` the
        pipeline's inputs). None weights every partial 1. ``"rms"`` is the
        differential regression of Huge and Savine (2020),
        :math:`\\lambda_m = E[y_c^2] / E[g_m^2]`, with :math:`y_c` the targets
        (centred on their mean when ``fit_intercept``) and :math:`g_m` the
        known partials, means weighted by ``sample_weight``: each partial's
        error is measured relative to its own scale, so the fit no longer
        depends on the units of each input (with an unpenalised or scaled
        model) and noisy partials of large scale cannot drown the others. A
        partial that is zero (or unknown) at every sample has no scale: it
        gets the largest weight of the other partials of its output. The
        weights used are ``partial_weights_``; :meth:`partial_fit` keeps those
        of its first batch with gradients.
    memory_limit : "auto", float or None, default="auto"
        Bytes the normal equations may take: the ``(p, p)`` Gram and gradient
        matrices held, and the factorisation. A fit that would need more raises
        :class:`~sklearn_gi.utils.MemoryLimitError`, stating the figure, before
        allocating any of them. ``"auto"``: 80% of the memory available when
        the fit starts, at most 8 GiB; None: no check.
    n_threads : int or None, default=None
        BLAS threads used while fitting and predicting. None: one thread for
        small problems (below about 3e9 floating-point operations, the
        ``n (1 + n_inputs) n_features^2`` of the normal equations), where more
        are slower (see :ref:`threads`), else the BLAS library's setting.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_outputs, n_features)
        Coefficients, in the dtype of ``X``.
    intercept_ : float or ndarray of shape (n_outputs,)
        Intercept; ``0.0`` when ``fit_intercept=False``.
    solver_ : {"cholesky", "lstsq"}
        Which solver produced the coefficients.
    partial_weights_ : ndarray of shape (n_outputs, n_inputs) or None
        The partial weights :math:`\\lambda` used (None: all 1, or no gradients).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when ``X`` has string
        column names.

    See Also
    --------
    GILinearRegression : The same model without the coefficient penalty.
    RidgeGradient : Two-stage ridge shrunk towards a gradient-fitted prior.
    sklearn.linear_model.Ridge : The value-only model, which ``dYdX=None``
        reproduces exactly.

    Notes
    -----
    **Unknown partial derivatives.** NaN entries of ``dYdX`` mean "this
    derivative is unknown" and are left out of the loss, so a process that
    provides only some partials (say with respect to some inputs, or for some
    samples) can still be used. Infinite entries are an error.

    **Features of the raw inputs.** When the model's inputs are features
    ``Z = T(X_raw)`` (polynomials, splines, scaled inputs), pass ``X = Z``,
    gradients ``dYdX`` with respect to the raw inputs and the feature Jacobian
    ``dZdX``. The gradient constraint becomes ``df/dZ @ dZdX = dYdX`` and the
    closed form stays exact.

    Examples
    --------
    A linear function of 20 inputs recovered from 5 samples and their gradients:

    >>> import numpy as np
    >>> from sklearn_gi.linear_model import GIRidge
    >>> rng = np.random.default_rng(0)
    >>> coef = rng.normal(size=20)
    >>> X = rng.normal(size=(5, 20))
    >>> y = X @ coef + 3.0
    >>> dYdX = np.tile(coef, (5, 1))
    >>> model = GIRidge(alpha=1e-10).fit(X, y, dYdX)
    >>> bool(np.allclose(model.coef_, coef)), round(model.intercept_, 6)
    (True, 3.0)
    >>> model.predict_gradient(X[:2]).shape
    (2, 20)
    """

    _parameter_constraints: dict = {
        **_BaseGIRidge._parameter_constraints,
        "alpha": [_nonneg],
    }

    def __init__(self, alpha=1.0, *, gradient_weight=1.0, fit_intercept=True, partial_weights=None,
                 memory_limit="auto", n_threads=None):
        self.alpha = alpha
        self.gradient_weight = gradient_weight
        self.fit_intercept = fit_intercept
        self.partial_weights = partial_weights
        self.memory_limit = memory_limit
        self.n_threads = n_threads

    def _penalty(self):
        return self.alpha


class GILinearRegression(_BaseGIRidge):
    """Least squares on values and input-gradients, without a coefficient penalty.

    :class:`GIRidge` with ``alpha=0``. With gradients the normal equations are
    usually well posed even when ``n_samples < n_features``; when they are
    singular the minimum-norm solution is returned (``solver_ == "lstsq"``).

    Parameters
    ----------
    gradient_weight : float, default=1.0
        Weight of the squared gradient error relative to the squared value
        error. Non-negative.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    partial_weights : None, "rms" or array-like of shape (n_inputs,), default=None
        Weight :math:`\\lambda_m` of the squared error of each partial
        derivative (each column of ``dYdX``: the raw inputs when ``dZdX`` is
        given, so through :class:`~sklearn_gi.pipeline.GIPipeline` the
        pipeline's inputs). None weights every partial 1. ``"rms"`` is the
        differential regression of Huge and Savine (2020),
        :math:`\\lambda_m = E[y_c^2] / E[g_m^2]`, with :math:`y_c` the targets
        (centred on their mean when ``fit_intercept``) and :math:`g_m` the
        known partials, means weighted by ``sample_weight``: each partial's
        error is measured relative to its own scale, so the fit no longer
        depends on the units of each input and noisy partials of large scale
        cannot drown the others. A partial that is zero (or unknown) at every
        sample has no scale: it
        gets the largest weight of the other partials of its output. The
        weights used are ``partial_weights_``; :meth:`partial_fit` keeps those
        of its first batch with gradients.
    memory_limit : "auto", float or None, default="auto"
        Bytes the normal equations may take: the ``(p, p)`` Gram and gradient
        matrices held, and the factorisation. A fit that would need more raises
        :class:`~sklearn_gi.utils.MemoryLimitError`, stating the figure, before
        allocating any of them. ``"auto"``: 80% of the memory available when
        the fit starts, at most 8 GiB; None: no check.
    n_threads : int or None, default=None
        BLAS threads used while fitting and predicting. None: one thread for
        small problems (below about 3e9 floating-point operations, the
        ``n (1 + n_inputs) n_features^2`` of the normal equations), where more
        are slower (see :ref:`threads`), else the BLAS library's setting.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_outputs, n_features)
    intercept_ : float or ndarray of shape (n_outputs,)
    solver_ : {"cholesky", "lstsq"}
    partial_weights_ : ndarray of shape (n_outputs, n_inputs) or None
        The partial weights :math:`\\lambda` used (None: all 1, or no gradients).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    GIRidge : The penalised model; see it for the meaning of NaN gradients and
        of ``dZdX``.

    Examples
    --------
    A quadratic in 3 inputs (10 parameters) recovered from 4 samples, through
    the Jacobian of its polynomial features:

    >>> import numpy as np
    >>> from sklearn.preprocessing import PolynomialFeatures
    >>> from sklearn_gi.linear_model import GILinearRegression
    >>> from sklearn_gi.preprocessing import transform_jacobian
    >>> f = lambda X: 1 + X[:, 0] * X[:, 1] - 2 * X[:, 2] ** 2
    >>> grad = lambda X: np.c_[X[:, 1], X[:, 0], -4 * X[:, 2]]
    >>> X = np.random.default_rng(0).normal(size=(4, 3))
    >>> poly = PolynomialFeatures(2, include_bias=False).fit(X)
    >>> Z, J = poly.transform(X), transform_jacobian(poly, X)
    >>> model = GILinearRegression().fit(Z, f(X), grad(X), dZdX=J)
    >>> X_new = np.random.default_rng(1).normal(size=(4, 3))
    >>> bool(np.allclose(model.predict(poly.transform(X_new)), f(X_new)))
    True
    """

    def __init__(self, *, gradient_weight=1.0, fit_intercept=True, partial_weights=None,
                 memory_limit="auto", n_threads=None):
        self.gradient_weight = gradient_weight
        self.fit_intercept = fit_intercept
        self.partial_weights = partial_weights
        self.memory_limit = memory_limit
        self.n_threads = n_threads

    def _penalty(self):
        return 0.0
