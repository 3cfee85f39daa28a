import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import PolynomialFeatures

from sklearn_gi.linear_model import GILinearRegression, GIRidge, GIRidgeStatistics, RidgeGradient
from sklearn_gi.linear_model import _normal_equations
from sklearn_gi.preprocessing import transform_jacobian
from sklearn_gi.preprocessing._jacobian_types import LazyJacobian, RowScaledJacobian


def _linear_data(rng, n=30, d=4, k=None):
    X = rng.normal(size=(n, d))
    if k is None:
        coef = rng.normal(size=d)
        y = X @ coef + 0.3 + 0.1 * rng.normal(size=n)
        G = np.tile(coef, (n, 1)) + 0.05 * rng.normal(size=(n, d))
    else:
        coef = rng.normal(size=(k, d))
        y = X @ coef.T + 0.1 * rng.normal(size=(n, k))
        G = np.broadcast_to(coef, (n, k, d)) + 0.05 * rng.normal(size=(n, k, d))
    return X, y, G


# ---------------------------------------------------------------- Ridge equivalence


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("multi", [False, True])
def test_without_gradients_equals_sklearn_ridge(rng, fit_intercept, multi):
    X, y, _ = _linear_data(rng, k=3 if multi else None)
    sw = rng.uniform(0.2, 3.0, size=len(X))
    ours = GIRidge(alpha=2.5, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    ref = Ridge(alpha=2.5, fit_intercept=fit_intercept).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-10, atol=1e-12)
    assert np.shape(ours.coef_) == np.shape(ref.coef_)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_)


def test_zero_gradient_weight_and_all_nan_gradients_ignore_gradients(rng):
    X, y, G = _linear_data(rng)
    ref = Ridge(alpha=0.7).fit(X, y)
    a = GIRidge(alpha=0.7, gradient_weight=0.0).fit(X, y, G)
    b = GIRidge(alpha=0.7).fit(X, y, np.full_like(G, np.nan))
    for model in (a, b):
        np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-10)


def test_float32_is_respected(rng):
    X, y, G = _linear_data(rng)
    model = GIRidge().fit(X.astype(np.float32), y.astype(np.float32), G.astype(np.float32))
    ref = GIRidge().fit(X, y, G)
    assert model.coef_.dtype == np.float32
    assert model.predict(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(model.coef_, ref.coef_, rtol=1e-4)


# ---------------------------------------------------------------- exactness


def _case(rng, n, p, d, k, jac, nan_fraction):
    Z = rng.normal(size=(n, p))
    Y = rng.normal(size=(n, k))
    G = rng.normal(size=(n, k, d))
    G[rng.uniform(size=G.shape) < nan_fraction] = np.nan
    J = {"none": None, "const": rng.normal(size=(p, d)), "per_sample": rng.normal(size=(n, p, d))}[jac]
    w = rng.uniform(0.1, 2.0, size=n)
    return Z, Y, G, J, w


@pytest.mark.parametrize("jac", ["none", "const", "per_sample"])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_closed_form_matches_brute_force_lstsq(rng, brute_force, jac, nan_fraction, fit_intercept):
    p = 5
    d = p if jac == "none" else 3
    Z, Y, G, J, w = _case(rng, n=12, p=p, d=d, k=2, jac=jac, nan_fraction=nan_fraction)
    model = GIRidge(alpha=0.3, gradient_weight=1.7, fit_intercept=fit_intercept)
    model.fit(Z, Y, G, dZdX=J, sample_weight=w)
    coef, intercept = brute_force(Z, Y, G, J, w, 0.3, 1.7, fit_intercept)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-8, atol=1e-10)


# brute_force is a pure function, safe to share between examples
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 8),
    p=st.integers(1, 5),
    k=st.integers(1, 3),
    alpha=st.floats(0.01, 10.0),
    gamma=st.floats(0.0, 10.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_matches_brute_force(brute_force, n, p, k, alpha, gamma, seed):
    rng = np.random.default_rng(seed)
    Z, Y, G, J, w = _case(rng, n=n, p=p, d=p, k=k, jac="none", nan_fraction=0.25)
    model = GIRidge(alpha=alpha, gradient_weight=gamma).fit(Z, Y, G, sample_weight=w)
    coef, intercept = brute_force(Z, Y, G, None, w, alpha, gamma, True)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-6, atol=1e-8)


def test_chunked_accumulation_gives_the_same_result(rng, monkeypatch):
    Z, Y, G, J, w = _case(rng, n=3000, p=6, d=2, k=2, jac="per_sample", nan_fraction=0.1)
    full = GIRidge(alpha=0.1).fit(Z, Y, G, dZdX=J, sample_weight=w)
    monkeypatch.setattr(_normal_equations, "_CHUNK_BYTES", 1024)
    assert _normal_equations._chunk_rows(3000, 8) == 256  # really several chunks
    chunked = GIRidge(alpha=0.1).fit(Z, Y, G, dZdX=J, sample_weight=w)
    np.testing.assert_allclose(chunked.coef_, full.coef_, rtol=1e-10)
    np.testing.assert_allclose(chunked.intercept_, full.intercept_, rtol=1e-10)


