"""GIGaussianProcessRegressor: learned derivative noise, unknown values, and searches that must not
fail silently (a poor start, a likelihood the data cannot pin down)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.metrics import r2_score

from sklearn_gi.datasets import make_problem
from sklearn_gi.gaussian_process import (
    GIGaussianProcessRegressor,
    GradientWhiteKernel,
    HyperparameterWarning,
)
from sklearn_gi.kernels._derivative_kernels import joint_kernel
from sklearn_gi.kernel_ridge import GIKernelRidge


def _noisy_data(n=40, seed=0, noise_sd=(0.3, 0.05)):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2)) * [1.0, 2.0]
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] ** 2
    G = np.c_[np.cos(X[:, 0]), 0.2 * X[:, 1]] + rng.normal(size=(n, 2)) * noise_sd
    return X, y, G


def _finite_difference(gp, theta, step=1e-6):
    return np.array([(gp.log_marginal_likelihood(theta + step * e)
                      - gp.log_marginal_likelihood(theta - step * e)) / (2 * step)
                     for e in np.eye(theta.size)])


@pytest.mark.parametrize("kernel", [
    ConstantKernel(1.0) * RBF([1.0, 2.0]) + WhiteKernel(1e-2) + GradientWhiteKernel(0.05),
    ConstantKernel(1.0) * RBF([1.0, 2.0]) + GradientWhiteKernel([0.05, 0.2]),
    RBF(1.0) * RBF(2.0) + GradientWhiteKernel([0.05, 0.2]),  # the block (non-joint) layout
], ids=["shared", "per-input", "product"])
def test_gradient_noise_likelihood_gradient_matches_finite_differences(kernel):
    X, y, G = _noisy_data(12)
    G[3, 1] = np.nan
    gp = GIGaussianProcessRegressor(kernel, optimizer=None).fit(X, y, G)
    theta = gp.kernel_.theta + 0.1
    _, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    np.testing.assert_allclose(grad, _finite_difference(gp, theta), rtol=1e-6, atol=1e-6)


def test_gradient_noise_with_a_feature_jacobian_is_in_raw_units():
    X, y, G = _noisy_data(10)
    J = np.array([[1.0, 0.5], [0.0, 2.0]])  # features X, gradients w.r.t. raw inputs
    kernel = ConstantKernel(1.0) * RBF(1.0) + GradientWhiteKernel([0.3, 0.1])
    gp = GIGaussianProcessRegressor(kernel, optimizer=None, normalize_y=False).fit(X, y, G, dZdX=J)
    theta = gp.kernel_.theta - 0.2
    _, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    np.testing.assert_allclose(grad, _finite_difference(gp, theta), rtol=1e-6, atol=1e-6)
    # the noise enters the raw partials' diagonal as it is
    plain = GIGaussianProcessRegressor(ConstantKernel(1.0) * RBF(1.0), optimizer=None,
                                       normalize_y=False).fit(X, y, G, dZdX=J)
    K_noisy, _ = gp._system.covariance(gp.kernel_)
    K_plain, _ = plain._system.covariance(plain.kernel_)
    np.testing.assert_allclose(np.diag(K_noisy - K_plain), np.repeat([0.0, 0.3, 0.1], 10), atol=1e-12)


def test_gradient_noise_is_learned_per_input():
    # known noise: sd 0.3 on dY/dX_1 and 0.05 on dY/dX_2 (in the problem's units)
    X, y, G = _noisy_data(60, noise_sd=(0.3, 0.05))
    kernel = (ConstantKernel(1.0) * RBF([1.0, 1.0]) + WhiteKernel(1e-3, (1e-10, 1.0))
              + GradientWhiteKernel([0.1, 0.1]))
    gp = GIGaussianProcessRegressor(kernel, random_state=0).fit(X, y, G)
    # back to the problem's units: noise_level * std(y)^2 / std(X_c)^2
    variance = gp.kernel_.k2.noise_level * y.std() ** 2 / X.std(axis=0) ** 2
    np.testing.assert_allclose(variance, [0.3 ** 2, 0.05 ** 2], rtol=0.35)
    # exact values: the value noise goes to its floor
    assert gp.kernel_.k1.k2.noise_level < 1e-6
    # and the predictions are better than when the noisy partials are trusted
    exact = GIGaussianProcessRegressor(kernel.k1.k1, random_state=0).fit(X, y, G)
    X_test = np.random.default_rng(5).uniform(-2, 2, size=(300, 2)) * [1.0, 2.0]
    y_test = np.sin(X_test[:, 0]) + 0.1 * X_test[:, 1] ** 2

    def rmse(model):
        return np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2))

    assert rmse(gp) < 0.5 * rmse(exact)
    # the predictive standard deviations are those of the noise-free function and gradient
    _, std = gp.predict(X_test[:4], return_std=True)
    _, gradient_std = gp.predict_gradient(X_test[:4], return_std=True)
    assert std.shape == (4,) and gradient_std.shape == (4, 2)
    assert np.all(gradient_std ** 2 < variance)


def test_gradient_white_kernel_changes_nothing_without_gradients():
    X, y, _ = _noisy_data(15)
    base = ConstantKernel(1.0) * RBF([1.0, 1.0])
    with_term = GIGaussianProcessRegressor(base + GradientWhiteKernel(0.5), random_state=0).fit(X, y)
    without = GIGaussianProcessRegressor(base, random_state=0).fit(X, y)
    np.testing.assert_allclose(with_term.predict(X), without.predict(X), rtol=1e-8)
    assert with_term.kernel_.k2.noise_level == 0.5  # no gradient: the search leaves it


def test_gradient_white_kernel_as_a_scikit_learn_kernel():
    kernel = GradientWhiteKernel([0.1, 0.2], noise_level_bounds=(1e-6, 1.0))
    X = np.ones((3, 2))
    np.testing.assert_array_equal(kernel(X), np.zeros((3, 3)))
    K, dK = kernel(X, eval_gradient=True)
    assert dK.shape == (3, 3, 2) and not dK.any()
    np.testing.assert_array_equal(kernel.diag(X), np.zeros(3))
    assert kernel.n_dims == 2 and repr(kernel) == "GradientWhiteKernel(noise_level=[0.1, 0.2])"
    assert clone(kernel).get_params()["noise_level"] == [0.1, 0.2]
    assert GradientWhiteKernel(0.3, "fixed").n_dims == 0


def test_gradient_white_kernel_misuse_is_a_clear_error():
    X, y, G = _noisy_data(8)
    with pytest.raises(TypeError, match="may only be added"):
        GIGaussianProcessRegressor(ConstantKernel(2.0) * GradientWhiteKernel()).fit(X, y, G)
    with pytest.raises(ValueError, match="3 noise levels but the gradients have 2"):
        GIGaussianProcessRegressor(RBF() + GradientWhiteKernel([1.0, 1.0, 1.0])).fit(X, y, G)


# ------------------------------------------------------------------ unknown values
def test_nan_values_leave_the_joint_system():
    X, y, G = _noisy_data(12, noise_sd=(0.0, 0.0))
    y_missing = y.copy()
    y_missing[[1, 4]] = np.nan
    G_missing = G.copy()
    G_missing[4] = np.nan  # sample 4 observes nothing: it is as if it were not there
    kernel = ConstantKernel(1.5) * RBF([1.0, 1.5])
    X_test = np.random.default_rng(1).uniform(-2, 2, size=(7, 2))
    model = GIGaussianProcessRegressor(kernel, optimizer=None, normalize_y=False)
    fitted = clone(model).fit(X, y_missing, G_missing)
    keep = np.r_[0:4, 5:12]
    dropped = clone(model).fit(X[keep], y_missing[keep], G_missing[keep])
    np.testing.assert_allclose(fitted.predict(X_test), dropped.predict(X_test), rtol=1e-7)
    # sample 1 keeps its gradient: the posterior of the known rows of the joint system
    t = np.concatenate([y_missing[keep], G_missing[keep].T.ravel()])
    known = np.isfinite(t)
    K = joint_kernel(kernel, X[keep])[np.ix_(known, known)] + 1e-10 * np.eye(known.sum())
    cross = joint_kernel(kernel, X_test, X[keep])[:, known]
    reference = cross @ np.linalg.solve(K, t[known])
    np.testing.assert_allclose(fitted.predict(X_test), reference[:7], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fitted.predict_gradient(X_test), reference[7:].reshape(2, 7).T,
                               rtol=1e-6, atol=1e-6)
    # with normalize_y the mean and scale come from the known values
    normalized = GIGaussianProcessRegressor(kernel, optimizer=None).fit(X, y_missing, G_missing)
    assert np.isclose(normalized._y_train_mean[0], np.nanmean(y_missing))


def test_gradients_only_fit_the_function_up_to_its_mean():
    X, y, G = make_problem("mccormick", 30, random_state=0)
    X_test, y_test, G_test = make_problem("mccormick", 200, random_state=1)
    gp = GIGaussianProcessRegressor(random_state=0).fit(X, np.full(30, np.nan), G)
    assert r2_score(G_test, gp.predict_gradient(X_test)) > 0.99
    # the constant is not identifiable: the predictions average 0 over the training inputs
    assert abs(gp.predict(X).mean()) < 1e-8 * np.abs(y).max()
    shift = y.mean()  # with the level known, the values follow
    assert r2_score(y_test, gp.predict(X_test) + shift) > 0.99


def test_values_must_be_known_somewhere_without_gradients():
    X, y, _ = _noisy_data(6)
    with pytest.raises(ValueError, match="no known"):
        GIGaussianProcessRegressor().fit(X, np.full(6, np.nan))
    with pytest.raises(ValueError, match="infinity"):
        GIGaussianProcessRegressor().fit(X, np.r_[y[:5], np.inf])


# ---------------------------------------------------------------- hard searches
def _molecule(n, seed=0, n_atoms=5):
    """Pair potential on inverse interatomic distances (spread ~0.02), energies near -7000."""
    rng = np.random.default_rng(seed)
    eq = rng.uniform(0, 4.0, size=(n_atoms, 3))
    a, b = np.triu_indices(n_atoms, 1)
    r0 = np.linalg.norm(eq[a] - eq[b], axis=1)
    P = eq + 0.15 * rng.standard_normal((n, n_atoms, 3))
    D = P[:, a] - P[:, b]
    r = np.linalg.norm(D, axis=-1)
    e = np.exp(-1.5 * (r - r0))
    y = np.sum(50 * (1 - e) ** 2, axis=1) - 7000
    dEdr = 150 * (1 - e) * e
    J = np.zeros((n, len(r0), n_atoms, 3))
    G = np.zeros((n, n_atoms, 3))
    for k, (i, j) in enumerate(zip(a, b)):
        u = D[:, k] / r[:, k, None]
        J[:, k, i], J[:, k, j] = -u / r[:, k, None] ** 2, u / r[:, k, None] ** 2
        G[:, i] += dEdr[:, k, None] * u
        G[:, j] -= dEdr[:, k, None] * u
    return 1 / r, y, G.reshape(n, -1), J.reshape(n, len(r0), -1)


def test_search_leaves_a_poor_start():
    # length scale 1 on inputs of spread 0.02: log likelihood -6.6e8 at the start, where
    # L-BFGS-B's first step (to the corner of the bounds) is singular; the search used to
    # return its start unchanged, without a warning
    Z, y, G, J = _molecule(15)
    kernel = ConstantKernel(1.0) * RBF(1.0)
    start = GIGaussianProcessRegressor(kernel, optimizer=None).fit(Z, y, G, dZdX=J)
    fitted = GIGaussianProcessRegressor(kernel).fit(Z, y, G, dZdX=J)
    assert start.log_marginal_likelihood_value_ < -1e8
    assert fitted.log_marginal_likelihood_value_ > 500
    assert fitted.kernel_.k2.length_scale < 0.3


def test_few_points_warn_and_choose_the_longest_length_scales_the_data_allow():
    # jenn's test: x sin x on [-pi, pi] from 4 points with derivatives, R^2 > 0.9 on
    # values and derivatives; the likelihood's optimum gives R^2 -0.56 / 0.02
    X = np.linspace(-np.pi, np.pi, 4)[:, None]
    X_test = np.linspace(-np.pi, np.pi, 200)[:, None]

    def f(x):
        return x[:, 0] * np.sin(x[:, 0])

    def df(x):
        return (np.sin(x[:, 0]) + x[:, 0] * np.cos(x[:, 0]))[:, None]

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        gp = GIGaussianProcessRegressor(random_state=0).fit(X, f(X), df(X))
    warned = [r for r in records if issubclass(r.category, HyperparameterWarning)]
    assert len(warned) == 1 and "do not determine" in str(warned[0].message)
    assert "longer length scales were chosen" in str(warned[0].message)
    assert r2_score(f(X_test), gp.predict(X_test)) > 0.9  # measured 0.957
    assert r2_score(df(X_test), gp.predict_gradient(X_test).reshape(-1, 1)) > 0.9  # 0.973

    # the optimum the search found, within 3 nats of the chosen kernel
    optimum = GIGaussianProcessRegressor(random_state=0, optimizer=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searched = GIGaussianProcessRegressor(random_state=0)
        searched._warn_if_undetermined = lambda best_value: None
        searched.fit(X, f(X), df(X))
    assert 0 < searched.log_marginal_likelihood_value_ - gp.log_marginal_likelihood_value_ < 3.0
    optimum.set_params(kernel=searched.kernel_).fit(X, f(X), df(X))
    assert r2_score(f(X_test), optimum.predict(X_test)) < 0.0
    lengths = [k.length_scale for k in (gp.kernel_.k1.k2.k2, gp.kernel_.k2.k2)]
    searched_lengths = [k.length_scale for k in (searched.kernel_.k1.k2.k2, searched.kernel_.k2.k2)]
    assert np.all(np.array(lengths) > 3 * np.array(searched_lengths))


@pytest.mark.parametrize("case", ["line, default kernel", "x sin x, bounded length scale"])
def test_the_walk_to_longer_length_scales_stops_at_the_bounds(case):
    # the walk once ran forever when the bounds held the length scales within 3 nats
    if case.startswith("line"):
        X = np.linspace(-1, 1, 4)[:, None]
        y, G, kernel = 3 * X[:, 0] + 1, np.full((4, 1), 3.0), None
    else:
        X = np.linspace(-np.pi, np.pi, 4)[:, None]
        y, G = X[:, 0] * np.sin(X[:, 0]), (np.sin(X[:, 0]) + X[:, 0] * np.cos(X[:, 0]))[:, None]
        kernel = ConstantKernel(1.0, (1e-5, 1e5)) * RBF(0.5, (1e-2, 2.0))
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        gp = GIGaussianProcessRegressor(kernel, random_state=0).fit(X, y, G)
    assert any(issubclass(r.category, HyperparameterWarning) for r in records)
    bounds = gp.kernel_.bounds
    assert np.all((gp.kernel_.theta >= bounds[:, 0]) & (gp.kernel_.theta <= bounds[:, 1]))
    if kernel is None:  # the default kernel's amplitudes follow the walk silently
        assert not any(issubclass(r.category, ConvergenceWarning) for r in records)
    else:
        assert gp.kernel_.k2.length_scale == pytest.approx(2.0)  # at its upper bound
        # the bounds are checked after the walk, so the user learns that it stopped there
        assert any(issubclass(r.category, ConvergenceWarning)
                   and "k2__length_scale is close to the specified upper bound" in str(r.message)
                   for r in records)


def test_a_search_on_a_subset_does_not_move_the_length_scales():
    # the 4 samples that seed 2 draws of 8 leave 3x longer length scales within 3 nats
    X = np.linspace(-np.pi, np.pi, 8)[:, None]
    y, G = X[:, 0] * np.sin(X[:, 0]), (np.sin(X[:, 0]) + X[:, 0] * np.cos(X[:, 0]))[:, None]
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        subset = GIGaussianProcessRegressor(random_state=2, n_search_samples=4).fit(X, y, G)
    warned = [str(r.message) for r in records if issubclass(r.category, HyperparameterWarning)]
    assert len(warned) == 1 and "3 times longer" in warned[0] and "were chosen" not in warned[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searched = GIGaussianProcessRegressor(random_state=2, n_search_samples=4)
        searched._warn_if_undetermined = lambda best_value: None
        searched.fit(X, y, G)
    np.testing.assert_array_equal(subset.kernel_.theta, searched.kernel_.theta)


def test_determined_length_scales_do_not_warn():
    X, y, G = make_problem("mccormick", 20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HyperparameterWarning)
        GIGaussianProcessRegressor(random_state=0).fit(X, y, G)


# -------------------------------------------------------------------- kernel ridge
def test_kernel_ridge_centres_targets_with_an_offset():
    Z_all, y_all, G_all, J_all = _molecule(130, seed=1)  # energies near -7000
    Z, y, G, J = Z_all[:30], y_all[:30], G_all[:30], J_all[:30]
    Z_test, G_test, J_test = Z_all[30:], G_all[30:], J_all[30:]
    scale = Z.std(axis=0)

    def force_mae(model):
        return np.abs(model.predict_gradient(Z_test / scale, dZdX=J_test / scale[:, None])
                      - G_test).mean()

    def fit(normalize_y, offset):
        return GIKernelRidge(alpha=1e-6, gamma=0.01, normalize_y=normalize_y).fit(
            Z / scale, y + offset, G, dZdX=J / scale[:, None])

    centred = fit(True, 0.0)
    # centring makes the offset irrelevant
    np.testing.assert_allclose(fit(True, 7000.0).predict(Z_test / scale) - 7000.0,
                               centred.predict(Z_test / scale), rtol=1e-6)
    # without it the energies' offset dominates the fit and the forces suffer
    assert force_mae(centred) < 0.5 * force_mae(fit(False, 0.0))


def test_kernel_ridge_nan_values_leave_the_system():
    X, y, G = _noisy_data(10, noise_sd=(0.0, 0.0))
    y[2] = np.nan
    model = GIKernelRidge(alpha=1e-3, gamma=0.3, normalize_y=False).fit(X, y, G)
    t = np.concatenate([y, G.T.ravel()])
    known = np.isfinite(t)
    kernel = RBF(1 / np.sqrt(0.6))
    K = joint_kernel(kernel, X)[np.ix_(known, known)] + 1e-3 * np.eye(known.sum())
    X_test = np.random.default_rng(3).normal(size=(5, 2))
    reference = joint_kernel(kernel, X_test, X)[:, known] @ np.linalg.solve(K, t[known])
    np.testing.assert_allclose(model.predict(X_test), reference[:5], rtol=1e-9)
    # gradients only: the mean is 0 and the gradients are still fitted
    only = GIKernelRidge(alpha=1e-6, gamma=0.3).fit(X, np.full(10, np.nan), G)
    assert np.all(only.y_mean_ == 0)
    np.testing.assert_allclose(only.predict_gradient(X), G, atol=1e-3)
    with pytest.raises(ValueError, match="no known"):
        GIKernelRidge().fit(X, np.full(10, np.nan))


def test_models_with_derivative_noise_save_and_load(tmp_path):
    from sklearn_gi.io import load, save

    X, y, G = _noisy_data(12)
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.0]) + GradientWhiteKernel([0.1, 0.2])
    gp = GIGaussianProcessRegressor(kernel, optimizer=None).fit(X, y, G)
    save(gp, tmp_path / "gp.zip")
    loaded = load(tmp_path / "gp.zip")
    np.testing.assert_array_equal(loaded.predict(X), gp.predict(X))
    assert repr(loaded.kernel_) == repr(gp.kernel_)
    ridge = GIKernelRidge(alpha=1e-3).fit(X, y + 100.0, G)
    save(ridge, tmp_path / "ridge.zip")
    np.testing.assert_array_equal(load(tmp_path / "ridge.zip").predict(X), ridge.predict(X))


def test_kernel_ridge_files_from_before_normalize_y_keep_their_model():
    from sklearn_gi.io._persistence import _load_kernel_ridge

    X, y, G = _noisy_data(12)
    old = GIKernelRidge(alpha=1e-3, normalize_y=False).fit(X, y + 100.0, G)
    del old.y_mean_, old.normalize_y  # what a file of the earlier release restores
    _load_kernel_ridge(None, old, None)
    reference = GIKernelRidge(alpha=1e-3, normalize_y=False).fit(X, y + 100.0, G)
    np.testing.assert_array_equal(old.predict(X), reference.predict(X))
    assert old.get_params()["normalize_y"] is False
