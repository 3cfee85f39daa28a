"""Errors on gradients, and scorers that receive the test fold's dYdX through routing."""

import numpy as np
from sklearn.utils.metadata_routing import MetadataRequest

from ..utils._validation import _as_float_array


def _pair(true, pred, name):
    true = _as_float_array(true, input_name=f"{name}_true", dtype=np.float64, allow_nan=True)
    pred = _as_float_array(pred, input_name=f"{name}_pred", dtype=np.float64, allow_nan=False)
    if true.shape != pred.shape:
        raise ValueError(
            f"{name}_true and {name}_pred have different shapes: {true.shape} and {pred.shape}."
        )
    if true.size == 0:
        raise ValueError(f"{name}_true is empty.")
    return true, pred


def gradient_mean_squared_error(dYdX_true, dYdX_pred):
    """Mean squared error of gradients over the known (non-NaN) partials.

    Parameters
    ----------
    dYdX_true : array-like of shape (n_samples, n_features) or \
            (n_samples, n_outputs, n_features)
        NaN entries are unknown partials and are left out.
    dYdX_pred : array-like of the same shape

    Returns
    -------
    error : float

    Examples
    --------
    >>> from sklearn_gi.metrics import gradient_mean_squared_error
    >>> gradient_mean_squared_error([[1.0, float("nan")]], [[3.0, 100.0]])
    4.0
    """
    true, pred = _pair(dYdX_true, dYdX_pred, "dYdX")
    known = ~np.isnan(true)
    if not known.any():
        raise ValueError("dYdX_true has no known (non-NaN) partial.")
    return float(np.mean((true[known] - pred[known]) ** 2))


def sobolev_error(y_true, y_pred, dYdX_true, dYdX_pred, *, gradient_weight=1.0):
    """``mean squared value error + gradient_weight * mean squared gradient error``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
    dYdX_true, dYdX_pred : array-like of shape (n_samples, n_features) or \
            (n_samples, n_outputs, n_features)
    gradient_weight : float, default=1.0

    Returns
    -------
    error : float

    Examples
    --------
    >>> from sklearn_gi.metrics import sobolev_error
    >>> sobolev_error([1.0, 2.0], [1.0, 4.0], [[0.0], [0.0]], [[1.0], [1.0]], gradient_weight=0.5)
    2.5
    """
    true, pred = _pair(y_true, y_pred, "y")
    if np.isnan(true).any():
        raise ValueError("y_true contains NaN.")
    value = float(np.mean((true - pred) ** 2))
    return value + gradient_weight * gradient_mean_squared_error(dYdX_true, dYdX_pred)


class GradientScorer:
    """Scorer on values and gradients; receives ``dYdX`` of the test fold by routing.

    Build it with :func:`make_gradient_scorer`. Calling it as
    ``scorer(estimator, X, y, dYdX)`` returns the negated error of
    ``estimator.predict_gradient(X)`` (and, for ``"sobolev"``, of
    ``estimator.predict(X)``) against ``dYdX`` (and ``y``); without ``dYdX``
    (metadata routing off) it raises a ``ValueError`` saying how to enable it.

    Parameters
    ----------
    metric : {"sobolev", "gradient_mse"}
        :func:`sobolev_error` or :func:`gradient_mean_squared_error`.
    gradient_weight : float, default=1.0
        Weight of the gradient error in ``"sobolev"``.
    greater_is_better : bool, default=False
        False (the default) negates the error, so that greater scores are
        better, as scikit-learn's searches expect.
    """

    def __init__(self, metric, *, gradient_weight=1.0, greater_is_better=False):
        self.metric = metric
        self.gradient_weight = gradient_weight
        self.greater_is_better = greater_is_better

    def __call__(self, estimator, X, y, dYdX=None, **kwargs):
        if dYdX is None:
            raise ValueError(
                "This scorer needs the test fold's dYdX: enable metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass dYdX to the "
                "search or cross-validation call."
            )
        gradient = estimator.predict_gradient(X)
        if self.metric == "gradient_mse":
            error = gradient_mean_squared_error(dYdX, gradient)
        else:
            error = sobolev_error(
                y, estimator.predict(X), dYdX, gradient, gradient_weight=self.gradient_weight
            )
        return -error if not self.greater_is_better else error

    def get_metadata_routing(self):
        request = MetadataRequest(owner=self)
        request.score.add_request(param="dYdX", alias=True)
        return request

    def __repr__(self):
        return (f"make_gradient_scorer({self.metric!r}, gradient_weight={self.gradient_weight})")


def make_gradient_scorer(metric="sobolev", *, gradient_weight=1.0):
    """A scorer on gradient accuracy for ``GridSearchCV``, ``cross_validate``...

    The scorer requests ``dYdX`` through scikit-learn's metadata routing, so
    it receives the test fold's rows of the ``dYdX`` given to the search. It
    needs ``sklearn.set_config(enable_metadata_routing=True)``; without
    routing scikit-learn does not pass ``dYdX`` to scorers and it raises a
    ``ValueError`` saying so. Scores are negated errors (greater is better).

    Parameters
    ----------
    metric : {"sobolev", "gradient_mse"}, default="sobolev"
        :func:`sobolev_error` (values and gradients) or
        :func:`gradient_mean_squared_error` (gradients only).
    gradient_weight : float, default=1.0
        Weight of the gradient error in "sobolev".

    Returns
    -------
    scorer : callable ``scorer(estimator, X, y, dYdX)``

    Examples
    --------
    >>> import numpy as np
    >>> import sklearn
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.metrics import make_gradient_scorer
    >>> X = np.random.default_rng(0).normal(size=(20, 2))
    >>> y, dYdX = X @ [1.0, 2.0], np.tile([1.0, 2.0], (20, 1))
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scores = cross_val_score(GIRidge(alpha=1e-9), X, y, params={"dYdX": dYdX},
    ...                              scoring=make_gradient_scorer("gradient_mse"), cv=4)
    >>> bool(np.all(np.abs(scores) < 1e-12))
    True
    """
    if metric not in ("sobolev", "gradient_mse"):
        raise ValueError(f"metric must be 'sobolev' or 'gradient_mse', got {metric!r}.")
    if gradient_weight < 0:
        raise ValueError(f"gradient_weight must be non-negative, got {gradient_weight}.")
    return GradientScorer(metric, gradient_weight=gradient_weight)