def test_gradients_recover_linear_function_from_fewer_samples_than_features(rng):
    d, n = 20, 5
    coef = rng.normal(size=d)
    X = rng.normal(size=(n, d))
    y = X @ coef - 1.5
    G = np.tile(coef, (n, 1))
    gi = GILinearRegression().fit(X, y, G)
    np.testing.assert_allclose(gi.coef_, coef, atol=1e-10)
    assert gi.intercept_ == pytest.approx(-1.5, abs=1e-10)
    assert gi.solver_ == "cholesky"
    ridge = Ridge(alpha=1e-6).fit(X, y)
    # values alone leave a 15-dimensional null space: far from the truth
    assert np.linalg.norm(ridge.coef_ - coef) > 0.5 * np.linalg.norm(coef)
    X_test = rng.normal(size=(100, d))
    assert np.abs(gi.predict(X_test) - (X_test @ coef - 1.5)).max() < 1e-9


def test_only_some_partials_known(rng):
    # gradients with respect to the first 15 of 20 inputs only: 5 samples give
    # 5 value equations for the 5 remaining coefficients and the intercept (underdetermined
    # by one), and with 7 samples the model is exact
    d, n = 20, 7
    coef = rng.normal(size=d)
    X = rng.normal(size=(n, d))
    y = X @ coef + 2.0
    G = np.tile(coef, (n, 1))
    G[:, 15:] = np.nan
    model = GILinearRegression().fit(X, y, G)
    np.testing.assert_allclose(model.coef_, coef, atol=1e-8)


def _quadratic(rng):
    A = rng.normal(size=(3, 3))
    A = A + A.T
    b = rng.normal(size=3)
    return (lambda X: 0.5 * np.einsum("ni,ij,nj->n", X, A, X) + X @ b + 4.0), (lambda X: X @ A + b)


def test_quadratic_in_3d_recovered_from_4_samples_with_polynomial_jacobians(rng):
    f, grad = _quadratic(rng)
    X = rng.normal(size=(4, 3))
    poly = PolynomialFeatures(2, include_bias=False).fit(X)
    J = transform_jacobian(poly, X)
    model = GIRidge(alpha=1e-12).fit(poly.transform(X), f(X), grad(X), dZdX=J)
    X_test = rng.uniform(-3, 3, size=(200, 3))
    Z_test = poly.transform(X_test)
    np.testing.assert_allclose(model.predict(Z_test), f(X_test), atol=1e-6)
    pred_grad = model.predict_gradient(Z_test, dZdX=transform_jacobian(poly, X_test))
    np.testing.assert_allclose(pred_grad, grad(X_test), atol=1e-6)
    # the same 4 samples without gradients cannot determine 10 parameters
    ridge = Ridge(alpha=1e-12).fit(poly.transform(X), f(X))
    assert np.abs(ridge.predict(Z_test) - f(X_test)).max() > 1.0


def test_three_samples_leave_exactly_one_quadratic_direction_free(rng, brute_force):
    """3 samples give 12 equations but rank 9 for the 10 quadratic parameters.

    Any w orthogonal to both sample differences gives ``A + t w w^T`` (with
    matching b and c) the same values and gradients at all three points, so no
    method can recover a general 3-D quadratic from 3 samples; the fit
    interpolates all 12 equations and is exact once a 4th sample is added.
    """
    f, grad = _quadratic(rng)
    X = rng.normal(size=(3, 3))
    poly = PolynomialFeatures(2, include_bias=False).fit(X)
    Z, J = poly.transform(X), transform_jacobian(poly, X)
    rows = np.vstack([np.c_[Z, np.ones(3)], np.c_[J.transpose(0, 2, 1).reshape(9, 9), np.zeros(9)]])
    assert np.linalg.matrix_rank(rows) == 9
    model = GILinearRegression().fit(Z, f(X), grad(X), dZdX=J)
    np.testing.assert_allclose(model.predict(Z), f(X), atol=1e-8)
    np.testing.assert_allclose(model.predict_gradient(Z, dZdX=J), grad(X), atol=1e-8)


def test_singular_problem_falls_back_to_min_norm_lstsq(rng):
    X = rng.normal(size=(4, 10))
    y = rng.normal(size=4)
    model = GILinearRegression().fit(X, y)
    ref = LinearRegression().fit(X, y)
    assert model.solver_ == "lstsq"
    np.testing.assert_allclose(model.predict(X), y, atol=1e-8)
    np.testing.assert_allclose(model.coef_, ref.coef_, atol=1e-8)


# ---------------------------------------------------------------- predict_gradient


def test_predict_gradient_shapes_and_finite_differences(rng):
    X, Y, G = _linear_data(rng, k=3)
    model = GIRidge().fit(X, Y, G)
    grad = model.predict_gradient(X[:7])
    assert grad.shape == (7, 3, 4)
    eps = 1e-6
    fd = np.stack(
        [(model.predict(X[:7] + eps * e) - model.predict(X[:7] - eps * e)) / (2 * eps) for e in np.eye(4)],
        axis=-1,
    )
    np.testing.assert_allclose(grad, fd, atol=1e-6)
    single = GIRidge().fit(X, Y[:, 0], G[:, 0])
    assert single.predict_gradient(X).shape == X.shape
    np.testing.assert_allclose(single.predict_gradient(X), grad_single := np.tile(single.coef_, (len(X), 1)))
    assert grad_single.shape == (30, 4)


def test_one_output_2d_and_1d_targets_agree(rng):
    X, y, G = _linear_data(rng)
    a = GIRidge().fit(X, y, G)
    b = GIRidge().fit(X, y[:, None], G[:, None, :])
    np.testing.assert_allclose(b.coef_[0], a.coef_)
    assert b.predict(X).shape == (30, 1)


# ---------------------------------------------------------------- RidgeGradient


