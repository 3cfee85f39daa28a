import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

from sklearn_gi.preprocessing import GIFunctionTransformer, transform_jacobian
from sklearn_gi.preprocessing._jacobian_types import Jacobian
from sklearn_gi.preprocessing._jacobians import jacobian_of

SCALES = np.array([1.0, 100.0, 0.01])

TRANSFORMERS = [
    PolynomialFeatures(3),
    PolynomialFeatures(2, interaction_only=True, include_bias=False),
    StandardScaler(),
    StandardScaler(with_std=False),
    RobustScaler(),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-1, 1), clip=True),
    MaxAbsScaler(),
    PCA(2),
    PCA(3, whiten=True),
    SplineTransformer(n_knots=4, degree=3),
    SplineTransformer(n_knots=4, degree=2, include_bias=False, extrapolation="linear"),
    SplineTransformer(n_knots=5, degree=3, extrapolation="periodic"),
    SplineTransformer(n_knots=4, degree=3, extrapolation="continue"),
    GIFunctionTransformer(np.sinh, np.arcsinh, derivative=np.cosh),
    GIFunctionTransformer(lambda X: X[:, :2] * X[:, 2:],
                          jacobian=lambda X: np.stack([np.column_stack([X[:, 2], 0 * X[:, 0], X[:, 0]]),
                                                       np.column_stack([0 * X[:, 0], X[:, 2], X[:, 1]])], 1)),
    ColumnTransformer([("scale", StandardScaler(), [0, 2]), ("poly", PolynomialFeatures(2), [1])]),
    ColumnTransformer([("scale", StandardScaler(), [2])], remainder="passthrough"),
    ColumnTransformer([("pca", PCA(1), [0, 1]), ("drop", "drop", [2])]),
]


def _fd_jacobian(transformer, X, eps):
    cols = []
    for m in range(X.shape[1]):
        step = np.zeros(X.shape[1])
        step[m] = eps[m]
        cols.append((transformer.transform(X + step) - transformer.transform(X - step)) / (2 * eps[m]))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=lambda t: repr(t)[:60])
def test_jacobian_matches_finite_differences(rng, transformer):
    X_fit = rng.normal(size=(40, 3)) * SCALES
    X = rng.normal(size=(6, 3)) * SCALES
    X[0, 1] = 0.0  # x ** 0 at x == 0 must still give the right derivative
    X[1] = 3 * X_fit.max(axis=0)  # outside the fitted range: clipping and extrapolation
    transformer.fit(X_fit)
    Z = transformer.transform(X)
    J = transform_jacobian(transformer, X)
    J = np.broadcast_to(J, (6,) + J.shape[-2:])
    assert J.shape == (6, Z.shape[1], 3)
    fd = _fd_jacobian(transformer, X, 1e-4 * SCALES)
    scale = np.abs(fd).max(axis=(0, 1), keepdims=True) + 1e-12  # per input, units differ
    # finite differences are good to ~1e-5 here (roundoff on large outputs, truncation)
    np.testing.assert_allclose(J / scale, fd / scale, atol=1e-4)


def test_constant_and_diagonal_jacobians_are_not_expanded(rng):
    X = rng.normal(size=(1000, 3))
    assert transform_jacobian(StandardScaler().fit(X), X).shape == (3, 3)
    assert jacobian_of(StandardScaler().fit(X), X).values.shape == (3,)
    assert jacobian_of(PCA(2).fit(X), X).values.shape == (2, 3)
    elementwise = GIFunctionTransformer(np.exp, derivative=np.exp).fit(X)
    assert jacobian_of(elementwise, X).kind == "diagonal"
    assert jacobian_of(elementwise, X).values.shape == (1000, 3)
    ct = ColumnTransformer([("s", StandardScaler(), [0]), ("p", PCA(1), [1, 2])]).fit(X)
    assert transform_jacobian(ct, X).shape == (2, 3)


def test_compositions_keep_the_cheapest_form_and_are_exact(rng):
    n = 4
    diag_shared = Jacobian("diagonal", rng.uniform(1, 2, 3))
    diag_rows = Jacobian("diagonal", rng.uniform(1, 2, (n, 3)))
    const = Jacobian("constant", rng.normal(size=(3, 3)))
    dense = Jacobian("dense", rng.normal(size=(n, 3, 3)))
    for inner in (diag_shared, diag_rows, const, dense):
        for outer in (diag_shared, diag_rows, const, dense):
            both = inner.then(outer)
            expected = np.broadcast_to(outer.toarray(), (n, 3, 3)) @ np.broadcast_to(
                inner.toarray(), (n, 3, 3))
            np.testing.assert_allclose(np.broadcast_to(both.toarray(), (n, 3, 3)), expected)
    assert diag_shared.then(const).kind == "constant"
    assert diag_shared.then(diag_rows).kind == "diagonal"
    G = rng.normal(size=(n, 2, 3))
    for J in (diag_shared, diag_rows, const, dense):
        back = J.pull_back(G)
        np.testing.assert_allclose(J.apply(back), G, atol=1e-10)


def test_singular_or_non_square_jacobians_do_not_pull_back(rng):
    G = rng.normal(size=(3, 1, 2))
    assert Jacobian("diagonal", np.array([1.0, 0.0])).pull_back(G) is None
    assert Jacobian("constant", np.ones((2, 2))).pull_back(G) is None
    assert Jacobian("constant", np.ones((3, 2))).pull_back(G) is None


def test_unknown_transformer_is_a_type_error_naming_it_and_the_supported_ones(rng):
    X = rng.normal(size=(5, 3))
    with pytest.raises(TypeError, match="QuantileTransformer has no known Jacobian.*PCA.*"
                                        "SplineTransformer.*transform_jacobian"):
        transform_jacobian(QuantileTransformer(n_quantiles=5).fit(X), X)
    with pytest.raises(TypeError, match="needs derivative= .* or jacobian="):
        transform_jacobian(GIFunctionTransformer(np.exp).fit(X), X)
    with pytest.raises(TypeError, match="QuantileTransformer has no known Jacobian"):
        ct = ColumnTransformer([("q", QuantileTransformer(n_quantiles=5), [0])]).fit(X)
        transform_jacobian(ct, X)


def test_protocol_method_is_used(rng):
    class Doubler:
        def transform_jacobian(self, X):
            return 2 * np.eye(np.shape(X)[1])

    np.testing.assert_array_equal(transform_jacobian(Doubler(), np.ones((2, 2))), 2 * np.eye(2))
