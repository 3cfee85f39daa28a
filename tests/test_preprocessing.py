import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

from sklearn_gi.preprocessing import GIFunctionTransformer, supported_transformers, transform_jacobian
from sklearn_gi.preprocessing import _jacobian_types
from sklearn_gi.preprocessing._jacobian_types import Jacobian, LazyJacobian, RowScaledJacobian
from sklearn_gi.preprocessing._jacobians import check_known_jacobian, jacobian_of

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


# ---------------------------------------------------------------- kernel feature maps

KERNEL_MAPS = [
    RBFSampler(n_components=7, gamma=0.5, random_state=0),
    Nystroem(n_components=8, gamma=0.3, random_state=0),
    Nystroem(kernel="poly", n_components=8, random_state=0),
    Nystroem(kernel="polynomial", degree=2, coef0=0.5, gamma=0.3, n_components=8, random_state=0),
    Nystroem(kernel="sigmoid", gamma=0.1, n_components=8, random_state=0),
    Nystroem(kernel="linear", n_components=3, random_state=0),
]


@pytest.mark.parametrize("transformer", KERNEL_MAPS, ids=lambda t: repr(t)[:60])
def test_kernel_feature_map_jacobians_match_finite_differences(rng, transformer):
    X = rng.normal(size=(30, 3))
    X_test = rng.normal(size=(5, 3))
    transformer.fit(X)
    J = transform_jacobian(transformer, X_test)
    J = np.broadcast_to(J, (5,) + J.shape[-2:])
    fd = _fd_jacobian(transformer, X_test, np.full(3, 1e-5))
    assert J.shape == fd.shape
    np.testing.assert_allclose(J, fd, atol=1e-8 * (1 + np.abs(fd).max()))


def test_kernel_feature_maps_stay_lazy_through_scalers(rng):
    X = rng.normal(size=(50, 3)) * SCALES
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    rff = RBFSampler(n_components=6, random_state=0).fit(Xs)
    nys = Nystroem(n_components=5, random_state=0).fit(Xs)
    poly = Nystroem(kernel="poly", n_components=5, random_state=0).fit(Xs)
    J_scaler = jacobian_of(scaler, X)
    for step, kind in ((rff, "row_scaled"), (nys, "lazy"), (poly, "row_scaled")):
        inner = jacobian_of(step, Xs)
        assert inner.kind == kind and inner.values is None  # nothing (n, p, d) is held
        both = J_scaler.then(inner)
        assert both.kind == kind
        np.testing.assert_allclose(both.toarray(), inner.toarray() / scaler.scale_, rtol=1e-12)
    # the scaler's row-scaling stays in closed form: W^T diag(1 / scale)
    composed = J_scaler.then(jacobian_of(rff, Xs))
    assert composed.left is None
    np.testing.assert_allclose(composed.right, rff.random_weights_.T / scaler.scale_)