def test_ridge_gradient_matches_its_two_stage_formula(rng):
    X, y, G = _linear_data(rng, n=15, d=3)
    G[2, 1] = np.nan
    model = RidgeGradient(alpha=0.4, prior_weight=2.0, gradient_alpha=0.5).fit(X, y, G)
    known = ~np.isnan(G)
    counts = known.sum(0)
    prior = np.where(known, G, 0).sum(0) / (counts + 0.5)
    np.testing.assert_allclose(model.gradient_coef_, prior, rtol=1e-10)
    Xc, yc = X - X.mean(0), y - y.mean()
    coef = np.linalg.solve(Xc.T @ Xc + 2.4 * np.eye(3), Xc.T @ yc + 2.0 * prior)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-10)
    assert model.intercept_ == pytest.approx(y.mean() - X.mean(0) @ coef)


def test_ridge_gradient_without_gradients_is_ridge_with_summed_penalty(rng):
    X, y, _ = _linear_data(rng)
    model = RidgeGradient(alpha=0.5, prior_weight=1.5).fit(X, y)
    np.testing.assert_allclose(model.coef_, Ridge(alpha=2.0).fit(X, y).coef_, rtol=1e-10)
    np.testing.assert_array_equal(model.gradient_coef_, 0.0)


def test_ridge_gradient_penalties_are_independent(rng):
    X, y, G = _linear_data(rng)
    a = RidgeGradient(alpha=1.0, prior_weight=5.0).fit(X, y, G)
    b = RidgeGradient(alpha=5.0, prior_weight=1.0).fit(X, y, G)
    assert np.abs(a.coef_ - b.coef_).max() > 1e-3


def _rbf(x, centres):
    diff = x[:, None] - centres[None]
    return np.exp(-(diff**2)), (-2 * diff * np.exp(-(diff**2)))[:, :, None]


def test_ridge_gradient_beats_tuned_ridge_on_noisy_sine():
    """McDonagh and Chen's example, small: 7 RBFs, n=12, 20 draws, tuned on validation."""
    from sklearn_gi.datasets import get_problem, make_problem

    centres = np.linspace(0, 2.5 * np.pi, 7)
    x_test = np.linspace(0, 2.5 * np.pi, 100)
    Z_test, _ = _rbf(x_test, centres)
    lams = np.r_[0.0, np.logspace(-3, 1, 13)]
    sine = get_problem("sin")
    rmse_ridge, rmse_rg = [], []
    for draw in range(20):
        X, y, G = make_problem("sin", 12, noise=0.1, random_state=draw)
        Xv, yv, _ = make_problem("sin", 50, noise=0.1, random_state=1000 + draw)
        Z, J = _rbf(X[:, 0], centres)
        Zv, _ = _rbf(Xv[:, 0], centres)

        def val_rmse(model):
            return np.sqrt(np.mean((model.predict(Zv) - yv) ** 2))

        ridge = min((Ridge(alpha=lam).fit(Z, y) for lam in lams[1:]), key=val_rmse)
        rg = min(
            (
                RidgeGradient(alpha=a, prior_weight=b, gradient_alpha=1e-3).fit(Z, y, G, dZdX=J)
                for a in lams
                for b in lams
                if a + b > 0
            ),
            key=val_rmse,
        )
        truth = sine.value(x_test[:, None])
        rmse_ridge.append(np.sqrt(np.mean((ridge.predict(Z_test) - truth) ** 2)))
        rmse_rg.append(np.sqrt(np.mean((rg.predict(Z_test) - truth) ** 2)))
    assert np.mean(rmse_rg) < 0.9 * np.mean(rmse_ridge)


# ---------------------------------------------------------------- API


@pytest.mark.parametrize("Est", [GIRidge, GILinearRegression, RidgeGradient])
def test_clone_pickle_and_params(rng, Est):
    X, y, G = _linear_data(rng)
    model = Est().fit(X, y, G)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    assert clone(model).get_params() == model.get_params()
    assert not hasattr(clone(model), "coef_")


def test_feature_names_are_kept(rng):
    import pandas as pd
    X, y, G = _linear_data(rng)
    frame = pd.DataFrame(X, columns=list("abcd"))
    model = GIRidge().fit(frame, y, G)
    assert list(model.feature_names_in_) == list("abcd")
    assert model.n_features_in_ == 4


def test_grid_search_routes_and_slices_gradients(rng):
    X, y, G = _linear_data(rng, n=40)
    seen = []

    class Recording(GIRidge):
        def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
            seen.append((X.copy(), None if dYdX is None else np.asarray(dYdX).copy()))
            return super().fit(X, y, dYdX, dZdX=dZdX, sample_weight=sample_weight)

    search = GridSearchCV(Recording(), {"alpha": [0.1, 1.0]}, cv=4).fit(X, y, dYdX=G)
    assert len(seen) == 2 * 4 + 1
    for X_fold, G_fold in seen:
        rows = [np.flatnonzero((X == r).all(1))[0] for r in X_fold]
        np.testing.assert_array_equal(G_fold, G[rows])
    assert search.best_estimator_.coef_.shape == (4,)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make_bad, match",
    [
        (lambda G: G.T,
         r"dYdX has shape \(4, 30\), expected \(n_samples, n_features\) = \(30, 4\).*transposed"),
        (lambda G: G[:, :3], r"expected \(n_samples, n_features\) = \(30, 4\)"),
        (lambda G: G[:20], r"dYdX has shape \(20, 4\)"),
        (lambda G: G[:, None, :].repeat(2, 1), r"Got 3 dimensions, expected 2"),
        (lambda G: G[:, 0], r"Got 1 dimensions, expected 2"),
        (lambda G: np.where(G > 0.5, np.inf, G), r"dYdX.*infinity"),
        (lambda G: G.astype(str), r"dYdX must be numeric"),
        (lambda G: np.full(G.shape, "x", dtype=object), r"dYdX must be numeric"),
    ],
)
def test_bad_gradients_raise_clear_errors(rng, make_bad, match):
    X, y, G = _linear_data(rng)
    with pytest.raises(ValueError, match=match):
        GIRidge().fit(X, y, make_bad(G))


