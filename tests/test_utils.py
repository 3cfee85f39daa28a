import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sklearn_gi.utils import check_feature_jacobian, check_gradient_targets


@given(n=st.integers(1, 6), k=st.integers(1, 4), d=st.integers(1, 5), y_ndim=st.sampled_from([1, 2]))
def test_accepts_exactly_the_expected_shape(n, k, d, y_ndim):
    k = 1 if y_ndim == 1 else k
    shape = (n, d) if y_ndim == 1 else (n, k, d)
    G = np.arange(np.prod(shape), dtype=float).reshape(shape)
    out = check_gradient_targets(G, n_samples=n, n_outputs=k, n_features=d, y_ndim=y_ndim)
    assert out.shape == (n, k, d)
    np.testing.assert_array_equal(out.reshape(shape), G)
    wrong = np.zeros(shape[:-1] + (d + 1,))
    with pytest.raises(ValueError, match="dYdX has shape"):
        check_gradient_targets(wrong, n_samples=n, n_outputs=k, n_features=d, y_ndim=y_ndim)


def test_nan_is_kept_and_lists_are_accepted():
    out = check_gradient_targets([[1.0, np.nan]], n_samples=1, n_outputs=1, n_features=2, y_ndim=1)
    assert np.isnan(out[0, 0, 1])


def test_scalar_and_ragged_inputs():
    with pytest.raises(ValueError, match="dYdX must be an array"):
        check_gradient_targets(3.0, n_samples=1, n_outputs=1, n_features=1, y_ndim=1)
    with pytest.raises(ValueError, match="dYdX"):
        check_gradient_targets([[1.0], [1.0, 2.0]], n_samples=2, n_outputs=1, n_features=1, y_ndim=1)


def test_feature_jacobian_shapes():
    J, d = check_feature_jacobian(np.ones((4, 2)), n_samples=9, n_model_features=4)
    assert J.shape == (4, 2) and d == 2
    with pytest.raises(ValueError, match="dZdX has shape"):
        check_feature_jacobian(np.ones((9, 3, 2)), n_samples=9, n_model_features=4)
    with pytest.raises(ValueError, match="dZdX.*NaN"):
        check_feature_jacobian(np.full((4, 2), np.nan), n_samples=9, n_model_features=4)


def test_named_gradients_are_aligned_to_x_by_name():
    import pandas as pd

    from sklearn_gi.linear_model import GIRidge

    rng = np.random.default_rng(0)
    coef = np.array([1.0, 2.0, 3.0])
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    y = X.to_numpy() @ coef
    G = pd.DataFrame(np.tile(coef, (30, 1)), columns=["a", "b", "c"])[["c", "b", "a"]]
    # before alignment this fit returned coef_ = [1.96, 1.87, 1.71]
    np.testing.assert_allclose(GIRidge(alpha=1e-9).fit(X, y, G).coef_, coef, rtol=1e-8)
    # an unnamed dYdX keeps its positional meaning
    positional = GIRidge(alpha=1e-9).fit(X, y, G.to_numpy()).coef_
    assert not np.allclose(positional, coef)
    with pytest.raises(ValueError, match=r"missing \['c'\], unexpected \['d'\]"):
        GIRidge().fit(X, y, G.rename(columns={"c": "d"}))
