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
from sklearn.utils.validation import has_fit_parameter

__all__ = [
    "GI_CHECKS",
    "check_chain_rule",
    "check_column_permutation",
    "check_fitted_pickle",
    "check_fold_slicing",
    "check_gi_estimator",
    "check_gradient_shapes",
    "check_gradients_are_used",
    "check_named_gradients_are_aligned",
    "check_nan_partial_drops_equation",
    "check_row_permutation",
    "check_sample_weight_equals_duplication",
    "invariance_tolerance",
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


# ------------------------------------------------------------ invariances
#: Relative tolerance of the invariance checks for exact (closed-form or
#: deterministically optimised) estimators: they agree up to rounding.
EXACT_RTOL = 1e-6
#: ... and for estimators trained by an iterative, non-convex optimizer (those
#: with a ``max_iter`` parameter, e.g. networks): a permutation changes the
#: initial weights and the summation order, so only the trained function, not
#: the weights, is invariant, to within this fraction of the targets' scale.
ITERATIVE_RTOL = 0.1
#: ... and for estimators whose hyperparameters come from a numerical
#: likelihood search (an ``optimizer`` parameter that is not None, e.g.
#: Gaussian processes): the search stops within its tolerance of the optimum,
#: at a point that rounding in a permuted system moves slightly.
SEARCHED_RTOL = 1e-4


def invariance_tolerance(estimator):
    """Relative tolerance of the invariance checks for ``estimator``.

    :data:`EXACT_RTOL` for estimators whose fit is a closed form or a
    deterministic convex optimum, :data:`SEARCHED_RTOL` for those that choose
    hyperparameters by a numerical search (an ``optimizer`` that is not None),
    :data:`ITERATIVE_RTOL` for those with a ``max_iter`` parameter (anywhere in
    a meta-estimator): iterative training is invariant only approximately.
    """
    params = estimator.get_params(deep=True)
    if any(name == "max_iter" or name.endswith("__max_iter") for name in params):
        return ITERATIVE_RTOL
    if any((name == "optimizer" or name.endswith("__optimizer")) and value is not None
           for name, value in params.items()):
        return SEARCHED_RTOL
    return EXACT_RTOL


def _evaluation_points(estimator, X, X_new):
    """Where invariances are compared: the training points only for iteratively trained
    estimators (only the fitted function there is invariant), new points as well otherwise."""
    return X if invariance_tolerance(estimator) >= ITERATIVE_RTOL else np.vstack([X, X_new])


def _assert_same(actual, expected, estimator, what):
    rtol = invariance_tolerance(estimator)
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale,
                               err_msg=f"{type(estimator).__name__}: {what}")


def _fixed_hyperparameters(estimator):
    """``estimator`` with hyperparameter optimization off (``optimizer=None`` wherever it is a
    parameter): adding or removing equations changes a marginal likelihood, not a fixed kernel's
    solution."""
    estimator = clone(estimator)
    names = [name for name in estimator.get_params(deep=True)
             if name == "optimizer" or name.endswith("__optimizer")]
    return estimator.set_params(**{name: None for name in names})


def check_column_permutation(estimator):
    """Permuting the columns of ``X`` together with the last axis of ``dYdX`` permutes the
    model: the same predictions, gradients permuted alike (and ``coef_``, when present).

    Exact up to rounding for closed-form models; within :func:`invariance_tolerance` for
    iterative ones, evaluated at the training points.
    """
    X, y, G = _data(n=12)
    X_new = _data(n=8, seed=1)[0]
    perm = np.array([2, 0, 1])
    plain = clone(estimator).fit(X, y, dYdX=G)
    permuted = clone(estimator).fit(X[:, perm], y, dYdX=G[:, perm])
    points = _evaluation_points(estimator, X, X_new)
    _assert_same(permuted.predict(points[:, perm]), plain.predict(points), estimator,
                 "predictions change when the columns are permuted")
    _assert_same(permuted.predict_gradient(points[:, perm]),
                 plain.predict_gradient(points)[..., perm], estimator,
                 "gradients are not permuted with the columns")
    if hasattr(plain, "coef_"):
        _assert_same(permuted.coef_, np.asarray(plain.coef_)[..., perm], estimator,
                     "coef_ is not permuted with the columns")