def test_gradient_outputs_must_match_y(rng):
    X, Y, G = _linear_data(rng, k=3)
    with pytest.raises(ValueError, match=r"\(n_samples, n_outputs, n_features\) = \(30, 3, 4\)"):
        GIRidge().fit(X, Y, G[:, :2])
    with pytest.raises(ValueError, match=r"Got 2 dimensions, expected 3"):
        GIRidge().fit(X, Y, G[:, 0])


@pytest.mark.parametrize("column", ["X", "y"])
def test_nan_in_values_is_an_error(rng, column):
    X, y, G = _linear_data(rng)
    if column == "X":
        X[3, 1] = np.nan
    else:
        y[3] = np.nan
    with pytest.raises(ValueError, match=f"Input {'X' if column == 'X' else 'y'} contains NaN"):
        GIRidge().fit(X, y, G)


@pytest.mark.parametrize("params", [{"alpha": -1.0}, {"gradient_weight": -0.1}])
def test_negative_penalties_are_rejected(rng, params):
    X, y, G = _linear_data(rng)
    name = next(iter(params))
    with pytest.raises(ValueError, match=f"'{name}' parameter of GIRidge must be a float in the range"):
        GIRidge(**params).fit(X, y, G)


def test_unfitted_and_wrong_width_predict(rng):
    X, y, G = _linear_data(rng)
    with pytest.raises(NotFittedError):
        GIRidge().predict(X)
    with pytest.raises(NotFittedError):
        GIRidge().predict_gradient(X)
    model = GIRidge().fit(X, y, G)
    with pytest.raises(ValueError, match="X has 3 features, but GIRidge is expecting 4"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="X has 3 features, but GIRidge is expecting 4"):
        model.predict_gradient(X[:, :3])


def test_bad_feature_jacobian(rng):
    X, y, G = _linear_data(rng)
    with pytest.raises(ValueError, match=r"dZdX has shape \(30, 5, 2\), expected"):
        GIRidge().fit(X, y, G[:, :2], dZdX=rng.normal(size=(30, 5, 2)))
    with pytest.raises(ValueError, match="dZdX was given without dYdX"):
        GIRidge().fit(X, y, dZdX=rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match=r"expected \(n_samples, n_features\) = \(30, 2\)"):
        GIRidge().fit(X, y, G, dZdX=rng.normal(size=(4, 2)))


def test_empty_data_and_bad_sample_weight(rng):
    with pytest.raises(ValueError, match="minimum of 1 is required"):
        GIRidge().fit(np.empty((0, 3)), np.empty(0), np.empty((0, 3)))
    X, y, G = _linear_data(rng)
    with pytest.raises(ValueError, match="non-negative"):
        GIRidge().fit(X, y, G, sample_weight=-np.ones(30))


def test_complex_gradients_are_rejected(rng):
    X, y, G = _linear_data(rng)
    with pytest.raises(ValueError, match=r"dYdX must be numeric \(real-valued\)"):
        GIRidge().fit(X, y, G.astype(complex))


# ---------------------------------------------------------------- lazy feature Jacobians


def _lazy_case(rng, kind, n=60, m=5, d=3, k=2):
    S = rng.normal(size=(n, m))
    R = rng.normal(size=(m, d))
    if kind == "row_scaled":
        J = RowScaledJacobian(lambda a, b: S[a:b], R, n_samples=n)
    elif kind == "row_scaled_left":
        J = RowScaledJacobian(lambda a, b: S[a:b], R, rng.normal(size=(m, m)), n_samples=n)
    else:
        dense = rng.normal(size=(n, m, d))
        J = LazyJacobian(lambda a, b: dense[a:b], n_samples=n, shape_out_in=(m, d))
    Z = rng.normal(size=(n, m)) + 5.0
    Y = rng.normal(size=(n, k))
    G = rng.normal(size=(n, k, d))
    return Z, Y, G, J


@pytest.mark.parametrize("kind", ["row_scaled", "row_scaled_left", "lazy"])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.3])
def test_lazy_jacobian_fits_equal_the_dense_ones(rng, monkeypatch, brute_force, kind, nan_fraction):
    Z, Y, G, J = _lazy_case(rng, kind)
    G[rng.uniform(size=G.shape) < nan_fraction] = np.nan
    w = rng.uniform(0.2, 2.0, size=len(Z))
    dense = J.toarray()
    ref = GIRidge(alpha=0.3, gradient_weight=1.7).fit(Z, Y, G, dZdX=dense, sample_weight=w)
    coef, intercept = brute_force(Z, Y, G, dense, w, 0.3, 1.7, True)
    np.testing.assert_allclose(ref.coef_, coef, rtol=1e-8, atol=1e-10)
    monkeypatch.setattr(_normal_equations, "_CHUNK_BYTES", 1024)  # several chunks
    lazy = GIRidge(alpha=0.3, gradient_weight=1.7).fit(Z, Y, G, dZdX=J, sample_weight=w)
    np.testing.assert_allclose(lazy.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lazy.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lazy.predict_gradient(Z, dZdX=J), ref.predict_gradient(Z, dZdX=dense),
                               rtol=1e-10, atol=1e-12)