def test_lazy_compositions_are_exact(rng):
    n, m = 5, 3
    S = rng.normal(size=(n, m))
    right, left = rng.normal(size=(m, m)), rng.normal(size=(m, m))
    dense_rows = rng.normal(size=(n, m, m))
    row_scaled = RowScaledJacobian(lambda a, b: S[a:b], right, n_samples=n)
    both_sides = RowScaledJacobian(lambda a, b: S[a:b], right, left, n_samples=n)
    lazy = LazyJacobian(lambda a, b: dense_rows[a:b], n_samples=n, shape_out_in=(m, m))
    eager = [
        Jacobian("diagonal", rng.uniform(1, 2, m)),
        Jacobian("diagonal", rng.uniform(1, 2, (n, m))),
        Jacobian("constant", rng.normal(size=(m, m))),
        Jacobian("dense", rng.normal(size=(n, m, m))),
    ]
    expected_row_scaled = S[:, :, None] * right
    np.testing.assert_allclose(row_scaled.toarray(), expected_row_scaled)
    np.testing.assert_allclose(both_sides.toarray(), left @ expected_row_scaled)
    for a in (row_scaled, both_sides, lazy):
        for b in eager + [row_scaled, both_sides, lazy]:
            for inner, outer in ((a, b), (b, a)):
                expected = np.broadcast_to(outer.toarray(), (n, m, m)) @ np.broadcast_to(
                    inner.toarray(), (n, m, m))
                composed = inner.then(outer)
                assert composed.is_lazy
                np.testing.assert_allclose(composed.toarray(), expected, rtol=1e-12, atol=1e-12)
    # row-scaled forms survive shared scalings and constants on either side
    for outer in eager[:3]:
        assert row_scaled.then(outer).kind == "row_scaled"
    for inner in (eager[0], eager[2]):
        assert inner.then(both_sides).kind == "row_scaled"
    G = rng.normal(size=(n, 2, m))
    for J in (row_scaled, both_sides, lazy):
        np.testing.assert_allclose(J.apply(G), G @ J.toarray(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(J.apply(J.pull_back(G)), G, atol=1e-9)
    narrow = RowScaledJacobian(lambda a, b: S[a:b], right[:, :2], n_samples=n)
    assert narrow.pull_back(rng.normal(size=(n, 1, 3))) is None


def test_lazy_apply_and_toarray_work_in_chunks(rng, monkeypatch):
    n, m, d = 300, 4, 2
    S = rng.normal(size=(n, m))
    right = rng.normal(size=(m, d))
    seen = []

    def scales(start, stop):
        seen.append(stop - start)
        return S[start:stop]

    J = RowScaledJacobian(scales, right, n_samples=n)
    monkeypatch.setattr(_jacobian_types, "_CHUNK_BYTES", 8 * 16 * (m * d))
    G = rng.normal(size=(n, 1, m))
    np.testing.assert_allclose(J.apply(G), G @ (S[:, :, None] * right), rtol=1e-12)
    assert max(seen) < n and sum(seen) == n  # several chunks, each sample once


def test_unsupported_nystroem_kernels_name_the_supported_ones(rng):
    X = rng.normal(size=(10, 2))
    for kernel in ("laplacian", "chi2", lambda a, b: float(a @ b)):
        nys = Nystroem(kernel=kernel, n_components=3, random_state=0)
        with pytest.raises(TypeError, match="Nystroem.*no known Jacobian.*'rbf', 'poly'.*'sigmoid'"):
            check_known_jacobian(nys)  # before fitting
        with pytest.raises(TypeError, match="supported kernels"):
            transform_jacobian(nys.fit(np.abs(X)), np.abs(X))
    assert "RBFSampler" in supported_transformers() and "Nystroem" in supported_transformers()


def test_polynomial_jacobian_stays_structured_through_scalers(rng):
    X = rng.normal(size=(40, 3)) * SCALES
    before = MinMaxScaler(clip=True).fit(X[:20])  # per-sample diagonal (clipped rows) before
    Xs = before.transform(X)
    poly = PolynomialFeatures(3).fit(Xs)
    Z = poly.transform(Xs)
    after = StandardScaler().fit(Z[:, 1:])
    J_poly = jacobian_of(poly, Xs)
    assert J_poly.kind == "polynomial" and J_poly.values is None
    assert J_poly.derivative_basis()[0].shape == (10, 3)  # the monomials of degree <= 2
    J_before = jacobian_of(before, X)
    assert J_before.kind == "diagonal" and J_before.values.ndim == 2
    composed = J_before.then(J_poly)
    assert composed.kind == "polynomial" and composed.right.shape == (40, 3)
    np.testing.assert_allclose(composed.toarray(), J_poly.toarray() * J_before.values[:, None, :],
                               rtol=1e-12)
    scale = 1.0 / np.r_[1.0, after.scale_]
    outer = composed.then(Jacobian("diagonal", scale))
    assert outer.kind == "polynomial"
    np.testing.assert_allclose(outer.toarray(), composed.toarray() * scale[:, None], rtol=1e-12)
    # a dense row is a gather from the derivative basis, equal to finite differences
    eps = 1e-6
    for m in range(3):
        step = np.zeros(3)
        step[m] = eps
        fd = (poly.transform(Xs + step) - poly.transform(Xs - step)) / (2 * eps)
        np.testing.assert_allclose(J_poly.toarray()[:, :, m], fd, rtol=1e-6, atol=1e-6)
