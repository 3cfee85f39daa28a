"""Kernel ridge regression fitted to values and input-gradients, in closed form."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.gaussian_process.kernels import RBF, Kernel
from sklearn.preprocessing._data import _handle_zeros_in_scale
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..kernels._derivative_kernels import SUPPORTED_KERNELS, compile_kernel, polynomial_kernel
from ..kernels._joint import JointObservations
from ..kernels._iterative import IterativeJointSolution
from ..kernels._solvers import resolve_solver
from ..linear_model._normal_equations import solve_normal_equations
from ..utils._threads import joint_fit_work, joint_predict_work, limit_blas_threads
from ..utils._validation import (
    check_feature_jacobian,
    check_finite_output,
    check_finite_scale,
    check_gradient_inputs,
    check_positive_sample_weight,
    no_half_fitted_model,
    validate_data_unknown_values,
)

__all__ = ["GIKernelRidge"]

_STRING_KERNELS = ("rbf", "linear", "poly", "polynomial")


class GIKernelRidge(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression on values and input-gradients (fixed hyperparameters).

    The function is sought in the kernel's reproducing kernel Hilbert space
    :math:`\\mathcal{H}`, minimising

    .. math::

        \\sum_i w_i \\left[(f(x_i) - y_i)^2
        + \\gamma \\lVert \\nabla f(x_i) - g_i \\rVert^2\\right]
        + \\alpha \\lVert f \\rVert_{\\mathcal{H}}^2 ,

    :math:`\\gamma` = ``gradient_weight``. By the representer theorem the
    solution is a combination of the kernel and its derivatives at the
    samples, with coefficients from one symmetric positive definite
    ``n (1 + d)`` system (Cholesky), the same joint system as
    :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor` but with
    fixed hyperparameters: quick to tune with
    :class:`~sklearn.model_selection.GridSearchCV`. Without ``dYdX`` it is
    :class:`sklearn.kernel_ridge.KernelRidge` when ``normalize_y=False``.
    By default the targets are centred (the fit is of ``y - mean(y)``, the
    mean added back to the predictions), so that targets far from zero
    (molecular energies of about -7000 kcal/mol) need no preprocessing; like
    :class:`sklearn.kernel_ridge.KernelRidge` it does not scale the inputs:
    put a ``StandardScaler`` before it with
    :func:`~sklearn_gi.pipeline.make_gi_pipeline`.

    Parameters
    ----------
    alpha : float or array-like of shape (n_outputs,), default=1.0
        Regularisation strength; one per output when an array.
    kernel : str or kernel instance, default="rbf"
        ``"rbf"`` (``exp(-gamma ||x - y||^2)``), ``"linear"``, ``"poly"`` /
        ``"polynomial"`` (``(gamma x.y + coef0) ** degree``), or a
        scikit-learn kernel object of the kinds
        :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor`
        supports. Kernels without derivatives (laplacian, chi2, ...) and
        callables are a ``TypeError``.
    gamma : float, default=None
        For ``"rbf"`` and ``"poly"``; ``None`` means ``1 / n_features``.
    degree : int, default=3
        Degree of ``"poly"``.
    coef0 : float, default=1
        Constant of ``"poly"``.
    kernel_params : dict, default=None
        Overrides of ``gamma``, ``degree`` and ``coef0`` (scikit-learn's
        pairwise-kernel convention).
    gradient_weight : float, default=1.0
        Weight :math:`\\gamma` of the squared gradient error; ``0`` ignores
        the gradients.
    normalize_y : bool, default=True
        Centre each target on its (weighted) mean and divide it and its
        gradients by its standard deviation before solving; predictions are
        transformed back. Only the centring changes the fit (the solution is
        linear in the targets): the regularisation then shrinks towards the
        mean instead of towards zero, which a target with a large offset
        needs (an RBF model of uncentred energies of about -7000 decays to
        zero away from the samples). ``False`` is
        :class:`sklearn.kernel_ridge.KernelRidge`'s model. Without any known
        value (``y`` all NaN, gradients only) the mean is 0.
    n_threads : int or None, default=None
        BLAS threads used while fitting and predicting. None: one thread while
        the joint system has fewer than about 2,000 rows (more are slower
        there, see :ref:`threads`), else the BLAS library's setting.
    solver : {"auto", "cholesky", "cg"}, default="auto"
        ``"cholesky"``: dense factorisation of the ``n (1 + d)`` system.
        ``"cg"``: preconditioned conjugate gradients with matrix-free
        products of the joint kernel (``O(n^2 d)`` time per iteration, no
        ``N x N`` matrix; RBF-type kernels only, see
        :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor`'s
        ``solver``). ``"auto"``: ``"cg"`` from 15,000 joint rows on when the
        kernel allows. CG needs ``alpha`` large enough for the system to be
        well conditioned.

    Attributes
    ----------
    dual_coef_ : ndarray of shape (n_samples * (1 + n_gradients),) or \
            (n_samples * (1 + n_gradients), n_outputs)
        Coefficients of the kernel (values first) and of its derivatives
        (then every sample's ``d/dx_1``, ...), zero for unknown partials.
    X_fit_ : ndarray of shape (n_samples, n_features)
    y_mean_ : ndarray of shape (n_outputs,)
        The mean added to the predictions (0 when ``normalize_y=False``).
    solver_ : {"cholesky", "lstsq", "cg"}
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    sklearn.kernel_ridge.KernelRidge : The values-only model.
    sklearn_gi.gaussian_process.GIGaussianProcessRegressor : The same joint
        system with hyperparameters chosen by maximum likelihood.

    Notes
    -----
    NaN partials in ``dYdX`` and NaN values in ``y`` are left out of the
    system (a sample with a NaN value and known partials contributes its
    derivatives only, as force-only molecular data). ``dZdX`` (the
    Jacobian of the features ``X`` with respect to raw inputs) makes the
    gradient observations ``dZdX^T grad f``, as everywhere in sklearn-gi.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.kernel_ridge import GIKernelRidge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(10, 2))
    >>> y = np.exp(X[:, 0]) * X[:, 1]
    >>> dYdX = np.c_[np.exp(X[:, 0]) * X[:, 1], np.exp(X[:, 0])]
    >>> X_test = rng.uniform(-1, 1, size=(100, 2))
    >>> def max_error(model):
    ...     return np.abs(model.predict(X_test) - np.exp(X_test[:, 0]) * X_test[:, 1]).max()
    >>> model = GIKernelRidge(alpha=1e-8, gamma=0.1).fit(X, y, dYdX)
    >>> values_only = GIKernelRidge(alpha=1e-8, gamma=0.1).fit(X, y)
    >>> print(f"{max_error(model):.3f} with gradients, {max_error(values_only):.3f} without")
    0.034 with gradients, 0.350 without
    >>> model.predict_gradient(X_test[:2]).shape
    (2, 2)
    """

    __metadata_request__fit = {"dYdX": True, "dZdX": True}

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left"), "array-like"],
        "kernel": [StrOptions(set(_STRING_KERNELS)), Kernel, str, callable],
        "gamma": [Interval(Real, 0, None, closed="neither"), None],
        "degree": [Interval(Integral, 0, None, closed="left")],
        "coef0": [Interval(Real, None, None, closed="neither")],
        "kernel_params": [dict, None],
        "gradient_weight": [Interval(Real, 0, None, closed="left")],
        "normalize_y": ["boolean"],
        "solver": [StrOptions({"auto", "cholesky", "cg"})],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=1.0, *, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, gradient_weight=1.0, normalize_y=True, solver="auto",
                 n_threads=None):
        self.alpha = alpha
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.gradient_weight = gradient_weight
        self.normalize_y = normalize_y
        self.solver = solver
        self.n_threads = n_threads

    def _compiled_kernel(self, n_features):
        if isinstance(self.kernel, Kernel):
            return compile_kernel(self.kernel, n_features)
        if not isinstance(self.kernel, str) or self.kernel not in _STRING_KERNELS:
            raise TypeError(
                f"kernel={self.kernel!r} has no derivatives available here. Use 'rbf', 'linear', "
                f"'poly' / 'polynomial', or a scikit-learn kernel object: {SUPPORTED_KERNELS}."
            )
        params = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        params.update(self.kernel_params or {})
        unknown = set(params) - {"gamma", "degree", "coef0"}
        if unknown:
            raise ValueError(f"kernel_params has unknown keys {sorted(unknown)}; "
                             "expected gamma, degree or coef0.")
        gamma = 1.0 / n_features if params["gamma"] is None else float(params["gamma"])
        if self.kernel == "rbf":
            return compile_kernel(RBF(1.0 / np.sqrt(2.0 * gamma)), n_features)
        if self.kernel == "linear":
            return polynomial_kernel(1.0, 0.0, 1)
        return polynomial_kernel(gamma, float(params["coef0"]), int(params["degree"]))

    @_fit_context(prefer_skip_nested_validation=True)
    @limit_blas_threads(joint_fit_work)
    def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        """Fit the model to values and (optionally) input-gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values; NaN marks a value that was not observed.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Gradients of ``y`` (NaN: unknown). ``n_inputs`` is ``n_features``
            unless ``dZdX`` is given.
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the columns of ``X`` with respect to raw inputs.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' value and gradient equations.

        Returns
        -------
        self : GIKernelRidge
        """
        with no_half_fitted_model(self):
            return self._fit(X, y, dYdX, dZdX, sample_weight)

    def _fit(self, X, y, dYdX, dZdX, sample_weight):
        X, y = validate_data_unknown_values(self, X, y)
        n, p = X.shape
        Y = y.reshape(n, -1).astype(np.float64, copy=False)  # y keeps its dtype in validate_data
        k = Y.shape[1]
        G, J, n_inputs = check_gradient_inputs(
            dYdX, dZdX, n_samples=n, n_model_features=p, n_outputs=k, y_ndim=y.ndim,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        sample_weight = check_positive_sample_weight(sample_weight, X)
        check_finite_scale(X, Y, G, dtype=np.float64, estimator=self)
        alpha = np.atleast_1d(np.asarray(self.alpha, dtype=float))
        if alpha.ndim != 1 or alpha.size not in (1, k) or np.any(alpha < 0):
            raise ValueError(
                f"alpha must be a non-negative float or an array of shape (n_outputs,) = ({k},), "
                f"got {self.alpha!r}."
            )
        node = self._compiled_kernel(p)
        if self.gradient_weight == 0:
            G = J = None
        known = np.isfinite(Y)
        if G is None and not np.all(known.any(axis=0)):
            raise ValueError(
                "y has an output with no known (non-NaN) value and no gradients are used: "
                "there is nothing to fit it to. NaN in y marks a value that was not observed."
            )
        y_mean, y_scale = _target_scaling(Y, known, sample_weight, self.normalize_y)
        Y = (Y - y_mean) / y_scale
        if G is not None:
            G = G / y_scale[None, :, None]
        system = JointObservations(X, Y, G, J)
        d = system.n_gradients
        weights = np.concatenate([sample_weight] + [sample_weight * self.gradient_weight] * d)
        self._cg = None
        if resolve_solver(self.solver, system.n_observations, node, p, has_jacobian=J is not None) == "cg":
            self._fit_cg(node, X, Y, G, system, weights, alpha, y.ndim)
            self.dual_coef_ = self.dual_coef_ * y_scale  # in the targets' units, as below
            self._cg.dual = self._cg.dual * y_scale
            self._dual = system.dual_parts(self._cg.dual)
            self.y_mean_ = y_mean
            return self
        K, _ = system.covariance(node)
        if not np.all(np.isfinite(K)):
            raise ValueError(
                f"GIKernelRidge: the kernel matrix of X overflowed (kernel={self.kernel!r}); "
                "rescale X, or lower gamma or degree."
            )
        dual = np.zeros((system.n_observations, k))
        solvers = set()
        # one pattern of known observations and one alpha: regularise and factorise K in
        # place, holding no second matrix of its size (6 GB at ethanol n = 1000)
        in_place = len(system.groups) == 1 and np.unique(alpha).size == 1
        pending = [K]
        del K
        for group in system.groups:
            root_w = np.sqrt(weights if group.rows is None else weights[group.rows])
            weighted = not np.all(root_w == 1.0)
            t = group.targets(system.targets) * root_w[:, None]
            alphas = alpha[group.outputs] if alpha.size > 1 else alpha
            if in_place:
                def regularised(group=group, root_w=root_w, value=float(alphas[0]), weighted=weighted):
                    # the first call takes the covariance built above; the lstsq fallback rebuilds it
                    A = group.select_to_overwrite(pending.pop() if pending else system.covariance(node)[0],
                                                  shared=False)
                    if weighted:
                        A *= root_w[:, None]
                        A *= root_w[None, :]
                    A[np.diag_indices_from(A)] += value
                    return A

                coef, solver = solve_normal_equations(None, t, rebuild=regularised)
                solvers.add(solver)
                coef *= root_w[:, None] * y_scale[group.outputs]
                group.put(dual, coef)
                continue
            A = group.select(pending[0])
            if weighted:
                A = A * root_w[:, None] * root_w[None, :]
            coef = np.empty_like(t)
            for value in np.unique(alphas):
                cols = np.flatnonzero(alphas == value) if alphas.size > 1 else slice(None)
                A_reg = A.copy()
                A_reg[np.diag_indices_from(A_reg)] += value
                coef[:, cols], solver = solve_normal_equations(A_reg, t[:, cols])
                solvers.add(solver)
            coef *= root_w[:, None] * y_scale[group.outputs]
            group.put(dual, coef)
        self.solver_ = "lstsq" if "lstsq" in solvers else "cholesky"
        self.dual_coef_ = dual[:, 0] if y.ndim == 1 else dual
        self.X_fit_ = X
        self.y_mean_ = y_mean
        # the node that ran on the training set caches its blocks: never keep it
        self._system, self._y_ndim = system, y.ndim
        self._dual = system.dual_parts(dual)
        return self

    def _fit_cg(self, node, X, Y, G, system, weights, alpha, y_ndim):
        """Dual coefficients by preconditioned conjugate gradients, one solve per value of alpha."""
        k = Y.shape[1]
        dual = np.zeros((system.n_observations, k))
        alphas = np.broadcast_to(alpha, (k,))
        for value in np.unique(alphas):
            cols = np.flatnonzero(alphas == value)
            sub = JointObservations(X, Y[:, cols], None if G is None else G[:, cols])
            noise = np.full(system.n_observations, value)
            self._cg = IterativeJointSolution(node, sub, noise, row_scale=np.sqrt(weights))
            dual[:, cols] = self._cg.dual
        self.solver_ = "cg"
        self.dual_coef_ = dual[:, 0] if y_ndim == 1 else dual
        self.X_fit_ = X
        self._system, self._y_ndim = system, y_ndim
        self._dual = system.dual_parts(dual)
        self._cg.dual = dual  # the products below use every output's weights

    def _means(self, node, X, want_values, want_gradients):
        if self._cg is not None:
            return self._cg.means(X, want_values, want_gradients)
        return self._system.means(node, X, *self._dual, want_values, want_gradients)

    def _check_X(self, X):
        check_is_fitted(self, "dual_coef_")
        return validate_data(self, X, reset=False, dtype=np.float64)

    @limit_blas_threads(joint_predict_work)
    def predict(self, X):
        """Predict values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        X = self._check_X(X)
        node = self._compiled_kernel(X.shape[1])  # fresh per call: thread-safe, no caches kept
        values, _ = self._means(node, X, True, False)
        values = check_finite_output(values + self.y_mean_, method="predict", estimator=self)
        return values[:, 0] if self._y_ndim == 1 else values

    @limit_blas_threads(joint_predict_work)
    def predict_gradient(self, X, dZdX=None):
        """Predict input-gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the features ``X`` with respect to raw inputs: the
            gradient is then returned with respect to those.

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs)
        """
        X = self._check_X(X)
        node = self._compiled_kernel(X.shape[1])
        _, grads = self._means(node, X, False, True)
        if dZdX is not None:
            J, _ = check_feature_jacobian(dZdX, n_samples=X.shape[0], n_model_features=X.shape[1])
            grads = grads @ J if J.ndim == 2 else np.einsum("akp,apr->akr", grads, J)
        grads = check_finite_output(grads, method="predict_gradient", estimator=self)
        return grads[:, 0, :] if self._y_ndim == 1 else grads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _target_scaling(Y, known, sample_weight, normalize):
    """Weighted mean and standard deviation of each target over its known values."""
    k = Y.shape[1]
    if not normalize:
        return np.zeros(k), np.ones(k)
    w = np.where(known, sample_weight[:, None], 0.0)
    total = w.sum(axis=0)
    filled = np.where(known, Y, 0.0)
    mean = np.divide((w * filled).sum(axis=0), total, out=np.zeros(k), where=total > 0)
    var = np.divide((w * (filled - mean) ** 2).sum(axis=0), total, out=np.zeros(k), where=total > 0)
    return mean, _handle_zeros_in_scale(np.sqrt(var), copy=False)