def test_row_scaled_gradient_terms_take_the_hadamard_form(rng, monkeypatch):
    Z, Y, G, J = _lazy_case(rng, "row_scaled", n=40)
    w = rng.uniform(0.2, 2.0, size=len(Z))
    calls = []
    monkeypatch.setattr(J, "rows", lambda a, b: calls.append((a, b)))  # the slow path is not taken
    H, r = _normal_equations.gradient_terms(G, J, w)
    monkeypatch.undo()
    S = J.scales(0, 40)
    assert not calls and H.shape == (1, 5, 5)
    # sum_i w_i diag(s_i) R R^T diag(s_i) = (R R^T) * (S^T W S)
    np.testing.assert_allclose(H[0], (J.right @ J.right.T) * (S.T @ (w[:, None] * S)), rtol=1e-12)
    H_dense, r_dense = _normal_equations.gradient_terms(G, J.toarray(), w)
    np.testing.assert_allclose(H, H_dense, rtol=1e-12, atol=1e-12 * np.abs(H_dense).max())
    np.testing.assert_allclose(r, r_dense, rtol=1e-12, atol=1e-12 * np.abs(r_dense).max())


def test_lazy_jacobian_of_the_wrong_size_is_a_clear_error(rng):
    Z, Y, G, J = _lazy_case(rng, "lazy")
    with pytest.raises(ValueError,
                       match=r"dZdX is a lazy Jacobian of shape \(60, 5, 3\), expected .*\(59, 5"):
        GIRidge().fit(Z[1:], Y[1:], G[1:], dZdX=J)
    model = GIRidge().fit(Z, Y, G, dZdX=J)
    with pytest.raises(ValueError, match="dZdX is a lazy Jacobian"):
        model.predict_gradient(Z[:3], dZdX=J)


# ---------------------------------------------------------------- partial_fit and statistics


def _batches(rng, n, n_batches):
    return np.array_split(rng.permutation(n), n_batches)


@pytest.mark.parametrize(
    "case, fit_intercept",
    # (no "offset" without intercept: a 1e6 offset left in the Gram matrix makes
    # the problem itself ill-conditioned, for one fit as for many)
    [(case, True) for case in ("plain", "offset", "multi_nan_weights", "per_sample_jacobian")]
    + [(case, False) for case in ("plain", "multi_nan_weights", "per_sample_jacobian")],
)
def test_partial_fit_over_shuffled_batches_equals_one_fit(rng, case, fit_intercept):
    n, p = 200, 4
    X, y, G = _linear_data(rng, n=n, d=p, k=2 if case != "plain" else None)
    w, J = None, None
    if case == "offset":  # far from the origin: a naive uncentred merge loses ~8 digits
        X = X * 1e-2 + 1e6
        y = y + 1e5
    if case == "multi_nan_weights":
        G[rng.uniform(size=G.shape) < 0.3] = np.nan
        w = rng.uniform(0.1, 3.0, size=n)
    if case == "per_sample_jacobian":
        J = rng.normal(size=(n, p, 3))
        G = rng.normal(size=(n, 2, 3))
    model = GIRidge(alpha=0.5, gradient_weight=2.0, fit_intercept=fit_intercept)
    ref = clone(model).fit(X, y, G, dZdX=J, sample_weight=w)
    for n_batches in (2, 7, 31):
        inc = clone(model)
        for batch in _batches(rng, n, n_batches):
            inc.partial_fit(X[batch], y[batch], G[batch], dZdX=None if J is None else J[batch],
                            sample_weight=None if w is None else w[batch])
        scale = np.abs(ref.coef_).max()
        np.testing.assert_allclose(inc.coef_, ref.coef_, rtol=1e-10, atol=1e-10 * scale)
        np.testing.assert_allclose(inc.intercept_, ref.intercept_, rtol=1e-10,
                                   atol=1e-10 * (1 + np.abs(ref.intercept_).max()))
        assert np.shape(inc.coef_) == np.shape(ref.coef_)


def test_naive_uncentred_sums_would_fail_the_offset_case(rng):
    """The offset case above can fail: the textbook merge of uncentred sums loses the digits."""
    X = rng.normal(size=(200, 3)) * 1e-2 + 1e6
    w = np.ones(200)
    naive = X.T @ X - np.outer(X.sum(0), X.sum(0)) / w.sum()
    Xc = X - X.mean(0)
    assert np.abs(naive - Xc.T @ Xc).max() > 1e-6 * np.abs(Xc.T @ Xc).max()


def test_partial_fit_mixes_batches_with_and_without_gradients(rng):
    X, y, G = _linear_data(rng, n=60)
    G[:20] = np.nan  # the first 20 samples without gradients: the same as leaving dYdX out
    ref = GIRidge(alpha=0.1).fit(X, y, G)
    inc = GIRidge(alpha=0.1).partial_fit(X[:20], y[:20]).partial_fit(X[20:], y[20:], G[20:])
    np.testing.assert_allclose(inc.coef_, ref.coef_, rtol=1e-10)
    # the coefficients are usable after every call, and fit is continued
    after_fit = GIRidge(alpha=0.1).fit(X[:20], y[:20]).partial_fit(X[20:], y[20:], G[20:])
    np.testing.assert_allclose(after_fit.coef_, ref.coef_, rtol=1e-10)
    # hyperparameters are applied at solve time
    refit = GIRidge(alpha=3.0).fit(X, y, G)
    inc.set_params(alpha=3.0)
    inc.fit_statistics(inc._statistics)
    np.testing.assert_allclose(inc.coef_, refit.coef_, rtol=1e-10)


