"""Analytic Jacobians ``dZ/dX`` of fitted transformers, for the chain rule."""

import numpy as np
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)
from sklearn.utils.validation import check_array, check_is_fitted

from ._jacobian_types import Jacobian, LazyJacobian, PolynomialJacobian, RowScaledJacobian


def _polynomial(transformer, X):
    # (n, p, d) is never built: rows on demand, and structured sums in GIRidge
    return PolynomialJacobian(X, transformer.powers_)


def _reciprocal_scale(scale, d):
    return np.ones(d) if scale is None else 1.0 / np.asarray(scale, dtype=float)


def _standard_scaler(transformer, X):
    scale = transformer.scale_ if transformer.with_std else None
    return Jacobian("diagonal", _reciprocal_scale(scale, X.shape[1]))


def _robust_scaler(transformer, X):
    return Jacobian("diagonal", _reciprocal_scale(transformer.scale_, X.shape[1]))


def _min_max_scaler(transformer, X):
    scale = np.asarray(transformer.scale_, dtype=float)
    if not transformer.clip:
        return Jacobian("diagonal", scale)
    low, high = transformer.feature_range
    Z = X * scale + transformer.min_
    return Jacobian("diagonal", np.where((Z < low) | (Z > high), 0.0, scale))


def _max_abs_scaler(transformer, X):
    scale = _reciprocal_scale(transformer.scale_, X.shape[1])
    if not getattr(transformer, "clip", False):
        return Jacobian("diagonal", scale)
    return Jacobian("diagonal", np.where(np.abs(X * scale) > 1.0, 0.0, scale))


def _pca(transformer, X):
    J = np.asarray(transformer.components_, dtype=float)
    if transformer.whiten:
        # the same clipping of tiny variances as PCA.transform
        scale = np.sqrt(transformer.explained_variance_)
        scale = np.maximum(scale, np.finfo(scale.dtype).eps)
        J = J / scale[:, None]
    return Jacobian("constant", J)


def _spline(transformer, X):
    if transformer.sparse_output:
        raise TypeError("SplineTransformer(sparse_output=True) is not supported; use dense output.")
    n, d = X.shape
    degree = transformer.degree
    blocks = []
    for m, spline in enumerate(transformer.bsplines_):
        x = X[:, m]
        derivative = spline.derivative()
        mode = transformer.extrapolation
        if mode == "periodic":
            t, k = spline.t, spline.k
            period = t[t.size - k - 1] - t[k]
            x = t[k] + (x - t[k]) % period if period > 0 else np.zeros_like(x)
            block = derivative(x)
        elif mode in ("continue", "error"):
            block = derivative(x)
        else:  # constant or linear extrapolation outside [xmin, xmax]
            xmin, xmax = spline.t[degree], spline.t[-degree - 1]
            block = np.zeros((n, spline.c.shape[1]))
            inside = (xmin <= x) & (x <= xmax)
            block[inside] = derivative(x[inside])
            if mode == "linear":
                block[x < xmin] = derivative(xmin)
                block[x > xmax] = derivative(xmax)
        if not transformer.include_bias:
            block = block[:, :-1]  # the transformer drops one basis function per feature
        blocks.append((m, block))
    width = sum(block.shape[1] for _, block in blocks)
    J = np.zeros((n, width, d), dtype=X.dtype if X.dtype.kind == "f" else float)
    start = 0
    for m, block in blocks:
        J[:, start : start + block.shape[1], m] = block
        start += block.shape[1]
    return Jacobian("dense", J)


def _rbf_sampler(transformer, X):
    # z = c cos(x W + b), c = sqrt(2 / p): J_i = diag(-c sin(x_i W + b)) W^T
    W = np.asarray(transformer.random_weights_)  # (d, p)
    offset = np.asarray(transformer.random_offset_)
    c = (2.0 / transformer.n_components) ** 0.5

    def scales(start, stop):
        projection = X[start:stop] @ W
        projection += offset
        np.sin(projection, out=projection)
        projection *= -c
        return projection

    return RowScaledJacobian(scales, W.T, n_samples=X.shape[0])


