"""GITransformedTargetRegressor: transform y and rescale its gradients consistently."""

import numpy as np
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.utils import check_array
from sklearn.utils.metadata_routing import _routing_enabled, process_routing
from sklearn.utils.validation import _get_feature_names, check_is_fitted

from ..preprocessing._jacobians import check_known_jacobian, jacobian_of
from ..utils._validation import check_finite_scale, check_gradient_targets


class GITransformedTargetRegressor(TransformedTargetRegressor):
    """:class:`~sklearn.compose.TransformedTargetRegressor` for GI estimators.

    The regressor is fitted to ``y' = T(y)``; its gradient targets must then
    be ``dY'/dX = T'(y) * dYdX``. A plain ``TransformedTargetRegressor``
    passes ``dYdX`` through unscaled (with ``StandardScaler`` on ``y`` the
    coefficients came out 197x too large). ``T`` must act on each output
    separately: a fitted scaler (``StandardScaler``, ``MinMaxScaler``,
    ``MaxAbsScaler``, ``RobustScaler``), a
    :class:`~sklearn_gi.preprocessing.GIFunctionTransformer` with
    ``derivative=``, or ``func``/``inverse_func`` with ``func_derivative``.

    Parameters
    ----------
    regressor : GI estimator, default=None
        Defaults to :class:`~sklearn_gi.linear_model.GIRidge`.
    transformer : transformer, default=None
    func, inverse_func : callable, default=None
    func_derivative : callable, default=None
        Elementwise derivative of ``func``, required with ``func`` when
        gradients are given.
    check_inverse : bool, default=True

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_gi.compose import GITransformedTargetRegressor
    >>> from sklearn_gi.linear_model import GIRidge
    >>> X = np.random.default_rng(0).normal(size=(6, 3))
    >>> coef = np.array([100.0, -200.0, 50.0])
    >>> y, dYdX = X @ coef, np.tile(coef, (6, 1))
    >>> model = GITransformedTargetRegressor(GIRidge(alpha=1e-9), transformer=StandardScaler())
    >>> np.round(model.fit(X, y, dYdX).regressor_.coef_ * model.transformer_.scale_, 6)
    array([ 100., -200.,   50.])
    """

    _parameter_constraints: dict = {
        **TransformedTargetRegressor._parameter_constraints,
        "func_derivative": [callable, None],
    }

    def __init__(
        self,
        regressor=None,
        *,
        transformer=None,
        func=None,
        inverse_func=None,
        func_derivative=None,
        check_inverse=True,
    ):
        super().__init__(
            regressor,
            transformer=transformer,
            func=func,
            inverse_func=inverse_func,
            check_inverse=check_inverse,
        )
        self.func_derivative = func_derivative

    def _get_regressor(self, get_clone=False):
        if self.regressor is None:
            from ..linear_model import GIRidge

            return GIRidge()
        return clone(self.regressor) if get_clone else self.regressor

    def _derivative(self, y_2d):
        """``T'(y)``, shape ``(n, k)``: the elementwise derivative of the target map."""
        if self.transformer is None and self.func is not None:
            if self.func_derivative is None:
                raise ValueError("func_derivative is required with func when dYdX is given.")
            return np.broadcast_to(np.asarray(self.func_derivative(y_2d), dtype=float), y_2d.shape)
        if self.transformer is None:
            return np.ones(y_2d.shape)
        jacobian = jacobian_of(self.transformer_, y_2d)
        if jacobian.kind != "diagonal":
            raise TypeError(
                f"{type(self.transformer_).__name__} mixes the outputs; "
                "GITransformedTargetRegressor needs a transformer acting on each output separately."
            )
        return np.broadcast_to(jacobian.values, y_2d.shape)

    def fit(self, X, y, dYdX=None, **fit_params):
        """Fit the regressor to ``T(y)`` and the rescaled gradients ``T'(y) * dYdX``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        dYdX : array-like of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features), default=None
        **fit_params : dict
            Passed (or routed) to the regressor's ``fit``.

        Returns
        -------
        self : GITransformedTargetRegressor
        """
        if dYdX is None:
            return super().fit(X, y, **fit_params)
        self._validate_params()
        if self.transformer is not None:
            check_known_jacobian(self.transformer)
        elif self.func is not None and self.func_derivative is None:
            raise ValueError("func_derivative is required with func when dYdX is given.")
        y = check_array(y, input_name="y", ensure_2d=False, dtype="numeric")
        if len(np.shape(X)) != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {np.shape(X)}.")
        y_2d = y.reshape(-1, 1) if y.ndim == 1 else y
        G = check_gradient_targets(
            dYdX, n_samples=y.shape[0], n_outputs=y_2d.shape[1], n_features=np.shape(X)[1],
            y_ndim=y.ndim, feature_names=_get_feature_names(X),
        )
        X_array = np.asarray(X) if hasattr(X, "__array__") or isinstance(X, list) else None
        if X_array is not None and X_array.dtype.kind not in "biuf":
            X_array = None
        check_finite_scale(X_array, y_2d, G, dtype=np.float64, estimator=self)
        self._training_dim = y.ndim
        self._fit_transformer(y_2d)
        y_trans = np.asarray(self.transformer_.transform(y_2d))
        G_trans = G * self._derivative(y_2d)[:, :, None]
        if y.ndim == 1:
            y_trans, G_trans = y_trans.reshape(-1), G_trans[:, 0, :]
        self.regressor_ = self._get_regressor(get_clone=True)
        if _routing_enabled():
            fit_params = process_routing(self, "fit", **fit_params).regressor.fit
        self.regressor_.fit(X, y_trans, dYdX=G_trans, **fit_params)
        if hasattr(self.regressor_, "feature_names_in_"):
            self.feature_names_in_ = self.regressor_.feature_names_in_
        return self

    def predict_gradient(self, X):
        """Gradients of the predictions in the original units of ``y``.

        ``dY/dX = (dY'/dX) / T'(y_pred)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features)
        """
        check_is_fitted(self)
        gradient = np.asarray(self.regressor_.predict_gradient(X))
        y_pred = np.asarray(self.predict(X))
        y_2d = y_pred.reshape(-1, 1) if y_pred.ndim == 1 else y_pred
        derivative = self._derivative(y_2d)
        if gradient.ndim == 2:
            return gradient / derivative[:, :1]
        return gradient / derivative[:, :, None]
