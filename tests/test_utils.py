import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sklearn_gi.utils import check_feature_jacobian, check_gradient_targets, gradient_inconsistency


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


# ---------------------------------------------------------------- BLAS thread policy
def _blas_threads_now():
    from threadpoolctl import threadpool_info

    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def _spy(monkeypatch, module, name, seen):
    """Record the BLAS thread counts in force whenever ``module.name`` is called."""
    original = getattr(module, name)

    def spy(*args, **kwargs):
        seen.append(frozenset(_blas_threads_now()))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)


def _estimator_and_spied_call(name):
    """An estimator and a function its fit and predict call while BLAS works."""
    from scipy import linalg

    import sklearn_gi.kernel_ridge._kernel_ridge as kernel_ridge
    import sklearn_gi.linear_model._base as linear_base
    import sklearn_gi.linear_model._gi_ridge as gi_ridge
    import sklearn_gi.linear_model._ridge_gradient as ridge_gradient
    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    from sklearn_gi.kernel_ridge import GIKernelRidge
    from sklearn_gi.linear_model import GILinearRegression, GIRidge, RidgeGradient

    return {
        "GIGaussianProcessRegressor": (GIGaussianProcessRegressor(random_state=0),
                                       [(linalg, "cho_solve"), (linalg, "solve_triangular")]),
        "GIKernelRidge": (GIKernelRidge(alpha=1e-6), [(kernel_ridge, "solve_normal_equations"),
                                                      (kernel_ridge, "check_finite_output")]),
        "GIRidge": (GIRidge(alpha=1e-6), [(gi_ridge, "solve_normal_equations"),
                                          (linear_base, "check_finite_output")]),
        "GILinearRegression": (GILinearRegression(), [(gi_ridge, "solve_normal_equations")]),
        "RidgeGradient": (RidgeGradient(), [(ridge_gradient, "solve_normal_equations")]),
    }[name]


ESTIMATORS = ["GIGaussianProcessRegressor", "GIKernelRidge", "GIRidge", "GILinearRegression",
              "RidgeGradient"]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_small_fits_use_one_blas_thread_and_restore_the_count(monkeypatch, name):
    from threadpoolctl import threadpool_limits

    from sklearn_gi.datasets import make_problem

    estimator, calls = _estimator_and_spied_call(name)
    X, y, G = make_problem("rosenbrock", n_samples=12, random_state=0)
    seen = []
    for module, function in calls:
        _spy(monkeypatch, module, function, seen)
    with threadpool_limits(2, user_api="blas"):
        estimator.fit(X, y, G)
        if name == "GIGaussianProcessRegressor":
            estimator.predict(X[:3], return_std=True)
        else:
            estimator.predict(X[:3])
        assert len(seen) >= len(calls) and set(seen) == {frozenset({1})}, seen
        assert _blas_threads_now() == {2}  # the caller's setting is back
        seen.clear()
        estimator.set_params(n_threads=2).fit(X, y, G)
        assert seen and set(seen) == {frozenset({2})}, seen
        estimator.set_params(n_threads=1)
        with pytest.raises(ValueError, match="n_threads"):
            estimator.set_params(n_threads=0).fit(X, y, G)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_results_do_not_depend_on_the_callers_thread_count(name):
    """Bit-identical under 1 or 2 BLAS threads outside; 2 inside differs by rounding only."""
    from threadpoolctl import threadpool_limits

    from sklearn_gi.datasets import make_problem

    X, y, G = make_problem("wing_weight", n_samples=15, sampling="lhs", random_state=0)
    X_test = make_problem("wing_weight", n_samples=50, random_state=1)[0]
    predictions = []
    for outside in (1, 2):
        with threadpool_limits(outside, user_api="blas"):
            estimator = _estimator_and_spied_call(name)[0].fit(X, y, G)
            predictions.append(estimator.predict(X_test))
    np.testing.assert_array_equal(predictions[0], predictions[1])
    if name != "GIGaussianProcessRegressor":  # the likelihood search can amplify rounding
        two = _estimator_and_spied_call(name)[0].set_params(n_threads=2).fit(X, y, G)
        np.testing.assert_allclose(two.predict(X_test), predictions[0], rtol=1e-7)


