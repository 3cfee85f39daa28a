import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.preprocessing import GIFunctionTransformer

COEF = np.array([100.0, -200.0, 50.0])


@pytest.fixture
def linear():
    X = np.random.default_rng(0).normal(size=(6, 3))
    return X, X @ COEF + 7.0, np.tile(COEF, (6, 1))


def test_scaled_target_keeps_gradients_consistent(linear):
    X, y, G = linear
    model = GITransformedTargetRegressor(GIRidge(alpha=1e-9), transformer=StandardScaler())
    model.fit(X, y, G)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-8)
    np.testing.assert_allclose(model.predict_gradient(X), G, rtol=1e-8)
    # a plain TransformedTargetRegressor hands the unscaled gradients on
    plain = TransformedTargetRegressor(GIRidge(alpha=1e-9), transformer=StandardScaler())
    plain.fit(X, y, dYdX=G)
    ratio = np.abs(plain.regressor_.coef_ * plain.transformer_.scale_ / COEF).max()
    assert ratio > 10


def test_nonlinear_target_map_with_derivative(linear):
    X, y, G = linear
    y_pos = np.exp(y / 500)  # positive target, log-transformed for the regressor
    G_pos = y_pos[:, None] * G / 500
    log = GIFunctionTransformer(np.log, np.exp, derivative=lambda Y: 1 / Y)
    model = GITransformedTargetRegressor(GIRidge(alpha=1e-9), transformer=log).fit(X, y_pos, G_pos)
    np.testing.assert_allclose(model.regressor_.coef_, COEF / 500, rtol=1e-8)
    np.testing.assert_allclose(model.predict_gradient(X), G_pos, rtol=1e-7)
    funcs = GITransformedTargetRegressor(GIRidge(alpha=1e-9), func=np.log, inverse_func=np.exp,
                                         func_derivative=lambda Y: 1 / Y).fit(X, y_pos, G_pos)
    np.testing.assert_allclose(funcs.predict(X), model.predict(X), rtol=1e-10)


def test_multi_output_and_bad_target_maps(linear):
    X, y, G = linear
    Y = np.column_stack([y, -y / 1000])
    GG = np.stack([G, -G / 1000], axis=1)
    model = GITransformedTargetRegressor(GIRidge(alpha=1e-9), transformer=MinMaxScaler()).fit(X, Y, GG)
    np.testing.assert_allclose(model.predict_gradient(X), GG, rtol=1e-7)
    with pytest.raises(TypeError, match="PCA mixes the outputs"):
        GITransformedTargetRegressor(GIRidge(), transformer=PCA(2)).fit(X, Y, GG)
    with pytest.raises(ValueError, match="func_derivative is required"):
        GITransformedTargetRegressor(GIRidge(), func=np.log1p, inverse_func=np.expm1).fit(X, y, G)
    with pytest.raises(ValueError, match=r"dYdX has shape \(6, 4\)"):
        GITransformedTargetRegressor().fit(X, y, np.ones((6, 4)))


def test_without_gradients_it_is_transformed_target_regressor(linear):
    X, y, _ = linear
    ours = GITransformedTargetRegressor(GIRidge(alpha=1.0), transformer=StandardScaler()).fit(X, y)
    theirs = TransformedTargetRegressor(GIRidge(alpha=1.0), transformer=StandardScaler()).fit(X, y)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X))
