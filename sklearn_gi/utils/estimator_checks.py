"""Checks that a gradient-information (GI) estimator behaves as the package expects.

Third-party GI estimators can run them the way scikit-learn's own checks run::

    from sklearn_gi.utils.estimator_checks import parametrize_with_gi_checks

    @parametrize_with_gi_checks([MyGIRegressor()])
    def test_gi(estimator, check):
        check(estimator)

A GI estimator takes ``fit(X, y, dYdX=None, ...)`` and has
``predict_gradient(X)``. The checks use small seeded data; set a
``random_state`` on stochastic estimators.
"""

import pickle

import numpy as np
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_validate
from sklearn.preprocessing import StandardScaler

__all__ = [
    "GI_CHECKS",
    "check_chain_rule",
    "check_fitted_pickle",
    "check_fold_slicing",
    "check_gi_estimator",
    "check_gradient_shapes",
    "check_gradients_are_used",
    "check_named_gradients_are_aligned",
    "parametrize_with_gi_checks",
]


def _data(n=12, d=3, k=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    W = rng.normal(size=(d, k or 1))
    Y = np.tanh(X @ W) + 0.5 * X @ W
    G = (1 - np.tanh(X @ W) ** 2 + 0.5)[:, :, None] * W.T[None]  # (n, k, d)
    if k is None:
        return X, Y[:, 0], G[:, 0, :]
    return X, Y, G


def check_gradient_shapes(estimator):
    """2-D ``dYdX`` for 1-D ``y``, 3-D for 2-D ``y``; gradients come back in that layout;
    wrong shapes are a ``ValueError`` naming ``dYdX``."""
    X, y, G = _data()
    fitted = clone(estimator).fit(X, y, dYdX=G)
    assert np.shape(fitted.predict_gradient(X)) == G.shape
    X, Y, G3 = _data(k=2)
    fitted = clone(estimator).fit(X, Y, dYdX=G3)
    assert np.shape(fitted.predict_gradient(X)) == G3.shape
    for bad in (G.T, G[:, :2], G[:-1], G3[:, :1, :]):
        target = y if bad.ndim == 2 else Y
        try:
            clone(estimator).fit(X, target, dYdX=bad)
        except ValueError as exc:
            assert "dYdX" in str(exc), f"the error for a bad dYdX does not name it: {exc}"
        else:
            raise AssertionError(f"dYdX of shape {bad.shape} was accepted for y of shape {target.shape}")


def check_gradients_are_used(estimator):
    """With few samples, fitting the gradients changes the model and fits them better."""
    X, y, G = _data(n=4)
    with_g = clone(estimator).fit(X, y, dYdX=G)
    without = clone(estimator).fit(X, y)
    error_with = np.mean((with_g.predict_gradient(X) - G) ** 2)
    error_without = np.mean((without.predict_gradient(X) - G) ** 2)
    assert error_with < error_without, (
        f"gradient error with dYdX {error_with:.3g} is not below {error_without:.3g} without")


def check_fold_slicing(estimator):
    """``cross_validate`` hands each fold exactly its rows of ``dYdX``, routing on and off."""
    X, y, G = _data(n=15)
    X = X.copy()
    X[:, 0] = np.arange(15) / 15  # a row id, still a valid input
    records = []
    base = type(estimator)

    def fit(self, X, y, dYdX=None, **kwargs):
        records.append((np.array(X), None if dYdX is None else np.array(dYdX)))
        return base.fit(self, X, y, dYdX=dYdX, **kwargs)

    recording_class = type("Recording" + base.__name__, (base,), {"fit": fit})
    recording = recording_class(**estimator.get_params(deep=False))
    for routing in (False, True):
        records.clear()
        with config_context(enable_metadata_routing=routing):
            cross_validate(recording, X, y, params={"dYdX": G}, cv=KFold(3))
        assert len(records) == 3
        for X_fold, G_fold in records:
            rows = np.rint(X_fold[:, 0] * 15).astype(int)
            assert G_fold is not None and np.array_equal(G_fold, G[rows]), (
                f"fold gradients are not the fold's rows (routing={routing})")


def check_chain_rule(estimator):
    """Through ``GIPipeline(StandardScaler(), estimator)``, rescaling the inputs (and the
    gradients accordingly) changes nothing: the pipeline pulls the gradients back."""
    from ..pipeline import make_gi_pipeline

    X, y, G = _data()
    scales = np.array([1e-3, 1.0, 1e3])
    plain = make_gi_pipeline(StandardScaler(), clone(estimator)).fit(X, y, G)
    scaled = make_gi_pipeline(StandardScaler(), clone(estimator)).fit(X * scales, y, G / scales)
    np.testing.assert_allclose(scaled.predict(X * scales), plain.predict(X), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(scaled.predict_gradient(X * scales) * scales,
                               plain.predict_gradient(X), rtol=1e-5, atol=1e-8)


def check_fitted_pickle(estimator):
    """A model fitted with gradients survives pickling with identical predictions."""
    X, y, G = _data()
    fitted = clone(estimator).fit(X, y, dYdX=G)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.predict_gradient(X), fitted.predict_gradient(X))


def check_named_gradients_are_aligned(estimator):
    """A ``dYdX`` DataFrame is matched to the columns of ``X`` by name, not position;
    names that do not match are a ``ValueError`` listing them."""
    import pandas as pd

    X, y, G = _data()
    names = ["a", "b", "c"]
    X_frame = pd.DataFrame(X, columns=names)
    reference = clone(estimator).fit(X_frame, y, dYdX=G)
    shuffled = pd.DataFrame(G[:, ::-1], columns=names[::-1])
    aligned = clone(estimator).fit(X_frame, y, dYdX=shuffled)
    np.testing.assert_allclose(aligned.predict_gradient(X_frame), reference.predict_gradient(X_frame),
                               rtol=1e-6, atol=1e-9)
    try:
        clone(estimator).fit(X_frame, y, dYdX=pd.DataFrame(G, columns=["a", "b", "z"]))
    except ValueError as exc:
        assert "'z'" in str(exc) and "'c'" in str(exc), f"the error does not list the names: {exc}"
    else:
        raise AssertionError("a dYdX with a column X does not have was accepted")


GI_CHECKS = (
    check_gradient_shapes,
    check_named_gradients_are_aligned,
    check_gradients_are_used,
    check_fold_slicing,
    check_chain_rule,
    check_fitted_pickle,
)


def check_gi_estimator(estimator):
    """Run every GI check on ``estimator``; raises ``AssertionError`` on the first failure.

    Examples
    --------
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.utils.estimator_checks import check_gi_estimator
    >>> check_gi_estimator(GIRidge(alpha=1e-6))
    """
    for check in GI_CHECKS:
        check(estimator)


def parametrize_with_gi_checks(estimators):
    """``pytest.mark.parametrize`` over (estimator, check) pairs, like scikit-learn's."""
    import pytest

    pairs = [(est, check) for est in estimators for check in GI_CHECKS]
    ids = [f"{type(est).__name__}-{check.__name__}" for est, check in pairs]
    return pytest.mark.parametrize("estimator, check", pairs, ids=ids)