def test_hsic_functions_limit_blas_threads(monkeypatch):
    from threadpoolctl import threadpool_limits

    import sklearn_gi.inspection._hsic as hsic
    from sklearn_gi.inspection import hsic_indices

    X = np.random.default_rng(0).uniform(size=(60, 3))
    y = X[:, 0] + X[:, 1] ** 2
    seen = []
    _spy(monkeypatch, hsic, "_hsic", seen)
    with threadpool_limits(2, user_api="blas"):
        one = hsic_indices(X, y).hsic
        assert seen and set(seen) == {frozenset({1})}
        seen.clear()
        two = hsic_indices(X, y, n_threads=2).hsic
        assert set(seen) == {frozenset({2})}
        assert _blas_threads_now() == {2}
    np.testing.assert_allclose(one, two, rtol=1e-10)
    with pytest.raises(ValueError, match="n_threads must be None or a positive integer"):
        hsic_indices(X, y, n_threads=0)


def test_blas_threads_sizes_nesting_and_concurrent_blocks():
    import threading

    from threadpoolctl import threadpool_limits

    from sklearn_gi.utils._threads import SMALL_BLAS_WORK, blas_threads

    with threadpool_limits(2, user_api="blas"):
        with blas_threads(None, work=2 * SMALL_BLAS_WORK):
            assert _blas_threads_now() == {2}  # large problems: the library's setting
        with blas_threads(1):
            with blas_threads(2):  # a nested block keeps the count of the outer one
                assert _blas_threads_now() == {1}
        # a block wanting another count waits for the running ones to end
        order, inside = [], threading.Event()

        def other():
            inside.wait()
            with blas_threads(2):
                order.append(("other", frozenset(_blas_threads_now())))

        thread = threading.Thread(target=other)
        thread.start()
        with blas_threads(1):
            inside.set()
            thread.join(timeout=0.2)
            order.append(("first", frozenset(_blas_threads_now())))
        thread.join(timeout=10)
        assert order == [("first", frozenset({1})), ("other", frozenset({2}))]
        assert _blas_threads_now() == {2}


@given(st.integers(0, 2**31 - 1), st.integers(1, 5))
def test_gradient_inconsistency_of_a_linear_function_is_zero_and_four_with_the_sign_flipped(seed, p):
    # the trapezoid rule is exact on a linear function; -w explains -1x each difference
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, p))
    w = rng.normal(size=p) + 0.1
    y = X @ w + 3.0
    G = np.tile(w, (30, 1))
    assert gradient_inconsistency(X, y, G) < 1e-20
    assert gradient_inconsistency(X, y, -G) == pytest.approx(4.0)


def test_gradient_inconsistency_separates_noisy_from_exact_and_skips_unknowns():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 2))
    y, G = np.sin(X).sum(axis=1), np.cos(X)
    assert gradient_inconsistency(X, y, G) < 1e-3
    assert gradient_inconsistency(X, y + rng.normal(scale=0.1, size=400), G) > 0.5
    # rows with an unknown partial or value are left out; two outputs pool their sums
    G_unknown = G.copy()
    G_unknown[::2, 0] = np.nan
    assert gradient_inconsistency(X, y, G_unknown) < 1e-3
    y_unknown = y.copy()
    y_unknown[1::2] = np.nan  # together with the unknown partials: no usable row left
    assert np.isnan(gradient_inconsistency(X, y_unknown, G_unknown))
    # each output on its own scale, the largest ratio: a large exact output hides no noisy one
    noisy = y + rng.normal(scale=0.1, size=400)
    Y2 = np.column_stack([1000 * y, noisy])
    G2 = np.stack([1000 * G, G], axis=1)
    assert gradient_inconsistency(X, Y2, G2) == pytest.approx(gradient_inconsistency(X, noisy, G))
    assert np.isnan(gradient_inconsistency(X, np.full(400, np.nan), G))
    assert np.isnan(gradient_inconsistency(X, np.ones(400), np.zeros((400, 2))))  # no difference at all


def test_gradient_inconsistency_names_bad_shapes():
    X = np.zeros((5, 2))
    with pytest.raises(ValueError, match="dYdX"):
        gradient_inconsistency(X, np.zeros(5), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        gradient_inconsistency(X, np.zeros(4), np.zeros((5, 2)))
