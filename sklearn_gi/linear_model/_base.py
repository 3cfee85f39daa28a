"""Shared machinery of the closed-form GI linear models."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._threads import limit_blas_threads, linear_predict_work
from ..utils._validation import (
    _check_lazy_jacobian,
    check_feature_jacobian,
    check_finite_output,
    check_finite_scale,
    check_gradient_inputs,
    check_positive_sample_weight,
    is_lazy_jacobian,
    named_input_errors,
)
from ..utils._memory import check_memory, format_bytes
from ._normal_equations import (
    centered_gram_and_cross,
    gradient_terms,
    n_gradient_matrices,
    polynomial_gram_bytes,
    weighted_offsets,
)
from ._partial_weights import resolve_partial_weights


class _GILinearProblem:
    """Validated inputs of a fit, reduced to the terms of the normal equations."""

    def __init__(self, gram, cross, X_offset, y_offset, H, r, y_ndim, dtype, sum_weight=None,
                 partial_weights=None):
        self.sum_weight = sum_weight
        self.partial_weights = partial_weights  # None or (k, d): the resolved lambda_jm
        self.gram = gram  # (p, p)
        self.cross = cross  # (p, k)
        self.X_offset = X_offset
        self.y_offset = y_offset
        self.H = H  # None without gradients, else (1 or k, p, p)
        self.r = r  # None without gradients, else (k, p)
        self.y_ndim = y_ndim
        self.dtype = dtype


class _BaseGILinear(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Base class: validation, prediction and gradient prediction of ``z @ coef + b``."""

    # GI estimators without their gradients are almost always a mistake, so
    # the gradients are routed by default (no set_fit_request boilerplate).
    __metadata_request__fit = {"dYdX": True, "dZdX": True}
    # GIPipeline may hand dZdX over as a lazy Jacobian (see utils._validation.is_lazy_jacobian)
    _accepts_lazy_jacobian = True

    _parameter_constraints: dict = {
        "fit_intercept": ["boolean"],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def _prepare(self, X, y, dYdX, dZdX, sample_weight, *, reset=True, center=None,
                 fixed_partial_weights=None, extra_copies=0):
        """Validate every fit input, then accumulate the normal-equation terms.

        ``center`` (default: ``fit_intercept``) centres on the weighted means.
        ``fixed_partial_weights`` (k, d) replaces the estimator's ``partial_weights``
        (``partial_fit`` keeps those of its first batch). ``extra_copies``: how many
        more copies of the ``(p, p)`` terms the caller will build (a merge).
        """
        with named_input_errors():
            X, y = validate_data(
                self,
                X,
                y,
                dtype=[np.float64, np.float32],
                y_numeric=True,
                multi_output=True,
                reset=reset,
            )
        n, p = X.shape
        y_ndim = y.ndim
        Y = y.reshape(n, -1).astype(X.dtype, copy=False)
        k = Y.shape[1]
        sample_weight = check_positive_sample_weight(sample_weight, X)
        G, J, _ = check_gradient_inputs(
            dYdX, dZdX, n_samples=n, n_model_features=p, n_outputs=k, y_ndim=y_ndim,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        check_finite_scale(X, Y, G, estimator=self)
        if fixed_partial_weights is not None and G is not None:
            if fixed_partial_weights.shape != G.shape[1:]:
                raise ValueError(
                    f"dYdX has {G.shape[1]} output(s) and {G.shape[2]} input(s) per sample; the "
                    f"earlier batches had {fixed_partial_weights.shape[0]} and "
                    f"{fixed_partial_weights.shape[1]}."
                )
            lam = fixed_partial_weights
        else:
            lam = resolve_partial_weights(getattr(self, "partial_weights", None), Y, G,
                                          sample_weight, center=self.fit_intercept, estimator=self)
        self._check_memory(p, k, G, J, lam, extra_copies)

        if self.fit_intercept if center is None else center:
            X_offset, y_offset = weighted_offsets(X, Y, sample_weight)
        else:
            X_offset, y_offset = np.zeros(p), np.zeros(k)
        gram, cross = centered_gram_and_cross(X, Y, X_offset, y_offset, sample_weight)
        H = r = None
        if G is not None:
            H, r = gradient_terms(G, J, sample_weight, lam)
        return _GILinearProblem(gram, cross, X_offset, y_offset, H, r, y_ndim, X.dtype,
                                sum_weight=float(sample_weight.sum()), partial_weights=lam)

    def _check_memory_of_features(self, n_samples, J, y, G):
        """:meth:`_check_memory` for :class:`~sklearn_gi.pipeline.GIPipeline`, before it builds
        the ``(n_samples, p)`` features (``J``: their composed Jacobian), which it counts too."""
        try:  # y is not validated yet: NaN or inf only make the weights NaN here
            Y = np.asarray(y).reshape(n_samples, -1)
            with np.errstate(all="ignore"):
                lam = resolve_partial_weights(getattr(self, "partial_weights", None), Y, G,
                                              np.ones(n_samples), center=self.fit_intercept,
                                              estimator=self)
        except (ValueError, TypeError):  # fit names the bad input
            return
        p = J.shape_out_in[0]
        self._check_memory(p, Y.shape[1], G, J, lam, features=8 * n_samples * p)

    def _check_memory(self, p, k, G, J, lam, extra_copies=0, features=0):
        """Refuse, before allocating, normal equations larger than ``memory_limit``
        (estimators without that parameter, such as RidgeGradient, are not checked).

        Counted in float64: the Gram matrix and the gradient matrices (one, or
        one per output) that the fit holds, ``extra_copies`` more of them, and
        two ``(p, p)`` matrices for the solve (the system matrix, factorised in
        place, and the copy the ``lstsq`` fallback makes), plus the Gram
        matrices of a polynomial Jacobian's derivative basis and ``features``
        bytes not built yet.
        """
        n_matrices = 0 if G is None else n_gradient_matrices(G, lam)
        square = 8 * p * p
        basis = 0 if G is None else polynomial_gram_bytes(G.shape, J, n_matrices,
                                                          not np.isnan(G).any())
        needed = square * ((1 + n_matrices) * (1 + extra_copies) + 2) + basis + 8 * p * k * 3 + features
        plural = "" if n_matrices == 1 else "es"
        merge = f", x{1 + extra_copies} for the merge" if extra_copies else ""
        what = (f"{p} x {p} normal equations, {format_bytes(square)} each: {1 + n_matrices} held (the "
                f"Gram matrix and {n_matrices} gradient matrix{plural}{merge}), 2 for the solve"
                + (f", plus {format_bytes(basis)} for the polynomial derivative basis" if basis else "")
                + (f", plus {format_bytes(features)} for the features" if features else ""))
        check_memory(
            needed, getattr(self, "memory_limit", None), what=what, estimator=self,
            advice=("Use fewer features (a lower PolynomialFeatures degree, fewer components), or "
                    "set memory_limit to a larger number of bytes, or None, if the machine has "
                    "that memory."),
        )

    def _set_coef(self, coef, problem):
        """Store ``coef`` (k, p) and the intercept in sklearn's Ridge layout."""
        coef = np.asarray(coef, dtype=np.float64)
        if not np.all(np.isfinite(coef)):
            raise ValueError(
                f"{type(self).__name__}: the normal equations overflowed (non-finite "
                "coefficients); rescale X, y and dYdX."
            )
        self.coef_ = (coef[0] if problem.y_ndim == 1 else coef).astype(problem.dtype)
        if not self.fit_intercept:
            self.intercept_ = 0.0  # a scalar for any number of outputs, as in Ridge
            return
        intercept = problem.y_offset - coef @ problem.X_offset
        if problem.y_ndim == 1:
            self.intercept_ = float(intercept[0])
        else:
            self.intercept_ = intercept.astype(problem.dtype)

    @limit_blas_threads(linear_predict_work)
    def predict(self, X):
        """Predict values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return check_finite_output(X @ self.coef_.T + self.intercept_, method="predict",
                                   estimator=self)

    @limit_blas_threads(linear_predict_work)
    def predict_gradient(self, X, dZdX=None):
        """Predict input-gradients ``df/dX``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), or lazy Jacobian, default=None
            Jacobian of the features ``X`` with respect to raw inputs. When
            given, the gradient is returned with respect to the raw inputs
            (chain rule), as it was matched during ``fit``.

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs)
            ``n_inputs`` is ``n_features`` when ``dZdX`` is None.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        n = X.shape[0]
        coef = np.atleast_2d(self.coef_)  # (k, p)
        if dZdX is None:
            grad = np.broadcast_to(coef, (n,) + coef.shape).astype(X.dtype)
        elif is_lazy_jacobian(dZdX):
            J, _ = _check_lazy_jacobian(dZdX, n, X.shape[1])
            grad = J.apply(np.broadcast_to(coef, (n,) + coef.shape)).astype(X.dtype, copy=False)
        else:
            J, _ = check_feature_jacobian(
                dZdX, n_samples=n, n_model_features=X.shape[1], dtype=X.dtype
            )
            if J.ndim == 2:
                grad = np.broadcast_to(coef @ J, (n, coef.shape[0], J.shape[1]))
            else:
                grad = np.einsum("kp,npd->nkd", coef, J)
            grad = np.array(grad, dtype=X.dtype)
        check_finite_output(grad, method="predict_gradient", estimator=self)
        if self.coef_.ndim == 1:
            return np.array(grad[:, 0, :])
        return np.array(grad)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


_nonneg = Interval(Real, 0, None, closed="left")
