"""Analytic Jacobians ``dZ/dX`` of fitted transformers, for the chain rule."""

import numpy as np
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils.validation import check_array, check_is_fitted


def _polynomial_jacobian(transformer, X):
    powers = transformer.powers_  # (p, d)
    n, d = X.shape
    J = np.empty((n, powers.shape[0], d), dtype=X.dtype)
    for m in range(d):
        lowered = powers.copy()
        lowered[:, m] = np.maximum(lowered[:, m] - 1, 0)
        # x ** 0 == 1 also at x == 0, which is the derivative we want
        J[:, :, m] = powers[:, m] * np.prod(X[:, None, :] ** lowered[None], axis=2)
    return J


def _standard_scaler_jacobian(transformer, X):
    d = X.shape[1]
    scale = transformer.scale_ if transformer.with_std else np.ones(d)
    return np.diag(1.0 / np.asarray(scale, dtype=X.dtype))


_JACOBIANS = {
    PolynomialFeatures: _polynomial_jacobian,
    StandardScaler: _standard_scaler_jacobian,
}


def transform_jacobian(transformer, X):
    """Jacobian of ``transformer.transform`` at ``X``.

    Supported: any transformer with a ``transform_jacobian(X)`` method (the
    protocol for user transformers), :class:`~sklearn.preprocessing.PolynomialFeatures`
    and :class:`~sklearn.preprocessing.StandardScaler`. Constant Jacobians
    are returned once, as a 2-D array, rather than repeated per sample.

    Parameters
    ----------
    transformer : fitted transformer
    X : array-like of shape (n_samples, n_inputs)

    Returns
    -------
    jacobian : ndarray of shape (n_samples, n_outputs, n_inputs) or (n_outputs, n_inputs)

    Raises
    ------
    TypeError
        If no Jacobian is known for the transformer's class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import PolynomialFeatures
    >>> from sklearn_gi.preprocessing import transform_jacobian
    >>> X = np.array([[2.0, 3.0]])
    >>> poly = PolynomialFeatures(2).fit(X)
    >>> poly.get_feature_names_out().tolist()
    ['1', 'x0', 'x1', 'x0^2', 'x0 x1', 'x1^2']
    >>> transform_jacobian(poly, X)[0]
    array([[0., 0.],
           [1., 0.],
           [0., 1.],
           [4., 0.],
           [3., 2.],
           [0., 6.]])
    """
    if hasattr(transformer, "transform_jacobian"):
        return transformer.transform_jacobian(X)
    for cls, jacobian in _JACOBIANS.items():
        if type(transformer) is cls:
            check_is_fitted(transformer)
            X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
            return jacobian(transformer, X)
    supported = ", ".join(cls.__name__ for cls in _JACOBIANS)
    raise TypeError(
        f"No Jacobian is known for {type(transformer).__name__}. Supported: {supported}, "
        "or any transformer with a transform_jacobian(X) method."
    )
