"""Finite arithmetic: overflowing inputs and diverging training are clear errors, never NaN models."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.pipeline import make_gi_pipeline
from sklearn_gi.utils import check_finite_scale

ESTIMATORS = [
    GIRidge(),
    GILinearRegression(),
    RidgeGradient(),
    GIMLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0),
    make_gi_pipeline(StandardScaler(), GIRidge()),
    GITransformedTargetRegressor(GIRidge(), transformer=StandardScaler()),
    GIGaussianProcessRegressor(random_state=0),
    make_gi_pipeline(StandardScaler(), GIGaussianProcessRegressor(random_state=0)),
    GIKernelRidge(),
]
IDS = [type(e).__name__ + ("-" + type(e.steps[-1][1]).__name__ if hasattr(e, "steps") else "")
       for e in ESTIMATORS]


def _data(n=30, d=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    return X, np.sin(X).sum(axis=1), np.cos(X)


def _fitted_attributes(estimator):
    return [name for name in vars(estimator) if name.endswith("_") and not name.startswith("__")]


def test_huge_target_is_a_value_error_before_training():
    # the case: one target of 1e300 among thirty
    X, y, G = _data()
    y[7] = 1e300
    model = GIMLPRegressor()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning, no ConvergenceWarning
        with pytest.raises(ValueError, match=r"y has values up to 1e\+300.*overflow float64"):
            model.fit(X, y, G)
    assert _fitted_attributes(model) == []
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_huge_learning_rate_is_a_floating_point_error():
    # the case: Adam at a learning rate of 1e6 used to end at a loss of 3e14
    X, y, G = _data()
    model = GIMLPRegressor(solver="adam", learning_rate_init=1e6, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(FloatingPointError, match=r"learning_rate_init=1e\+06.*too large"):
            model.fit(X, y, G)
    assert _fitted_attributes(model) == []
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_normal_learning_rate_is_not_stopped():
    X, y, G = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GIMLPRegressor((8,), solver="adam", learning_rate_init=1e-2, max_iter=30,
                               random_state=0).fit(X, y, G)
    assert np.all(np.isfinite(model.predict(X)))


@pytest.mark.parametrize("which", ["X", "y", "dYdX"])
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_overflowing_input_is_a_value_error(estimator, which):
    X, y, G = _data(n=10)
    arrays = {"X": X.copy(), "y": y.copy(), "dYdX": G.copy()}
    arrays[which][3] = 1e200  # squares overflow float64
    model = clone(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # raised before any overflow happens
        with pytest.raises(ValueError, match=f"{which} has values up to 1e\\+200"):
            model.fit(arrays["X"], arrays["y"], arrays["dYdX"])
    assert _fitted_attributes(model) == []


_FLOAT64_ONLY = (GIGaussianProcessRegressor, GIKernelRidge, GITransformedTargetRegressor)
_NO_STEPS = [(i, e) for i, e in zip(IDS, ESTIMATORS) if not hasattr(e, "steps")]
_IN_FLOAT32 = [(i, e) for i, e in _NO_STEPS if not isinstance(e, _FLOAT64_ONLY)]
_IN_FLOAT64 = [(i, e) for i, e in _NO_STEPS if isinstance(e, _FLOAT64_ONLY)]


def _float32_data_with_a_large_target():
    X, y, G = _data(n=10)
    X, y, G = X.astype(np.float32), y.astype(np.float32), G.astype(np.float32)
    y[0] = 1e25  # fine in float64, its square overflows float32
    return X, y, G


@pytest.mark.parametrize("estimator", [e for _, e in _IN_FLOAT32], ids=[i for i, _ in _IN_FLOAT32])
def test_float32_scale_is_checked_in_float32(estimator):
    X, y, G = _float32_data_with_a_large_target()
    with pytest.raises(ValueError, match="overflow float32"):
        clone(estimator).fit(X, y, G)


@pytest.mark.parametrize("estimator", [e for _, e in _IN_FLOAT64], ids=[i for i, _ in _IN_FLOAT64])
def test_float64_estimators_take_the_same_float32_data(estimator):
    # the kernel models (and the target transformer) compute in float64, where
    # these values are safe: they fit, and predict finite values
    X, y, G = _float32_data_with_a_large_target()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).fit(X, y, G)
    assert np.all(np.isfinite(model.predict(X)))
    assert np.all(np.isfinite(model.predict_gradient(X)))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=IDS)
def test_large_but_safe_scales_fit_finite_models(estimator):
    X, y, G = _data(n=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).fit(X * 1e100, y * 1e100, G)
    assert np.all(np.isfinite(model.predict(X * 1e100)))
    assert np.all(np.isfinite(model.predict_gradient(X * 1e100)))


@pytest.mark.parametrize("estimator", [e for e in ESTIMATORS if not hasattr(e, "steps")
                                       and not isinstance(e, GITransformedTargetRegressor)],
                         ids=[i for i, e in zip(IDS, ESTIMATORS) if not hasattr(e, "steps")
                              and not isinstance(e, GITransformedTargetRegressor)])
def test_predict_never_returns_nan_for_finite_input(estimator):
    X, y, G = _data(n=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = clone(estimator).fit(X, y, G)
    far = np.full((2, 2), 1e308)
    far[1] = -1e308
    for method in (model.predict, model.predict_gradient):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                out = method(far)
            except ValueError as exc:
                assert "overflow" in str(exc) and "X" in str(exc)
            else:
                assert np.all(np.isfinite(out))


def test_check_finite_scale_rule():
    n = 100
    limit = np.sqrt(np.finfo(np.float64).max / n) / 2
    check_finite_scale(np.full((n, 1), 0.99 * limit))
    with pytest.raises(ValueError, match="X has values"):
        check_finite_scale(np.full((n, 1), 1.01 * limit))
    check_finite_scale(np.ones((3, 1)), None, np.full((3, 1), np.nan))  # NaN partials are skipped
    with pytest.raises(ValueError, match="overflow float32"):
        check_finite_scale(np.full((4, 1), 1e19, dtype=np.float32))