def test_partial_fit_consistency_errors(rng):
    X, y, G = _linear_data(rng, n=20, k=2)
    model = GIRidge().partial_fit(X, y, G)
    with pytest.raises(ValueError, match="X has 3 features, but GIRidge is expecting 4"):
        model.partial_fit(X[:, :3], y, G[:, :, :3])
    with pytest.raises(ValueError, match=r"partial_fit got y inconsistent.*2 output\(s\).*1 output"):
        model.partial_fit(X, y[:, :1], G[:, :1])
    with pytest.raises(ValueError, match="2-D.*1-D"):
        model.partial_fit(X, y[:, 0], G[:, 0])
    stats = model.sufficient_statistics(X, y, G)
    with pytest.raises(ValueError, match="Cannot merge statistics of X with 4 and 3 features"):
        stats.merge(GIRidge().sufficient_statistics(X[:, :3], y, G[:, :, :3]))
    with pytest.raises(TypeError, match="Can only merge GIRidgeStatistics"):
        stats.merge(1.0)
    with pytest.raises(TypeError, match="statistics must be GIRidgeStatistics"):
        GIRidge().fit_statistics((X, y))


def test_sufficient_statistics_do_not_change_the_estimator(rng):
    X, y, G = _linear_data(rng, n=20)
    model = GIRidge()
    stats = model.sufficient_statistics(X, y, G)
    assert not hasattr(model, "n_features_in_") and stats.sum_weight == 20.0
    np.testing.assert_allclose(stats.X_mean, X.mean(0))
    np.testing.assert_allclose(stats.gram, (X - X.mean(0)).T @ (X - X.mean(0)))
    fitted = GIRidge().fit(X, y, G)
    np.testing.assert_allclose(GIRidge().fit_statistics(stats).coef_, fitted.coef_, rtol=1e-12)


