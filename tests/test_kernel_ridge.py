"""GIKernelRidge: exactly KernelRidge without gradients, the joint system with them."""

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.datasets import make_problem
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.kernels._derivative_kernels import joint_kernel
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.pipeline import make_gi_pipeline

STRING_KERNELS = [
    {"kernel": "rbf", "gamma": 0.3},
    {"kernel": "rbf"},
    {"kernel": "linear"},
    {"kernel": "poly", "degree": 3, "gamma": 0.5, "coef0": 1.0},
    {"kernel": "polynomial", "kernel_params": {"degree": 2, "coef0": 0.5}},
]


def _data(n=20, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.sin(X).sum(axis=1), np.cos(X)


@pytest.mark.parametrize("params", STRING_KERNELS, ids=lambda p: str(p))
def test_without_gradients_equals_sklearn_kernel_ridge(params):
    X, y, _ = _data()
    X_test = np.random.default_rng(1).normal(size=(6, 3))
    weights = np.random.default_rng(2).uniform(0, 2, size=20)
    sk_params = dict(params)
    if "kernel_params" in sk_params:  # sklearn passes these through to the kernel function
        sk_params.update(sk_params.pop("kernel_params"))
    for sample_weight in (None, weights):
        ours = GIKernelRidge(alpha=0.1, normalize_y=False, **params).fit(X, y, sample_weight=sample_weight)
        theirs = KernelRidge(alpha=0.1, **sk_params).fit(X, y, sample_weight=sample_weight)
        np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, rtol=1e-9, atol=1e-12)


def test_matches_the_dense_regularised_system():
    X, y, G = _data(8)
    G[2, 1] = np.nan
    model = GIKernelRidge(alpha=0.05, gamma=0.4, gradient_weight=2.0, normalize_y=False).fit(X, y, G)
    kernel = RBF(1 / np.sqrt(0.8))
    t = np.concatenate([y, G.T.ravel()])
    known = np.isfinite(t)
    penalty = np.concatenate([np.full(8, 0.05), np.full(24, 0.05 / 2.0)])
    K = joint_kernel(kernel, X)[np.ix_(known, known)] + np.diag(penalty[known])
    coef = np.linalg.solve(K, t[known])
    X_test = np.random.default_rng(3).normal(size=(5, 3))
    cross = joint_kernel(kernel, X_test, X)[:, known]
    mean = cross @ coef
    np.testing.assert_allclose(model.predict(X_test), mean[:5], rtol=1e-9)
    np.testing.assert_allclose(model.predict_gradient(X_test), mean[5:].reshape(3, 5).T,
                               rtol=1e-8, atol=1e-12)
    assert model.dual_coef_[8 + 8 * 1 + 2] == 0.0  # the unknown partial has no coefficient


def test_equals_gp_posterior_mean_with_the_same_kernel_and_noise():
    X, y, G = _data(10)
    # unit-variance inputs: the GP's gradient noise, gradient_alpha / std(X)^2, is then
    # the ridge's gradient penalty alpha / gradient_weight
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    kernel = ConstantKernel(1.0) * Matern([1.0, 2.0, 1.5], nu=2.5)
    ridge = GIKernelRidge(alpha=1e-4, kernel=kernel, gradient_weight=0.5,
                          normalize_y=False).fit(X, y, G)
    gp = GIGaussianProcessRegressor(kernel, alpha=1e-4, gradient_alpha=2e-4, optimizer=None,
                                    normalize_y=False).fit(X, y, G)
    X_test = np.random.default_rng(3).normal(size=(5, 3))
    np.testing.assert_allclose(ridge.predict(X_test), gp.predict(X_test), rtol=1e-9)
    np.testing.assert_allclose(ridge.predict_gradient(X_test), gp.predict_gradient(X_test),
                               rtol=1e-8)


def test_gradients_improve_and_gradient_weight_zero_ignores_them():
    X, y, G = make_problem("mccormick", 20, random_state=0)
    X_test, y_test, _ = make_problem("mccormick", 500, random_state=1)
    errors = {}
    for label, kw in (("values", {}), ("gradients", {"dYdX": G})):
        model = make_gi_pipeline(StandardScaler(), GIKernelRidge(alpha=1e-6, gamma=0.2))
        errors[label] = np.sqrt(np.mean((model.fit(X, y, **kw).predict(X_test) - y_test) ** 2))
    assert errors["gradients"] * 2 < errors["values"]  # measured: 0.78 vs 1.86
    ignored = GIKernelRidge(alpha=1e-3, gradient_weight=0).fit(X, y, G)
    plain = GIKernelRidge(alpha=1e-3).fit(X, y)
    np.testing.assert_allclose(ignored.predict(X_test), plain.predict(X_test), rtol=1e-12)


def test_grid_search_over_alpha_and_gamma_with_routed_gradients():
    X, y, G = make_problem("mccormick", 30, random_state=0)
    pipe = make_gi_pipeline(StandardScaler(), GIKernelRidge())
    grid = {"gikernelridge__alpha": [1e-6, 1e-1], "gikernelridge__gamma": [0.01, 0.2, 5.0]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y, dYdX=G)
    assert search.best_params_ == {"gikernelridge__alpha": 1e-6, "gikernelridge__gamma": 0.2}
    assert search.best_score_ > 0.99