# Nystroem kernels with a Jacobian; the others are not differentiable everywhere
# (laplacian, chi2) or not supported (callables, precomputed)
_NYSTROEM_KERNELS = ("rbf", "poly", "polynomial", "linear", "sigmoid")


def _nystroem_kernel_params(transformer, d):
    params = dict(transformer.kernel_params or {})
    for name in ("gamma", "degree", "coef0"):
        if getattr(transformer, name) is not None:
            params[name] = getattr(transformer, name)
    if params.get("gamma") is None:
        params["gamma"] = 1.0 / d  # the default of sklearn.metrics.pairwise
    params.setdefault("degree", 3)
    params.setdefault("coef0", 1)
    return params


def _check_nystroem_kernel(transformer):
    kernel = transformer.kernel
    if callable(kernel) or kernel not in _NYSTROEM_KERNELS:
        name = getattr(kernel, "__name__", repr(kernel)) if callable(kernel) else repr(kernel)
        raise TypeError(
            f"Nystroem(kernel={name}) has no known Jacobian; supported kernels: "
            f"{', '.join(repr(k) for k in _NYSTROEM_KERNELS)}."
        )


def _nystroem(transformer, X):
    # z = N k(x, C) with N = normalization_ (p, m), C = components_ (m, d)
    _check_nystroem_kernel(transformer)
    C = np.asarray(transformer.components_, dtype=float)
    N = np.asarray(transformer.normalization_, dtype=float)
    n, d = X.shape
    params = _nystroem_kernel_params(transformer, d)
    gamma, kernel = params["gamma"], transformer.kernel
    if kernel == "linear":
        return Jacobian("constant", N @ C)
    if kernel in ("poly", "polynomial", "sigmoid"):
        # k = f(gamma x.c + coef0): J_i = N diag(gamma f'(x_i . C + coef0)) C
        degree, coef0 = params["degree"], params["coef0"]

        def scales(start, stop):
            t = gamma * (X[start:stop] @ C.T) + coef0
            if kernel == "sigmoid":
                return gamma * (1.0 - np.tanh(t) ** 2)
            return gamma * degree * t ** (degree - 1)

        return RowScaledJacobian(scales, C, N, n_samples=n)

    # rbf: dk_j/dx = -2 gamma k_j (x - c_j), so J_i = -2 gamma N (k_i x_i^T - diag(k_i) C)
    def rows(start, stop):
        x = X[start:stop]
        sq = (x**2).sum(axis=1)[:, None] - 2 * x @ C.T + (C**2).sum(axis=1)
        k = np.exp(-gamma * np.maximum(sq, 0.0))  # (m_rows, m)
        block = k[:, :, None] * (x[:, None, :] - C)  # (m_rows, m, d)
        return (-2.0 * gamma) * np.matmul(N, block)

    return LazyJacobian(rows, n_samples=n, shape_out_in=(N.shape[0], d))


def _column_transformer(transformer, X):
    n, d = X.shape
    p = sum(s.stop - s.start for s in transformer.output_indices_.values())
    parts = []
    for name, step, columns in transformer.transformers_:
        out = transformer.output_indices_[name]
        if step == "drop" or out.stop == out.start:
            continue
        index = np.asarray(transformer._transformer_to_input_indices[name], dtype=int)
        if step == "passthrough":
            block = Jacobian("diagonal", np.ones(len(index)))
        else:
            block = jacobian_of(step, X[:, index])
        parts.append((out, index, block))
    if all(_is_shared(block) for _, _, block in parts):
        J = np.zeros((p, d))
        for out, index, block in parts:
            J[out.start : out.stop, index] = block.toarray()
        return Jacobian("constant", J)
    J = np.zeros((n, p, d))
    for out, index, block in parts:
        J[:, out.start : out.stop, index] = block.toarray()  # (p_i, d_i) broadcasts over n
    return Jacobian("dense", J)


def _is_shared(block):
    """Whether the block is the same for every sample."""
    return block.kind == "constant" or (block.kind == "diagonal" and block.values.ndim == 1)


