"""Fuzz every public estimator: each call succeeds with finite outputs or raises a clear error.

Random shapes, dtypes, NaN and inf placement, empty and one-row data and mismatched
``dYdX``. Allowed outcomes of ``fit``, ``predict`` and ``predict_gradient``: finite
outputs, or a ``ValueError`` / ``TypeError`` (``NotFittedError`` is a ``ValueError``)
whose message names the offending argument; never an ``IndexError``, ``RuntimeError``,
``LinAlgError`` or other error from inside numpy, scipy or torch.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.pipeline import make_gi_pipeline

ESTIMATORS = {
    "GIRidge": GIRidge(),
    "GILinearRegression": GILinearRegression(),
    "RidgeGradient": RidgeGradient(),
    "GIMLPRegressor": GIMLPRegressor((3,), max_iter=2, random_state=0),
    "GIPipeline-GIRidge": make_gi_pipeline(StandardScaler(), GIRidge()),
    "GITransformedTargetRegressor": GITransformedTargetRegressor(GIRidge(), transformer=StandardScaler()),
    "GIGaussianProcessRegressor": GIGaussianProcessRegressor(optimizer=None),
    "GIPipeline-GIGP": make_gi_pipeline(StandardScaler(), GIGaussianProcessRegressor(optimizer=None)),
    "GIKernelRidge": GIKernelRidge(),
}
# "Complex data not supported" is scikit-learn's own message for X or y
ARGUMENT_WORDS = ("X", "y", "dYdX", "sample", "feature", "array", "fit", "n_samples", "column", "Complex")
MAX_EXAMPLES = 360  # in all, over the estimators


@st.composite
def problems(draw):
    n = draw(st.sampled_from([0, 1, 2, 3, 5]))
    d = draw(st.sampled_from([0, 1, 2, 3]))
    k = draw(st.sampled_from([None, 1, 2]))  # None: 1-D y
    dtype = draw(st.sampled_from(["float64", "float32", "int64", "bool", "object", "complex"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(size=(n, d))
    y = rng.normal(size=(n,) if k is None else (n, k))
    G = rng.normal(size=(n, d) if k is None else (n, k, d))
    for name in ("X", "y", "G"):
        spoil = draw(st.sampled_from(["none", "none", "nan", "inf", "huge"]))
        A = {"X": X, "y": y, "G": G}[name]
        if spoil != "none" and A.size:
            A.flat[draw(st.integers(0, A.size - 1))] = {"nan": np.nan, "inf": np.inf, "huge": 1e250}[spoil]
    shape_error = draw(st.sampled_from(["none", "none", "none", "X1d", "Gtransposed", "Gshort",
                                        "Gnone", "Gwide", "ylong"]))
    if shape_error == "X1d":
        X = X[:, 0] if d else X.ravel()
    elif shape_error == "Gtransposed":
        G = np.swapaxes(G, 0, -1)
    elif shape_error == "Gshort":
        G = G[:-1]
    elif shape_error == "Gnone":
        G = None
    elif shape_error == "Gwide":
        G = np.concatenate([G, G[..., :1]], axis=-1) if G.shape[-1] else np.ones(G.shape[:-1] + (1,))
    elif shape_error == "ylong":
        y = np.concatenate([y, y[:1]]) if len(y) else np.ones((1,) + y.shape[1:])
    if dtype == "object":
        X = X.astype(object)
        if X.size:
            X.flat[0] = "a"
    elif dtype == "complex":
        X = X + 1j
    elif dtype != "float64":
        X = np.nan_to_num(X, posinf=1, neginf=-1).astype(dtype)
    m = draw(st.sampled_from([0, 1, 4]))
    d_test = draw(st.sampled_from([d, d, d + 1]))
    X_test = rng.normal(size=(m, d_test))
    return X, y, G, X_test


def _assert_clear(exc, call):
    if isinstance(exc, (ValueError, TypeError)):
        message = str(exc)
        assert any(word in message for word in ARGUMENT_WORDS), (
            f"{call}: {type(exc).__name__} does not name the argument: {message}")
        return
    raise AssertionError(f"{call} raised {type(exc).__name__}: {exc}") from exc


def _finite(values, call):
    for value in values if isinstance(values, tuple) else (values,):
        value = np.asarray(value)
        assert value.dtype.kind == "f" and np.all(np.isfinite(value)), f"{call} returned non-finite values"


@pytest.mark.parametrize("name", list(ESTIMATORS))
@settings(max_examples=MAX_EXAMPLES // len(ESTIMATORS), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), database=None)
@given(problem=problems())
def test_fuzz(name, problem):
    X, y, G, X_test = problem
    model = clone(ESTIMATORS[name])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.fit(X, y, G)
        except BaseException as exc:  # noqa: B036 - every exception is inspected
            _assert_clear(exc, f"{name}.fit")
            fitted = False
        else:
            fitted = True
        for method in ("predict", "predict_gradient"):
            try:
                out = getattr(model, method)(X_test)
            except BaseException as exc:  # noqa: B036
                _assert_clear(exc, f"{name}.{method}")
            else:
                assert fitted, f"{name}.{method} succeeded on an unfitted model"
                _finite(out, f"{name}.{method}")