def test_multi_output_per_output_alpha_and_masks():
    X, y, G = _data(12)
    Y = np.c_[y, 2 * y]
    GG = np.stack([G, 2 * G], axis=1)
    GG[3, 0, 1] = np.nan
    model = GIKernelRidge(alpha=[1e-3, 1e-1], gamma=0.3).fit(X, Y, GG)
    X_test = np.random.default_rng(4).normal(size=(5, 3))
    for j, alpha in enumerate([1e-3, 1e-1]):
        one = GIKernelRidge(alpha=alpha, gamma=0.3).fit(X, Y[:, j], GG[:, j])
        np.testing.assert_allclose(model.predict(X_test)[:, j], one.predict(X_test), rtol=1e-9)
        np.testing.assert_allclose(model.predict_gradient(X_test)[:, j],
                                   one.predict_gradient(X_test), rtol=1e-8, atol=1e-12)


def test_feature_jacobian_through_a_pipeline():
    X, y, G = make_problem("mccormick", 25, random_state=0)
    X_test, y_test, _ = make_problem("mccormick", 300, random_state=1)
    model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(1),
                             GIKernelRidge(alpha=1e-6, gamma=0.2))
    model.fit(X, y, G)
    assert model.gradient_mode_ == "jacobian"
    assert np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) < 0.1 * y_test.std()
    step = 1e-5
    fd = np.column_stack([(model.predict(X_test[:4] + e) - model.predict(X_test[:4] - e))
                          / (2 * step) for e in np.eye(2) * step])
    np.testing.assert_allclose(model.predict_gradient(X_test[:4]), fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel", ["laplacian", "sigmoid", "chi2", lambda a, b: a @ b])
def test_kernels_without_derivatives_are_type_errors(kernel):
    X, y, G = _data()
    with pytest.raises(TypeError, match="no derivatives"):
        GIKernelRidge(kernel=kernel).fit(X, y, G)
    assert not hasattr(GIKernelRidge(kernel=kernel), "n_features_in_")


def test_bad_inputs():
    X, y, G = _data()
    model = GIKernelRidge()
    with pytest.raises(ValueError, match=r"alpha must be a non-negative float or an array"):
        GIKernelRidge(alpha=[1.0, 2.0]).fit(X, y, G)
    with pytest.raises(ValueError, match=r"dYdX has shape \(20, 2\)"):
        model.fit(X, y, G[:, :2])
    assert not hasattr(model, "n_features_in_")  # the failed fit left nothing behind
    with pytest.raises(ValueError, match="kernel_params has unknown keys"):
        GIKernelRidge(kernel_params={"sigma": 1.0}).fit(X, y)


def test_fitted_model_keeps_no_training_blocks():
    # the compiled kernel caches its (n, n, d, d) blocks: the model must not keep it
    import pickle

    X, y, G = _data(60, 5)
    for kernel in ("rbf", "poly", ConstantKernel(1.0) * RBF(1.0) * Matern(2.0, nu=2.5)):
        model = GIKernelRidge(alpha=1e-3, kernel=kernel).fit(X, y, G)
        size = len(pickle.dumps(model))
        # dual coefficients, inputs and targets: a few (n (1 + d)) vectors, not (n (1 + d))^2
        assert size < 40 * 8 * 60 * 6, (kernel, size)


def test_cg_solver_equals_cholesky_with_weights_and_alphas():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(40, 3))
    Y = np.c_[np.sin(X[:, 0]) * X[:, 1] + X[:, 2], X[:, 0]]
    G = np.stack([np.c_[np.cos(X[:, 0]) * X[:, 1], np.sin(X[:, 0]), np.ones(40)],
                  np.c_[np.ones(40), np.zeros((40, 2))]], axis=1)
    G[3, 0, 1] = np.nan
    weights, X_test = rng.uniform(0.5, 2.0, 40), rng.uniform(-2, 2, size=(5, 3))
    for alpha in (1e-3, [1e-3, 1e-2]):
        exact = GIKernelRidge(alpha=alpha, gamma=0.3, solver="cholesky").fit(X, Y, G, sample_weight=weights)
        cg = GIKernelRidge(alpha=alpha, gamma=0.3, solver="cg").fit(X, Y, G, sample_weight=weights)
        assert cg.solver_ == "cg" and exact.solver_ == "cholesky"
        scale = np.abs(exact.dual_coef_).max()
        np.testing.assert_allclose(cg.dual_coef_, exact.dual_coef_, atol=1e-6 * scale)
        np.testing.assert_allclose(cg.predict(X_test), exact.predict(X_test), atol=1e-8)
        np.testing.assert_allclose(cg.predict_gradient(X_test), exact.predict_gradient(X_test), atol=1e-8)
    assert GIKernelRidge(gamma=0.3).fit(X, Y, G).solver_ == "cholesky"  # "auto" on 160 rows
    with pytest.raises(ValueError, match="solver='cg' needs a kernel"):
        GIKernelRidge(kernel="poly", solver="cg").fit(X, Y, G)