_JACOBIANS = {
    StandardScaler: _standard_scaler,
    RobustScaler: _robust_scaler,
    MinMaxScaler: _min_max_scaler,
    MaxAbsScaler: _max_abs_scaler,
    PCA: _pca,
    PolynomialFeatures: _polynomial,
    SplineTransformer: _spline,
    ColumnTransformer: _column_transformer,
    RBFSampler: _rbf_sampler,
    Nystroem: _nystroem,
}


def supported_transformers():
    """Names of the scikit-learn transformers with a known Jacobian."""
    return [cls.__name__ for cls in _JACOBIANS] + ["GIFunctionTransformer", "InverseDistances"]


def check_known_jacobian(transformer):
    """Raise the ``TypeError`` of :func:`jacobian_of` early, before anything is fitted."""
    if transformer is None or (isinstance(transformer, str) and transformer in ("passthrough", "drop")):
        return
    if type(transformer) is FunctionTransformer and transformer.func is None:
        return
    if hasattr(transformer, "_gi_jacobian"):
        # GIFunctionTransformer knows its Jacobian only when given one; other owners always do
        if getattr(transformer, "func", None) is not None and transformer.derivative is None and (
            transformer.jacobian is None
        ):
            raise TypeError(
                "GIFunctionTransformer needs derivative= (elementwise func) or jacobian= to "
                "propagate gradients."
            )
        return
    if hasattr(transformer, "transform_jacobian"):
        return
    if type(transformer) is ColumnTransformer:
        for _, step, _ in transformer.transformers:
            check_known_jacobian(step)
        check_known_jacobian(transformer.remainder)
        return
    if type(transformer) not in _JACOBIANS:
        raise TypeError(_unknown_message(transformer))
    if type(transformer) is Nystroem:
        _check_nystroem_kernel(transformer)


def _unknown_message(transformer):
    return (
        f"{type(transformer).__name__} has no known Jacobian, so gradients with respect "
        "to the raw inputs cannot be propagated through it. Supported: "
        f"{', '.join(supported_transformers())}, or any transformer with a "
        "transform_jacobian(X) method returning (n_samples, n_outputs, n_inputs) or "
        "(n_outputs, n_inputs)."
    )


def jacobian_of(transformer, X):
    """:class:`Jacobian` of a fitted transformer at ``X`` (internal, cheapest form)."""
    identity = type(transformer) is FunctionTransformer and transformer.func is None
    if transformer is None or transformer == "passthrough" or identity:
        # ColumnTransformer stores passthrough parts as identity FunctionTransformers
        return Jacobian("diagonal", np.ones(np.shape(X)[1]))
    own = getattr(transformer, "_gi_jacobian", None)
    if own is not None:
        return own(X)
    if hasattr(transformer, "transform_jacobian"):
        return Jacobian.from_array(transformer.transform_jacobian(X))
    # exact types: a subclass may change ``transform``
    jacobian = _JACOBIANS.get(type(transformer))
    if jacobian is None:
        raise TypeError(_unknown_message(transformer))
    check_is_fitted(transformer)
    if sparse.issparse(X):
        raise TypeError("Jacobians need dense inputs; got a sparse matrix.")
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    return jacobian(transformer, X)


def transform_jacobian(transformer, X):
    """Jacobian of ``transformer.transform`` at ``X``.

    Supported: StandardScaler, RobustScaler, MinMaxScaler (also with
    ``clip=True``), MaxAbsScaler, PCA (also whitened), PolynomialFeatures,
    SplineTransformer, ColumnTransformer (block Jacobian of supported parts,
    passthrough and drop), RBFSampler, Nystroem (kernels "rbf", "poly",
    "polynomial", "linear" and "sigmoid"), :class:`GIFunctionTransformer`,
    :class:`InverseDistances`, and any transformer with a
    ``transform_jacobian(X)`` method (the protocol for user transformers).
    Jacobians that are the same for every sample are returned once, as a 2-D
    array. This materialises the per-sample Jacobians of
    RBFSampler and Nystroem, ``(n_samples, n_components, n_inputs)``, which
    :class:`~sklearn_gi.pipeline.GIPipeline` never does: it keeps them lazy.

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
    return jacobian_of(transformer, X).toarray()
