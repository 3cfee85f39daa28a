"""dYdX reaches every scikit-learn CV tool, sliced to each fold's rows, routing on and off."""

import numpy as np
import pytest
from sklearn import config_context
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    KFold,
    RandomizedSearchCV,
    cross_val_predict,
    cross_validate,
    learning_curve,
    validation_curve,
)

from sklearn_gi.linear_model import GIRidge

RECORDS = []


class RecordingGIRidge(GIRidge):
    """GIRidge that records the rows and gradients each fit receives."""

    def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        RECORDS.append((np.array(X), None if dYdX is None else np.array(dYdX)))
        return super().fit(X, y, dYdX, dZdX=dZdX, sample_weight=sample_weight)


def _data(three_d):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    X[:, 0] = np.arange(30)  # row id
    if three_d:
        W = rng.normal(size=(3, 2))
        return X, X @ W, np.broadcast_to(W.T, (30, 2, 3)) + rng.normal(size=(30, 2, 3))
    return X, X @ [1.0, 2.0, 3.0], rng.normal(size=(30, 3))


CV = KFold(3, shuffle=True, random_state=0)
GRID = {"alpha": [0.1, 1.0]}
CALLS = {
    "GridSearchCV": lambda est, X, y, G: GridSearchCV(est, GRID, cv=CV).fit(X, y, dYdX=G),
    "RandomizedSearchCV": lambda est, X, y, G: RandomizedSearchCV(
        est, GRID, n_iter=2, cv=CV, random_state=0).fit(X, y, dYdX=G),
    "HalvingGridSearchCV": lambda est, X, y, G: HalvingGridSearchCV(
        est, GRID, cv=CV, min_resources=15, random_state=0).fit(X, y, dYdX=G),
    "cross_validate": lambda est, X, y, G: cross_validate(est, X, y, params={"dYdX": G}, cv=CV),
    "cross_val_predict": lambda est, X, y, G: cross_val_predict(est, X, y, params={"dYdX": G}, cv=CV),
    "learning_curve": lambda est, X, y, G: learning_curve(
        est, X, y, params={"dYdX": G}, cv=CV, train_sizes=[0.5, 1.0]),
    "validation_curve": lambda est, X, y, G: validation_curve(
        est, X, y, param_name="alpha", param_range=[0.1, 1.0], params={"dYdX": G}, cv=CV),
}


@pytest.mark.parametrize("routing", [False, True], ids=["routing-off", "routing-on"])
@pytest.mark.parametrize("three_d", [False, True], ids=["2-D", "3-D"])
@pytest.mark.parametrize("call", list(CALLS))
def test_every_fold_receives_exactly_its_rows(call, three_d, routing):
    X, y, G = _data(three_d)
    RECORDS.clear()
    with config_context(enable_metadata_routing=routing):
        CALLS[call](RecordingGIRidge(), X, y, G)
    assert len(RECORDS) >= 2
    for X_fold, G_fold in RECORDS:
        rows = X_fold[:, 0].astype(int)
        assert G_fold is not None, "a fit received no dYdX"
        np.testing.assert_array_equal(G_fold, G[rows])
    assert any(len(X_fold) < 30 for X_fold, _ in RECORDS)  # really folds, not the whole set