def check_row_permutation(estimator):
    """Permuting the rows of ``X``, ``y`` and ``dYdX`` together changes nothing.

    Exact up to rounding for closed-form models; within :func:`invariance_tolerance` for
    iterative ones (the summation order changes).
    """
    X, y, G = _data(n=12)
    X_new = _data(n=8, seed=1)[0]
    perm = np.random.default_rng(0).permutation(len(X))
    plain = clone(estimator).fit(X, y, dYdX=G)
    permuted = clone(estimator).fit(X[perm], y[perm], dYdX=G[perm])
    points = _evaluation_points(estimator, X, X_new)
    _assert_same(permuted.predict(points), plain.predict(points), estimator,
                 "predictions change when the rows are permuted")
    _assert_same(permuted.predict_gradient(points), plain.predict_gradient(points), estimator,
                 "gradients change when the rows are permuted")


def check_nan_partial_drops_equation(estimator):
    """A NaN partial derivative drops that one equation from the fit.

    Two exact forms, valid for any estimator whose fit minimises a loss over its
    equations (hyperparameter optimization is switched off, see below):

    1. ``dYdX`` entirely NaN equals ``dYdX=None``: no gradient equation is left.
    2. Self-consistency: let ``A`` be fitted with some partials NaN. Fill those
       partials with ``A``'s own predicted partials and refit: ``B``. The filled
       equations have zero residual at ``A``, so ``A`` also minimises ``B``'s loss,
       and ``B`` equals ``A`` (when the minimiser is unique). Were the NaN partials
       not dropped (e.g. read as 0), ``A`` would not be a fixed point. For a
       two-stage model with a separate gradient model (``gradient_coef_``, as in
       RidgeGradient), that model's partials are the ones filled in.

    Kernels with an ``optimizer`` parameter are fitted with ``optimizer=None``: the
    marginal likelihood, unlike a fixed kernel's solution, changes with the number of
    equations. Networks (non-convex) agree within :func:`invariance_tolerance`.
    """
    estimator = _fixed_hyperparameters(estimator)
    X, y, G = _data(n=12)
    X_new = _data(n=8, seed=1)[0]
    points = _evaluation_points(estimator, X, X_new)
    none = clone(estimator).fit(X, y)
    all_nan = clone(estimator).fit(X, y, dYdX=np.full_like(G, np.nan))
    _assert_same(all_nan.predict(points), none.predict(points), estimator,
                 "an all-NaN dYdX does not give the value-only fit")
    _assert_same(all_nan.predict_gradient(points), none.predict_gradient(points), estimator,
                 "an all-NaN dYdX does not give the value-only gradients")

    unknown = [(0, 0), (5, 2), (5, 1), (9, 1)]
    rows, cols = np.array(unknown).T
    G_nan = G.copy()
    G_nan[rows, cols] = np.nan
    A = clone(estimator).fit(X, y, dYdX=G_nan)
    if hasattr(A, "gradient_coef_"):
        own = np.broadcast_to(np.asarray(A.gradient_coef_), G.shape)
    else:
        own = np.asarray(A.predict_gradient(X))
    G_filled = G.copy()
    G_filled[rows, cols] = own[rows, cols]
    B = clone(estimator).fit(X, y, dYdX=G_filled)
    _assert_same(B.predict(points), A.predict(points), estimator,
                 "filling NaN partials with the model's own partials changes the fit: the NaN "
                 "equations were not dropped")
    _assert_same(B.predict_gradient(points), A.predict_gradient(points), estimator,
                 "filling NaN partials with the model's own partials changes the gradients")


def check_sample_weight_equals_duplication(estimator):
    """``sample_weight`` 2 on a row equals that row (value and gradient) duplicated, and
    weight 0 equals the row removed. Only for estimators whose ``fit`` takes
    ``sample_weight``; skipped (passes) for the others."""
    if not has_fit_parameter(estimator, "sample_weight"):
        return
    X, y, G = _data(n=12)
    X_new = _data(n=8, seed=1)[0]
    points = _evaluation_points(estimator, X, X_new)
    weights = np.ones(len(X))
    weights[[1, 6]] = 2.0
    weights[4] = 0.0
    weighted = clone(estimator).fit(X, y, dYdX=G, sample_weight=weights)
    rows = np.r_[[i for i in range(len(X)) if i != 4], 1, 6]
    duplicated = clone(estimator).fit(X[rows], y[rows], dYdX=G[rows])
    _assert_same(weighted.predict(points), duplicated.predict(points), estimator,
                 "weight 2 differs from a duplicated row (or weight 0 from a removed one)")
    _assert_same(weighted.predict_gradient(points), duplicated.predict_gradient(points), estimator,
                 "weight 2 differs from a duplicated row in the gradients")


GI_CHECKS = (
    check_gradient_shapes,
    check_named_gradients_are_aligned,
    check_gradients_are_used,
    check_fold_slicing,
    check_chain_rule,
    check_fitted_pickle,
    check_column_permutation,
    check_row_permutation,
    check_nan_partial_drops_equation,
    check_sample_weight_equals_duplication,
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
