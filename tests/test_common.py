"""scikit-learn's estimator checks over every estimator of the package."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient
from sklearn_gi.neural_network import GIMLPRegressor

# a small network and budget keeps the checks fast; the checks need no accuracy
ESTIMATORS = [
    GIRidge(),
    GILinearRegression(),
    RidgeGradient(),
    GIMLPRegressor(hidden_layer_sizes=(8,), max_iter=40, random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_gradients_are_requested_by_default(estimator):
    requests = estimator.get_metadata_routing().fit.requests
    assert requests["dYdX"] is True and requests["dZdX"] is True
