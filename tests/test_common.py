"""scikit-learn's estimator checks, and the package's GI checks, over every estimator."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.pipeline import make_gi_pipeline
from sklearn_gi.utils.estimator_checks import parametrize_with_gi_checks


def _all_estimators():
    # a small network and budget keeps the checks fast
    return [
        GIRidge(),
        GILinearRegression(),
        RidgeGradient(),
        GIMLPRegressor(hidden_layer_sizes=(8,), max_iter=40, random_state=0),
        make_gi_pipeline(StandardScaler(), GIRidge()),
        GITransformedTargetRegressor(GIRidge(), transformer=StandardScaler()),
        GIGaussianProcessRegressor(),
        make_gi_pipeline(StandardScaler(), GIGaussianProcessRegressor()),
        GIKernelRidge(),
    ]


def _expected_failures(estimator):
    if hasattr(estimator, "steps"):
        # A Pipeline fits its steps in place, like scikit-learn's own Pipeline
        # (which these checks skip for the same reason).
        reason = "a Pipeline fits the step estimators it holds in place"
        return {"check_estimators_overwrite_params": reason,
                "check_dont_overwrite_parameters": reason}
    return {}


@parametrize_with_checks(_all_estimators(), expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


GI_ESTIMATORS = [
    GIRidge(alpha=1e-6),
    GILinearRegression(),
    RidgeGradient(alpha=1e-6),
    GIMLPRegressor(hidden_layer_sizes=(16,), max_iter=100, random_state=0),
    make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-6)),
    GITransformedTargetRegressor(GIRidge(alpha=1e-6), transformer=StandardScaler()),
    GIGaussianProcessRegressor(random_state=0),
    make_gi_pipeline(StandardScaler(), GIGaussianProcessRegressor(random_state=0)),
    GIKernelRidge(alpha=1e-6),
]


@parametrize_with_gi_checks(GI_ESTIMATORS)
def test_gi_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", _all_estimators(), ids=lambda e: type(e).__name__)
def test_gradients_are_requested_by_default(estimator):
    # meta-estimators route to the GI estimator they hold
    inner = getattr(estimator, "regressor", None) or getattr(estimator, "steps", [[None, estimator]])[-1][1]
    requests = inner.get_metadata_routing().fit.requests
    assert requests["dYdX"] is True and requests["dZdX"] is True
