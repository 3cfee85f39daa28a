import numpy as np
import pytest
from sklearn import config_context
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from sklearn_gi.linear_model import GIRidge
from sklearn_gi.metrics import gradient_mean_squared_error, make_gradient_scorer, sobolev_error


def test_gradient_error_masks_unknown_partials():
    true = np.array([[[1.0, np.nan], [2.0, 3.0]]])
    pred = np.array([[[2.0, 50.0], [2.0, 1.0]]])
    assert gradient_mean_squared_error(true, pred) == pytest.approx((1 + 0 + 4) / 3)
    assert sobolev_error([1.0], [3.0], true[:, 0, :1], pred[:, 0, :1], gradient_weight=2) == 6.0
    with pytest.raises(ValueError, match=r"different shapes: \(1, 2, 2\) and \(1, 2\)"):
        gradient_mean_squared_error(true, pred[:, 0])
    with pytest.raises(ValueError, match="no known"):
        gradient_mean_squared_error([[np.nan]], [[1.0]])
    with pytest.raises(ValueError, match="dYdX_pred contains NaN"):
        gradient_mean_squared_error([[1.0]], [[np.nan]])


def test_scorer_receives_the_test_fold_gradients_and_selects_on_them():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    coef = np.array([1.0, -2.0, 0.5])
    y = X @ coef + 0.3 * rng.normal(size=30)  # noisy values, exact gradients
    G = np.tile(coef, (30, 1))
    scorer = make_gradient_scorer("gradient_mse")
    received = []

    class Recording(type(scorer)):
        def __call__(self, estimator, X_test, y_test, dYdX=None, **kw):
            received.append((X_test, dYdX))
            return super().__call__(estimator, X_test, y_test, dYdX=dYdX)

    recording = Recording("gradient_mse")
    with config_context(enable_metadata_routing=True):
        cross_val_score(GIRidge(), X, y, params={"dYdX": G}, scoring=recording, cv=KFold(3))
        search = GridSearchCV(GIRidge(alpha=1e-6), {"gradient_weight": [0.0, 10.0]},
                              scoring=scorer, cv=KFold(3)).fit(X, y, dYdX=G)
    for X_test, dYdX in received:
        rows = [np.flatnonzero((X == row).all(axis=1))[0] for row in X_test]
        np.testing.assert_array_equal(dYdX, G[rows])
    assert len(received) == 3
    assert search.best_params_ == {"gradient_weight": 10.0}
    assert search.best_score_ > -1e-3


def test_scorer_without_routing_says_what_to_do():
    X = np.random.default_rng(0).normal(size=(12, 2))
    with pytest.raises(ValueError, match="enable metadata routing"):
        cross_val_score(GIRidge(), X, X.sum(axis=1), scoring=make_gradient_scorer(), cv=3,
                        error_score="raise")
    with pytest.raises(ValueError, match="metric must be"):
        make_gradient_scorer("r2")
