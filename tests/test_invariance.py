"""The invariance checks catch broken estimators, and hold over many random problems."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GIRidge, RidgeGradient
from sklearn_gi.utils.estimator_checks import (
    check_column_permutation,
    check_nan_partial_drops_equation,
    check_row_permutation,
    check_sample_weight_equals_duplication,
)


class NaNAsZeroRidge(GIRidge):
    """Broken on purpose: reads unknown partials as zero."""

    def fit(self, X, y, dYdX=None, **kwargs):
        if dYdX is not None:
            dYdX = np.nan_to_num(np.asarray(dYdX, dtype=float), nan=0.0)
        return super().fit(X, y, dYdX, **kwargs)


class FirstColumnRidge(GIRidge):
    """Broken on purpose: ignores the gradient of all but the first input."""

    def fit(self, X, y, dYdX=None, **kwargs):
        if dYdX is not None:
            dYdX = np.array(dYdX, dtype=float)
            dYdX[:, 1:] = np.nan
        return super().fit(X, y, dYdX, **kwargs)


class FirstRowsRidge(GIRidge):
    """Broken on purpose: weights the first half of the rows twice, ignores sample_weight."""

    def fit(self, X, y, dYdX=None, sample_weight=None, **kwargs):
        n = len(X)
        return super().fit(X, y, dYdX, sample_weight=np.r_[np.full(n // 2, 2.0), np.ones(n - n // 2)],
                           **kwargs)


@pytest.mark.parametrize("check, broken", [
    (check_nan_partial_drops_equation, NaNAsZeroRidge(alpha=1e-6)),
    (check_column_permutation, FirstColumnRidge(alpha=1e-6)),
    (check_row_permutation, FirstRowsRidge(alpha=1e-6)),
    (check_sample_weight_equals_duplication, FirstRowsRidge(alpha=1e-6)),
])
def test_checks_catch_broken_estimators(check, broken):
    with pytest.raises(AssertionError):
        check(broken)


def _problem(draw_n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(draw_n, d)) * rng.uniform(0.1, 10, d)
    coef = rng.normal(size=d)
    y = X @ coef + np.sin(X[:, 0])
    G = coef + np.outer(np.cos(X[:, 0]), np.eye(d)[0])
    return X, y, G


@settings(max_examples=25, deadline=None, derandomize=True)
@given(n=st.integers(2, 15), d=st.integers(1, 5), seed=st.integers(0, 2**16),
       estimator=st.sampled_from([GIRidge(alpha=1e-3), RidgeGradient(alpha=1e-3),
                                  GIKernelRidge(alpha=1e-3)]),
       data=st.data())
def test_permutation_and_nan_invariances_hold_on_random_problems(n, d, seed, estimator, data):
    X, y, G = _problem(n, d, seed)
    cols = np.array(data.draw(st.permutations(range(d))))
    rows = np.array(data.draw(st.permutations(range(n))))
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n * d, max_size=n * d))).reshape(n, d)
    plain = estimator.fit(X, y, G)
    reference = (plain.predict(X), plain.predict_gradient(X))
    permuted = type(estimator)(**estimator.get_params()).fit(X[rows][:, cols], y[rows], G[rows][:, cols])
    np.testing.assert_allclose(permuted.predict(X[:, cols]), reference[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(permuted.predict_gradient(X[:, cols]), reference[1][:, cols],
                               rtol=1e-6, atol=1e-6)
    # NaN partials: the fit with the model's own partials filled in is a fixed point
    G_nan = np.where(mask, np.nan, G)
    A = type(estimator)(**estimator.get_params()).fit(X, y, G_nan)
    own = np.broadcast_to(A.gradient_coef_, G.shape) if hasattr(A, "gradient_coef_") \
        else A.predict_gradient(X)
    B = type(estimator)(**estimator.get_params()).fit(X, y, np.where(mask, own, G))
    np.testing.assert_allclose(B.predict(X), A.predict(X), rtol=1e-6, atol=1e-6 * max(1, np.abs(y).max()))