def test_dask_map_reduce_over_partitions_equals_one_fit(rng):
    dask = pytest.importorskip("dask")
    X, y, G = _linear_data(rng, n=400, d=5, k=2)
    G[rng.uniform(size=G.shape) < 0.2] = np.nan
    w = rng.uniform(0.5, 2.0, size=400)
    model = GIRidge(alpha=0.3)
    partitions = np.array_split(rng.permutation(400), 8)
    # map: one delayed task per partition; reduce: a pairwise tree of merges
    level = [dask.delayed(model.sufficient_statistics)(X[i], y[i], G[i], sample_weight=w[i])
             for i in partitions]
    while len(level) > 1:
        level = [dask.delayed(GIRidgeStatistics.merge)(a, b) for a, b in zip(level[::2], level[1::2])]
    (total,) = dask.compute(level[0], scheduler="threads")
    fitted = clone(model).fit_statistics(total)
    ref = clone(model).fit(X, y, G, sample_weight=w)
    np.testing.assert_allclose(fitted.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(fitted.intercept_, ref.intercept_, rtol=1e-10)


def test_dask_ml_incremental_wrapper_runs_partial_fit_over_blocks(rng):
    pytest.importorskip("dask_ml")
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y, _ = _linear_data(rng, n=300)
    wrapped = Incremental(GIRidge(alpha=0.2), shuffle_blocks=True, random_state=0)
    # dask-ml hands the same fit keyword arguments to every block, so gradients
    # cannot be blocked by it: values only (use sufficient_statistics for gradients)
    wrapped.fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    ref = GIRidge(alpha=0.2).fit(X, y)
    np.testing.assert_allclose(wrapped.estimator_.coef_, ref.coef_, rtol=1e-10)


# ---------------------------------------------------------------- polynomial Jacobians


def _polynomial_case(rng, n=70, d=3, degree=3, k=2, nan_fraction=0.0, right="shared", left=True):
    from sklearn_gi.preprocessing._jacobian_types import PolynomialJacobian

    U = rng.normal(size=(n, d))
    powers = PolynomialFeatures(degree).fit(U).powers_
    scale_in = {"none": None, "shared": rng.uniform(0.5, 2.0, size=d),
                "per_sample": rng.uniform(0.0, 2.0, size=(n, d))}[right]
    scale_out = rng.uniform(0.5, 2.0, size=len(powers)) if left else None
    J = PolynomialJacobian(U, powers, left=scale_out, right=scale_in)
    G = rng.normal(size=(n, k, d))
    G[rng.uniform(size=G.shape) < nan_fraction] = np.nan
    return J, G


@pytest.mark.parametrize("right", ["none", "shared", "per_sample"])
@pytest.mark.parametrize("nan_fraction", [0.0, 0.3])
@pytest.mark.parametrize("weights", [None, "per_output"])
def test_polynomial_gradient_terms_equal_the_dense_rows(rng, monkeypatch, right, nan_fraction, weights):
    J, G = _polynomial_case(rng, nan_fraction=nan_fraction, right=right)
    w = rng.uniform(0.2, 2.0, size=G.shape[0])
    lam = None if weights is None else rng.uniform(0.1, 3.0, size=G.shape[1:])
    monkeypatch.setattr(_normal_equations, "_CHUNK_BYTES", 2048)  # several chunks
    H, r = _normal_equations.gradient_terms(G, J, w, lam)
    H_dense, r_dense = _normal_equations.gradient_terms(G, J.toarray(), w, lam)
    assert H.shape == H_dense.shape
    np.testing.assert_allclose(H, H_dense, rtol=1e-10, atol=1e-12 * np.abs(H_dense).max())
    np.testing.assert_allclose(r, r_dense, rtol=1e-10, atol=1e-12 * np.abs(r_dense).max())


def test_polynomial_jacobian_rows_are_read_in_bounded_chunks(rng, monkeypatch):
    J, G = _polynomial_case(rng, n=500, d=4, degree=3, k=1)
    q = J.derivative_basis()[0].shape[0]
    calls = []
    monomials = J.monomials
    monkeypatch.setattr(J, "monomials", lambda a, b: calls.append(b - a) or monomials(a, b))
    monkeypatch.setattr(J, "rows", lambda a, b: pytest.fail("dense rows were built"))
    monkeypatch.setattr(_normal_equations, "_CHUNK_BYTES", 8 * (2 * q + 2 * 4) * 50)
    _normal_equations.gradient_terms(G, J, np.ones(500))
    assert sum(calls) == 500 and max(calls) <= 256  # _chunk_rows' floor of 256 rows
    monkeypatch.setattr(_normal_equations, "_CHUNK_BYTES", 8 * (2 * q + 2 * 4) * 300)
    calls.clear()
    _normal_equations.gradient_terms(G, J, np.ones(500))
    assert calls == [300, 200]


# ---------------------------------------------------------------- memory guard


def test_memory_guard_refuses_before_allocating(rng):
    import tracemalloc

    from sklearn_gi.utils import MemoryLimitError

    X, y, G = _linear_data(rng, n=20, d=300)
    tracemalloc.start()
    with pytest.raises(MemoryLimitError, match=r"GIRidge needs about 2\.9 MB \(300 x 300 normal "
                       r"equations, 0\.7 MB each: 2 held \(the Gram matrix and 1 gradient matrix\), "
                       r"2 for the solve\), more than the memory limit of 1\.0 MB"):
        GIRidge(memory_limit=1e6).fit(X, y, G)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * 300 * 300  # not even one (p, p) matrix
    try:
        GIRidge(memory_limit=1e6).fit(X, y, G)
    except MemoryLimitError as exc:
        # Gram + 1 gradient matrix held, 2 for the solve, (p, k) vectors
        assert exc.needed == 8 * 300 * 300 * 4 + 8 * 300 * 3 and exc.limit == 10**6
        assert "memory_limit=1.0 MB" in str(exc) and "Use fewer features" in str(exc)
    assert not hasattr(GIRidge(), "coef_")
    model = GIRidge(memory_limit=2.9e6).fit(X, y, G)  # just enough
    assert model.coef_.shape == (300,)
    GIRidge(memory_limit=None).fit(X, y, G)


def test_memory_guard_counts_per_output_matrices_and_merges(rng):
    from sklearn_gi.utils import MemoryLimitError

    X, Y, G = _linear_data(rng, n=20, d=100, k=3)
    G[0, 0, 0] = np.nan  # outputs no longer share H: 3 gradient matrices
    with pytest.raises(MemoryLimitError) as info:
        GIRidge(memory_limit=1e3).fit(X, Y, G)
    assert info.value.needed == 8 * 100 * 100 * (1 + 3 + 2) + 8 * 100 * 3 * 3
    model = GIRidge().partial_fit(X, Y, G)
    model.set_params(memory_limit=8 * 100 * 100 * 9)  # a merge needs (1 + 3) x 2 + 2 = 10
    with pytest.raises(MemoryLimitError, match="x2 for the merge"):
        model.partial_fit(X, Y, G)


def test_degree_5_features_of_20_inputs_are_refused_with_the_figure():
    import tracemalloc

    from sklearn.preprocessing import StandardScaler

    from sklearn_gi.pipeline import make_gi_pipeline
    from sklearn_gi.utils import MemoryLimitError

    rng = np.random.default_rng(0)
    X = 1.0 + 0.2 * rng.normal(size=(256, 20))
    model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(5), GIRidge())
    tracemalloc.start()
    with pytest.raises(MemoryLimitError, match=r"53130 x 53130 normal equations, 22\.6 GB each.*"
                       r"plus 108\.8 MB for the features\)") as info:
        model.fit(X, X.sum(axis=1), np.ones((256, 20)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 256 * 53130 * 8 / 2  # refused before the pipeline built the (256, 53130) features
    assert info.value.needed > 4 * 22.58e9 and info.value.limit <= 8 * 2**30


# ---------------------------------------------------------------- partial weights


def _noisy_polynomial_data(rng, n=150, d=3):
    X = rng.normal(size=(n, d)) * [1.0, 10.0, 0.1]
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=n)
    G = np.c_[np.cos(X[:, 0]), X[:, 2], X[:, 1]] + rng.normal(size=(n, d)) * [0.3, 0.03, 3.0]
    return X, y, G


def test_rms_weights_follow_their_definition(rng):
    X, y, G = _noisy_polynomial_data(rng)
    sw = rng.uniform(0.5, 2.0, size=len(X))
    G[:5, 1] = np.nan
    model = GIRidge(partial_weights="rms").fit(X, y, G, sample_weight=sw)
    yc = y - np.average(y, weights=sw)
    known = ~np.isnan(G)
    expected = np.average(yc**2, weights=sw) / np.array(
        [np.average(G[known[:, m], m] ** 2, weights=sw[known[:, m]]) for m in range(3)])
    np.testing.assert_allclose(model.partial_weights_, expected[None], rtol=1e-12)
    no_intercept = GIRidge(partial_weights="rms", fit_intercept=False).fit(X, y, G, sample_weight=sw)
    np.testing.assert_allclose(no_intercept.partial_weights_[0, 0],
                               np.average(y**2, weights=sw) / np.average(G[:, 0] ** 2, weights=sw),
                               rtol=1e-12)
    assert GIRidge().fit(X, y, G).partial_weights_ is None


@pytest.mark.parametrize("Est", [GIRidge, GILinearRegression])
def test_rms_equals_the_explicit_array_and_zeros_equal_values_only(rng, Est):
    X, y, G = _noisy_polynomial_data(rng)
    rms = Est(partial_weights="rms").fit(X, y, G)
    explicit = Est(partial_weights=rms.partial_weights_[0]).fit(X, y, G)
    np.testing.assert_allclose(explicit.coef_, rms.coef_, rtol=1e-12)
    zeros = Est(partial_weights=np.zeros(3)).fit(X, y, G)
    values_only = Est().fit(X, y)
    np.testing.assert_allclose(zeros.coef_, values_only.coef_, rtol=1e-10, atol=1e-12)
    assert not np.allclose(rms.coef_, Est().fit(X, y, G).coef_, rtol=1e-3)


def test_rms_makes_the_unpenalised_fit_invariant_to_input_units(rng):
    X, y, G = _noisy_polynomial_data(rng)
    c = np.array([1.0, 1e3, 1e-2])
    for weights, invariant in (("rms", True), (None, False)):
        model = GILinearRegression(partial_weights=weights)
        a = model.fit(X, y, G).predict(X)
        b = clone(model).fit(X * c, y, G / c).predict(X * c)
        assert np.allclose(a, b, rtol=1e-9, atol=1e-9) == invariant


def test_all_zero_and_all_unknown_partials_take_the_largest_weight(rng):
    X, y, G = _noisy_polynomial_data(rng)
    G[:, 0] = 0.0
    G[:, 2] = np.nan
    model = GIRidge(partial_weights="rms").fit(X, y, G)
    lam = model.partial_weights_[0]
    assert np.all(np.isfinite(model.coef_))
    np.testing.assert_allclose(lam, [lam[1], np.var(y) / np.mean(G[:, 1] ** 2), lam[1]], rtol=1e-12)
    G[:] = 0.0  # no partial has a scale: weight 1, as without partial_weights
    np.testing.assert_allclose(GIRidge(partial_weights="rms").fit(X, y, G).coef_,
                               GIRidge().fit(X, y, G).coef_, rtol=1e-12)
    constant = GIRidge(partial_weights="rms").fit(X, np.full(len(X), 2.0), np.ones_like(G))
    np.testing.assert_allclose(constant.partial_weights_, 1.0)  # 1 / E[g^2] with E[g^2] = 1


@pytest.mark.parametrize(
    "weights, match",
    [(np.ones(2), r"partial_weights has shape \(2,\), expected \(n_inputs,\) = \(3,\)"),
     (np.array([1.0, -1.0, 1.0]), "finite and non-negative"),
     (np.array([1.0, np.nan, 1.0]), "finite and non-negative"),
     (np.array(["a", "b", "c"]), "array of non-negative numbers"),
     ("mean", "'partial_weights' parameter of GIRidge must be")],
)
def test_bad_partial_weights_are_clear_errors(rng, weights, match):
    X, y, G = _noisy_polynomial_data(rng)
    with pytest.raises(ValueError, match=match):
        GIRidge(partial_weights=weights).fit(X, y, G)


def test_partial_fit_keeps_the_weights_of_its_first_batch(rng):
    X, y, G = _noisy_polynomial_data(rng)
    model = GIRidge(partial_weights="rms").partial_fit(X[:60], y[:60], G[:60])
    first = model.partial_weights_.copy()
    model.partial_fit(X[60:], y[60:], G[60:])
    np.testing.assert_array_equal(model.partial_weights_, first)
    one_fit = GIRidge(partial_weights=first[0]).fit(X, y, G)
    np.testing.assert_allclose(model.coef_, one_fit.coef_, rtol=1e-10)
    parts = [GIRidge(partial_weights="rms").sufficient_statistics(X[i::2], y[i::2], G[i::2])
             for i in range(2)]
    with pytest.raises(ValueError, match="different partial weights.*pass them as an array"):
        parts[0] + parts[1]


# ---------------------------------------------------------------- bad input stays clean


@pytest.mark.parametrize("Est", [GIRidge, GILinearRegression])
def test_infinite_values_or_partials_name_the_argument(rng, Est):
    X, y, G = _linear_data(rng)
    y_bad, G_bad = y.copy(), G.copy()
    y_bad[2], G_bad[3, 1] = np.inf, -np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        Est(partial_weights="rms").fit(X, y_bad, G)
    with pytest.raises(ValueError, match="dYdX.*infinity"):
        Est(partial_weights="rms").fit(X, y, G_bad)


def test_all_zero_partials_and_constant_columns_fit_cleanly(rng):
    X, y, G = _linear_data(rng)
    X[:, 2] = 3.0  # a constant column
    for weights in (None, "rms"):
        model = GIRidge(alpha=1e-3, partial_weights=weights).fit(X, y, np.zeros_like(G))
        assert np.all(np.isfinite(model.coef_)) and np.all(np.isfinite(model.predict(X)))
    # zero partials are data: with a huge gradient weight the slope is pinned at 0
    flat = GIRidge(alpha=1e-3, gradient_weight=1e8).fit(X, y, np.zeros_like(G))
    np.testing.assert_allclose(flat.coef_, 0.0, atol=1e-6)
