"""GIPipeline: the chain rule through transformers."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import config_context
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_approximation import Nystroem, RBFSampler
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    PolynomialFeatures,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from sklearn.utils import estimator_html_repr

from sklearn_gi.linear_model import GIRidge
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.pipeline import GIPipeline, make_gi_pipeline
from sklearn_gi.preprocessing import GIFunctionTransformer, _jacobian_types, transform_jacobian
from sklearn_gi.preprocessing._jacobian_types import _LazyBase

SCALES = np.array([1.0, 1000.0])


def _quadratic(X):
    x, z = X[:, 0], X[:, 1] / 1000.0
    y = 1.0 + 2 * x - 3 * z + 0.5 * x**2 - x * z + 2 * z**2
    G = np.column_stack([2 + x - z, (-3 - x + 4 * z) / 1000.0])
    return y, G


def test_quadratic_from_four_badly_scaled_samples():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 2)) * SCALES
    y, G = _quadratic(X)
    model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(2), GIRidge(alpha=1e-9))
    model.fit(X, y, G)
    assert model.gradient_mode_ == "jacobian"
    X_test = rng.normal(size=(50, 2)) * SCALES
    y_test, G_test = _quadratic(X_test)
    np.testing.assert_allclose(model.predict(X_test), y_test, atol=1e-6)
    np.testing.assert_allclose(model.predict_gradient(X_test) * SCALES, G_test * SCALES, atol=1e-6)


def test_plain_pipeline_is_silently_wrong_and_gipipeline_is_right():
    rng = np.random.default_rng(0)
    scales = np.array([1.0, 100.0, 0.01])
    coef = np.array([1.0, -2.0, 3.0]) / scales
    X, X_test = rng.normal(size=(4, 3)) * scales, rng.normal(size=(100, 3)) * scales
    G = np.tile(coef, (4, 1))
    plain = make_pipeline(StandardScaler(), GIRidge(alpha=1e-6)).fit(X, X @ coef, giridge__dYdX=G)
    gi = make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-6)).fit(X, X @ coef, G)
    assert gi.gradient_mode_ == "pullback"
    err_plain = np.sqrt(np.mean((plain.predict(X_test) - X_test @ coef) ** 2))
    err_gi = np.sqrt(np.mean((gi.predict(X_test) - X_test @ coef) ** 2))
    assert err_plain > 1.0 and err_gi < 1e-6, (err_plain, err_gi)
    np.testing.assert_allclose(gi.predict_gradient(X_test), np.tile(coef, (100, 1)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["auto", "pullback", "jacobian"])
def test_gradient_modes_agree_on_exact_data(mode):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(3, 2)) * SCALES
    coef = np.array([2.0, -0.001])
    model = make_gi_pipeline(StandardScaler(), PCA(2), GIRidge(alpha=1e-10), gradient_mode=mode)
    model.fit(X, X @ coef + 1, np.tile(coef, (3, 1)))
    assert model.gradient_mode_ == ("jacobian" if mode == "jacobian" else "pullback")
    np.testing.assert_allclose(model.predict_gradient(X), np.tile(coef, (3, 1)), rtol=1e-6)


def test_pullback_needs_an_invertible_square_jacobian():
    X = np.random.default_rng(0).normal(size=(5, 2))
    model = make_gi_pipeline(PolynomialFeatures(2), GIRidge(), gradient_mode="pullback")
    with pytest.raises(ValueError, match="square, invertible Jacobian.*6 x 2"):
        model.fit(X, X.sum(axis=1), np.ones((5, 2)))
    # clipping zeroes the Jacobian out of range: auto falls back to dZdX
    clip = make_gi_pipeline(MinMaxScaler(clip=True), GIRidge())
    X_fit = np.vstack([X, [[0.0, 0.0]]])
    assert clip.fit(X_fit, X_fit.sum(axis=1), np.ones((6, 2))).gradient_mode_ == "pullback"


def test_unknown_transformer_fails_before_fitting_anything():
    X = np.random.default_rng(0).normal(size=(6, 2))
    quantile = QuantileTransformer(n_quantiles=6)
    scaler = StandardScaler()
    model = make_gi_pipeline(scaler, quantile, GIRidge())
    with pytest.raises(TypeError, match="QuantileTransformer has no known Jacobian.*Supported"):
        model.fit(X, X.sum(axis=1), np.ones((6, 2)))
    assert not hasattr(scaler, "scale_") and not hasattr(quantile, "quantiles_")
    # values only: a plain Pipeline, any transformer
    model.fit(X, X.sum(axis=1))
    with pytest.raises(TypeError, match="QuantileTransformer has no known Jacobian"):
        model.predict_gradient(X)


def test_without_gradients_it_is_a_plain_pipeline():
    X = np.random.default_rng(0).normal(size=(10, 2))
    y = X.sum(axis=1) ** 2
    gi = make_gi_pipeline(PolynomialFeatures(2), GIRidge(alpha=0.1)).fit(X, y)
    plain = make_pipeline(PolynomialFeatures(2), GIRidge(alpha=0.1)).fit(X, y)
    np.testing.assert_allclose(gi.predict(X), plain.predict(X))


def test_predict_gradient_matches_finite_differences_through_splines_and_functions():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2, size=(30, 2))
    y = np.sin(3 * X[:, 0]) * np.log(X[:, 1])
    G = np.column_stack([3 * np.cos(3 * X[:, 0]) * np.log(X[:, 1]), np.sin(3 * X[:, 0]) / X[:, 1]])
    model = make_gi_pipeline(GIFunctionTransformer(np.log, np.exp, derivative=lambda X: 1 / X),
                             SplineTransformer(n_knots=5), GIRidge(alpha=1e-6))
    model.fit(X, y, G)
    grad = model.predict_gradient(X[:5])
    eps = 1e-6
    for m in range(2):
        step = np.zeros(2)
        step[m] = eps
        fd = (model.predict(X[:5] + step) - model.predict(X[:5] - step)) / (2 * eps)
        np.testing.assert_allclose(grad[:, m], fd, rtol=1e-5, atol=1e-7)


def test_mlp_in_pipelines_both_modes():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 2)) * SCALES
    y = np.sin(2 * X[:, 0]) + np.cos(2 * X[:, 1] / 1000)
    G = np.column_stack([2 * np.cos(2 * X[:, 0]), -2 * np.sin(2 * X[:, 1] / 1000) / 1000])
    X_test = rng.uniform(-1, 1, (300, 2)) * SCALES
    y_test = np.sin(2 * X_test[:, 0]) + np.cos(2 * X_test[:, 1] / 1000)
    kw = dict(hidden_layer_sizes=(16, 16), max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pulled = make_gi_pipeline(MinMaxScaler(), GIMLPRegressor(**kw)).fit(X, y, G)
        chained = make_gi_pipeline(PCA(2), GIMLPRegressor(**kw), gradient_mode="jacobian").fit(X, y, G)
        values = make_gi_pipeline(MinMaxScaler(), GIMLPRegressor(**kw)).fit(X, y)
    errors = [np.sqrt(np.mean((m.predict(X_test) - y_test) ** 2)) for m in (pulled, chained, values)]
    assert pulled.gradient_mode_ == "pullback" and chained.gradient_mode_ == "jacobian"
    assert max(errors[:2]) < 0.5 * errors[2], errors
    assert pulled.predict_gradient(X_test[:3]).shape == (3, 2)


@pytest.mark.parametrize("routing", [False, True])
def test_grid_search_over_pipeline_parameters(routing):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2)) * SCALES  # 4 training rows per fold: values alone cannot fit
    y, G = _quadratic(X)
    pipe = make_gi_pipeline(StandardScaler(), PolynomialFeatures(), GIRidge(alpha=1e-9))
    grid = {"polynomialfeatures__degree": [1, 2, 3], "giridge__gradient_weight": [0.0, 1.0]}
    with config_context(enable_metadata_routing=routing):
        search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0),
                              scoring="neg_mean_squared_error").fit(X, y, dYdX=G)
    assert search.best_params_["polynomialfeatures__degree"] >= 2
    assert search.best_params_["giridge__gradient_weight"] == 1.0
    assert search.best_score_ > -1e-10
    without = search.cv_results_["mean_test_score"][
        [p["giridge__gradient_weight"] == 0.0 and p["polynomialfeatures__degree"] == 2
         for p in search.cv_results_["params"]]]
    assert without[0] < -1e-3  # the same pipeline on values alone


def test_step_parameters_and_final_step_checks():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y, G = X.sum(axis=1), np.ones((6, 2))
    weights = np.array([0, 1, 1, 1, 1, 1.0])
    model = make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-9))
    model.fit(X, y, G, giridge__sample_weight=weights)
    with pytest.raises(ValueError, match="does not accept the sample_weight parameter"):
        model.fit(X, y, G, sample_weight=weights)
    with pytest.raises(ValueError, match="final step 'ridge' .* does not take dYdX"):
        make_gi_pipeline(StandardScaler(), Ridge()).fit(X, y, G)
    with pytest.raises(ValueError, match=r"expected \(n_samples, n_features\) = \(6, 2\)"):
        model.fit(X, y, np.ones((6, 3)))
    with pytest.raises(ValueError, match="transform_input .* not supported when fitting with dYdX"):
        make_gi_pipeline(StandardScaler(), GIRidge(), transform_input=["dYdX"]).fit(X, y, G)
    with pytest.warns(UserWarning, match="does not cache"):
        make_gi_pipeline(StandardScaler(), GIRidge(), memory="/tmp/gi-cache").fit(X, y, G)


def test_dataframes_keep_feature_names_and_column_transformer():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(8, 3)) * [1, 10, 100], columns=["a", "b", "c"])
    coef = np.array([1.0, 0.5, -0.01])
    y, G = X.to_numpy() @ coef, np.tile(coef, (8, 1))
    ct = ColumnTransformer([("scale", StandardScaler(), ["a", "c"])], remainder="passthrough")
    model = make_gi_pipeline(ct, GIRidge(alpha=1e-9)).fit(X, y, G)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    assert list(model[:-1].get_feature_names_out()) == ["scale__a", "scale__c", "remainder__b"]
    np.testing.assert_allclose(model.predict_gradient(X), G, rtol=1e-6)
    assert "GIPipeline" in estimator_html_repr(model)


def test_three_dimensional_gradients_multi_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 2)) * SCALES
    W = np.array([[1.0, 2.0], [0.001, -0.002]])
    Y, G = X @ W, np.broadcast_to(W.T, (5, 2, 2)).copy()
    model = make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-10)).fit(X, Y, G)
    np.testing.assert_allclose(model.predict_gradient(X), G, rtol=1e-6)
    assert isinstance(model, GIPipeline)


# ---------------------------------------------------------------- kernel feature maps


@pytest.mark.parametrize(
    "feature_map",
    [RBFSampler(n_components=40, random_state=0), Nystroem(n_components=30, random_state=0),
     Nystroem(kernel="poly", degree=2, n_components=8, random_state=0)],
    ids=["rff", "nystroem_rbf", "nystroem_poly"],
)
def test_kernel_feature_maps_fit_lazily_and_exactly(monkeypatch, feature_map):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1]
    y = np.sin(X[:, 0]) + np.cos(X[:, 1] / 10) * X[:, 2] * 10
    G = np.column_stack([np.cos(X[:, 0]), -np.sin(X[:, 1] / 10) * X[:, 2], np.cos(X[:, 1] / 10) * 10])
    G[rng.uniform(size=G.shape) < 0.2] = np.nan
    sw = rng.uniform(0.5, 2.0, size=len(X))
    model = make_gi_pipeline(StandardScaler(), feature_map, GIRidge(alpha=1e-3))
    with monkeypatch.context() as patch:
        def refuse(self):
            raise AssertionError("a lazy Jacobian was materialised")

        patch.setattr(_LazyBase, "toarray", refuse)
        model.fit(X, y, G, giridge__sample_weight=sw)
        gradient = model.predict_gradient(X[:7])
    assert model.gradient_mode_ == "jacobian"
    scaler, fitted_map = model[0], model[1]
    Xs = scaler.transform(X)
    J = transform_jacobian(fitted_map, Xs) / scaler.scale_  # dense (n, p, d), the reference
    ref = GIRidge(alpha=1e-3).fit(fitted_map.transform(Xs), y, G, dZdX=J, sample_weight=sw)
    np.testing.assert_allclose(model[-1].coef_, ref.coef_, rtol=1e-8, atol=1e-10 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(gradient, ref.coef_ @ J[:7], rtol=1e-8, atol=1e-10)


def test_random_features_predict_gradient_in_chunks_matches_finite_differences(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 2))
    y, G = np.sin(X).sum(axis=1), np.cos(X)
    model = make_gi_pipeline(StandardScaler(), RBFSampler(n_components=100, random_state=0),
                             GIRidge(alpha=1e-6)).fit(X, y, G)
    whole = model.predict_gradient(X)
    monkeypatch.setattr(_jacobian_types, "_CHUNK_BYTES", 8 * 100 * 4 * 20)  # 20-row chunks
    assert len(_jacobian_types.chunk_slices(300, 8 * 100 * 4)) == 15
    np.testing.assert_allclose(model.predict_gradient(X), whole, rtol=1e-12, atol=1e-12)
    eps = 1e-6
    fd = np.column_stack([(model.predict(X + e) - model.predict(X - e)) / (2 * eps) for e in eps * np.eye(2)])
    np.testing.assert_allclose(whole, fd, atol=1e-6)
    assert np.sqrt(np.mean((whole - G) ** 2)) < 0.05  # and it learnt the gradient


def test_random_features_never_hold_the_per_sample_jacobians():
    import tracemalloc

    rng = np.random.default_rng(0)
    n, p, d = 4000, 300, 8
    X = rng.normal(size=(n, d))
    y, G = np.sin(X).sum(axis=1), np.cos(X)
    model = make_gi_pipeline(StandardScaler(), RBFSampler(n_components=p, random_state=0), GIRidge())
    tracemalloc.start()
    model.fit(X, y, G)
    model.predict_gradient(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    jacobian_bytes = n * p * d * 8  # 77 MB
    # Z (n, p) is 9.6 MB, model gradients and chunks a few MB more
    assert peak < jacobian_bytes / 3, peak / 2**20


# ---------------------------------------------------------------- polynomial features at scale


def _smooth_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = 1.0 + 0.3 * rng.normal(size=(n, d)) * np.linspace(1.0, 100.0, d)
    y = np.sin(X / np.linspace(1.0, 100.0, d)).sum(axis=1) + 0.05 * rng.normal(size=n)
    G = np.cos(X / np.linspace(1.0, 100.0, d)) / np.linspace(1.0, 100.0, d)
    return X, y, G + 0.05 * rng.normal(size=G.shape) / np.linspace(1.0, 100.0, d)


@pytest.mark.parametrize("scaler_after", [False, True])
@pytest.mark.parametrize("weights", [None, "rms"])
def test_polynomial_features_fit_lazily_and_equal_the_dense_jacobian(monkeypatch, scaler_after, weights):
    X, y, G = _smooth_data(120, 3)
    G[np.random.default_rng(1).uniform(size=G.shape) < 0.2] = np.nan
    steps = [StandardScaler(), PolynomialFeatures(3)] + ([StandardScaler()] if scaler_after else [])
    model = make_gi_pipeline(*steps, GIRidge(alpha=1e-4, partial_weights=weights))
    with monkeypatch.context() as patch:
        patch.setattr(_LazyBase, "toarray", lambda self: pytest.fail("the Jacobian was materialised"))
        model.fit(X, y, G)
        gradient = model.predict_gradient(X[:9])
    assert model.gradient_mode_ == "jacobian"
    head = model[:-1]
    Z = head.transform(X)
    J = transform_jacobian(model[1], model[0].transform(X)) / model[0].scale_
    if scaler_after:
        J = J / model[2].scale_[:, None]
    lam = None if weights is None else model[-1].partial_weights_[0]
    ref = GIRidge(alpha=1e-4, partial_weights=lam).fit(Z, y, G, dZdX=J)
    np.testing.assert_allclose(model[-1].coef_, ref.coef_, rtol=1e-10, atol=1e-10 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(gradient, ref.coef_ @ J[:9], rtol=1e-10, atol=1e-12)


def test_polynomial_features_never_hold_the_per_sample_jacobians():
    import tracemalloc

    n, d = 4000, 6
    X, y, G = _smooth_data(n, d)
    model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(4), GIRidge(alpha=1e-3))
    tracemalloc.start()
    model.fit(X, y, G)
    model.predict_gradient(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    p = model[-1].n_features_in_  # 210
    jacobian_bytes = n * p * d * 8  # 40 MB
    # Z (n, p) is 6.7 MB, (p, p) matrices 0.35 MB, chunks a few MB
    assert peak < jacobian_bytes / 2.5, peak / 2**20


# ---------------------------------------------------------------- partial weights


def test_partial_weights_are_per_input_of_the_pipeline():
    X, y, G = _smooth_data(200, 3)
    c = np.array([1.0, 1e3, 1e-2])

    def fit(X, G, weights, mode="auto"):
        return make_gi_pipeline(StandardScaler(), PolynomialFeatures(3),
                                GIRidge(alpha=1e-3, partial_weights=weights),
                                gradient_mode=mode).fit(X, y, G)

    rms = fit(X, G, "rms")
    np.testing.assert_allclose(
        rms[-1].partial_weights_[0], np.var(y) / np.mean(G**2, axis=0), rtol=1e-12)  # raw inputs
    np.testing.assert_allclose(fit(X, G, rms[-1].partial_weights_[0]).predict(X), rms.predict(X),
                               rtol=1e-12)
    # the scaler removes the units from the values, "rms" from the partials
    np.testing.assert_allclose(fit(X * c, G / c, "rms").predict(X * c), rms.predict(X), rtol=1e-9)
    plain = fit(X, G, None).predict(X)
    assert np.abs(fit(X * c, G / c, None).predict(X * c) - plain).max() > 1e-3
    values_only = make_gi_pipeline(StandardScaler(), PolynomialFeatures(3), GIRidge(alpha=1e-3)).fit(X, y)
    np.testing.assert_allclose(fit(X, G, np.zeros(3)).predict(X), values_only.predict(X), rtol=1e-10)


def test_partial_weights_through_a_square_jacobian_use_the_inputs():
    X, y, G = _smooth_data(60, 2)
    weights = np.array([1.0, 50.0])
    model = make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-2, partial_weights=weights)).fit(X, y, G)
    assert model.gradient_mode_ == "jacobian"  # not pulled back to per-feature gradients
    scale = model[0].scale_
    # raw-input loss: sum_m w_m (df/dx_m - g_m)^2 with df/dx = coef / scale
    ref = GIRidge(alpha=1e-2, partial_weights=weights).fit(model[0].transform(X), y, G,
                                                           dZdX=np.diag(1 / scale))
    np.testing.assert_allclose(model[-1].coef_, ref.coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="partial_weights weight the pipeline's inputs"):
        make_gi_pipeline(StandardScaler(), GIRidge(partial_weights="rms"),
                         gradient_mode="pullback").fit(X, y, G)


# ---------------------------------------------------------------- bad input


def test_bad_values_and_partials_are_clean_errors_or_clean_fits():
    X, y, G = _smooth_data(50, 3)
    model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(2), GIRidge(partial_weights="rms"))
    for bad, where, match in ((np.inf, "y", "y contains infinity"), (np.nan, "y", "y contains NaN"),
                              (np.inf, "G", "dYdX contains infinity")):
        y_bad, G_bad = y.copy(), G.copy()
        if where == "y":
            y_bad[4] = bad
        else:
            G_bad[4, 1] = bad
        with pytest.raises(ValueError, match=match):
            model.fit(X, y_bad, G_bad)
    G_nan = G.copy()
    G_nan[:, 1] = np.nan  # unknown partials: left out
    assert np.all(np.isfinite(model.fit(X, y, G_nan).predict(X)))
    X_const = X.copy()
    X_const[:, 2] = 7.0  # constant column: the scaler keeps scale 1, no division by zero
    for G_case in (G, np.zeros_like(G)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            fitted = model.fit(X_const, y, G_case)
            assert np.all(np.isfinite(fitted.predict(X_const)))
            assert np.all(np.isfinite(fitted.predict_gradient(X_const)))
            assert np.all(np.isfinite(fitted[-1].partial_weights_))


def test_mlp_partial_weights_auto_leaves_the_gradient_mode_to_the_pipeline():
    # GIMLPRegressor's default partial_weights="auto" is not an explicit per-input
    # weighting: the pipeline pulls back as for None; an explicit "rms" keeps dZdX
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(30, 2))
    y, G = X[:, 0] * X[:, 1], X[:, ::-1].copy()
    kw = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    auto = make_gi_pipeline(StandardScaler(), GIMLPRegressor(**kw)).fit(X, y, G)
    assert auto.gradient_mode_ == "pullback"
    GIPipeline([("scale", StandardScaler()), ("mlp", GIMLPRegressor(**kw))],
               gradient_mode="pullback").fit(X, y, G)
    rms = make_gi_pipeline(StandardScaler(), GIMLPRegressor(partial_weights="rms", **kw)).fit(X, y, G)
    assert rms.gradient_mode_ == "jacobian"
