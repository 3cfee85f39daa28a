"""The joint covariance through a feature Jacobian without the (n, n, p, p) descriptor block."""

import tracemalloc

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, Matern, WhiteKernel

from sklearn_gi.gaussian_process import GIGaussianProcessRegressor, GradientWhiteKernel
from sklearn_gi.kernels import _joint
from sklearn_gi.kernels._derivative_kernels import Context, assemble, compile_kernel
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.kernels import PermutationInvariantKernel
from sklearn_gi.kernels import _feature_jacobian
from sklearn_gi.kernels._feature_jacobian import feature_jacobian_covariance, supports_feature_jacobian

PERMUTATIONS = [[0, 1, 2, 3, 4], [1, 0, 2, 3, 4], [0, 1, 3, 2, 4], [1, 0, 3, 2, 4]]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _projected(kernel, Z, J):
    """Today's general path: the descriptor blocks, then J_a^T H J_b."""
    n, d = Z.shape[0], J.shape[2]
    blocks = compile_kernel(kernel, Z.shape[1]).forward(Context(Z, need_x=True, need_y=True))
    return assemble(_joint._to_raw(blocks, J, J), n, n, d)


@pytest.mark.parametrize("kernel", [
    RBF(1.3),
    Matern(0.9, nu=2.5),
    Matern(1.1, nu=1.5),
    RBF([0.5, 1.0, 2.0, 1.5, 0.7]),
    ConstantKernel(2.0) * Matern(0.9, nu=2.5) + ConstantKernel(0.3) + WhiteKernel(0.1),
    PermutationInvariantKernel(Matern(0.9, nu=2.5), PERMUTATIONS),
    ConstantKernel(3.0) * PermutationInvariantKernel(RBF([1.0, 1.0, 0.5, 0.5, 2.0]), PERMUTATIONS),
], ids=["rbf", "matern52", "matern32", "anisotropic", "sum", "permutation", "permutation_anisotropic"])
@pytest.mark.parametrize("block_rows", [1, 3, 23])
def test_covariance_equals_the_projected_blocks(rng, monkeypatch, kernel, block_rows):
    Z, J = rng.normal(size=(23, 5)), rng.normal(size=(23, 5, 4))
    expected = _projected(kernel, Z, J)
    assert supports_feature_jacobian(kernel, 5)
    # blocks of rows (the columns before each block are mirrored from earlier rows)
    monkeypatch.setattr(_feature_jacobian, "_BLOCK_ELEMENTS", block_rows * 4 * 4 * 23)
    got = feature_jacobian_covariance(kernel, Z, J)
    assert np.max(np.abs(got - expected)) <= 1e-12 * np.max(np.abs(expected))


def test_unsupported_kernel_keeps_the_general_path(rng):
    Z, J = rng.normal(size=(6, 3)), rng.normal(size=(6, 3, 2))
    kernel = DotProduct(1.0) * RBF(1.0)
    assert not supports_feature_jacobian(kernel, 3)
    system = _joint.JointObservations(Z, rng.normal(size=(6, 1)), rng.normal(size=(6, 1, 2)), J)
    K, _ = system.covariance(kernel)
    np.testing.assert_allclose(K, _projected(kernel, Z, J), rtol=0, atol=1e-12)


def _descriptor_data(rng, n=12, d=4, p=5):
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(p, d))
    Z = np.tanh(X @ W.T)
    J = (1.0 - Z**2)[:, :, None] * W[None]  # dZ/dX
    y = np.sin(Z).sum(axis=1)
    G = np.einsum("np,npd->nd", np.cos(Z), J)
    return Z, y, G, J


def _general_path(monkeypatch):
    monkeypatch.setattr(_joint, "supports_feature_jacobian", lambda kernel, n_features: False)


@pytest.mark.parametrize("missing", ["none", "partials", "values"])
def test_kernel_ridge_predictions_unchanged(rng, monkeypatch, missing):
    Z, y, G, J = _descriptor_data(rng)
    if missing == "partials":
        G[rng.random(G.shape) < 0.3] = np.nan
    elif missing == "values":
        y[[1, 4, 7]] = np.nan
    kernel = PermutationInvariantKernel(Matern(1.5, nu=2.5), PERMUTATIONS)
    Z_test = rng.normal(size=(5, 5))
    J_test = rng.normal(size=(5, 5, 4))

    def fitted():
        model = GIKernelRidge(alpha=1e-6, kernel=kernel).fit(Z, y, G, dZdX=J)
        return model.predict(Z_test), model.predict_gradient(Z_test, dZdX=J_test)

    fast = fitted()
    _general_path(monkeypatch)
    slow = fitted()
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_gp_likelihood_and_gradient_unchanged(rng, monkeypatch):
    Z, y, G, J = _descriptor_data(rng)
    kernel = (ConstantKernel(2.0) * PermutationInvariantKernel(RBF(1.2), PERMUTATIONS)
              + GradientWhiteKernel(1e-3))

    def likelihood():
        gp = GIGaussianProcessRegressor(kernel, optimizer=None).fit(Z, y, G, dZdX=J)
        theta = gp.kernel_.theta + 0.1
        return gp.log_marginal_likelihood(theta, eval_gradient=True), gp.predict_gradient(Z, dZdX=J)

    (fast_lml, fast_grad), fast_pred = likelihood()
    _general_path(monkeypatch)
    (slow_lml, slow_grad), slow_pred = likelihood()
    assert fast_lml == pytest.approx(slow_lml, rel=1e-10)
    np.testing.assert_allclose(fast_grad, slow_grad, rtol=1e-8)
    np.testing.assert_allclose(fast_pred, slow_pred, rtol=1e-8, atol=1e-10)


def test_descriptor_block_is_never_allocated(rng):
    # p = 60 descriptors of d = 3 coordinates: the (n, n, p, p) block is 46 MB, the
    # joint matrix 0.2 MB
    n, p, d = 40, 60, 3
    Z, J = rng.normal(size=(n, p)), rng.normal(size=(n, p, d))
    kernel = Matern(3.0, nu=2.5)
    descriptor_block = 8 * n * n * p * p

    def peak(build):
        tracemalloc.start()
        try:
            build()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    old = peak(lambda: _projected(kernel, Z, J))
    new = peak(lambda: feature_jacobian_covariance(kernel, Z, J))
    assert old > descriptor_block
    assert new < descriptor_block / 10


@pytest.mark.parametrize("kernel", [
    ConstantKernel(2.0) * Matern(0.9, nu=2.5) + ConstantKernel(0.3) + WhiteKernel(0.1),
    ConstantKernel(3.0) * PermutationInvariantKernel(RBF(1.1), PERMUTATIONS),
    PermutationInvariantKernel(ConstantKernel(0.5) * Matern(1.3, nu=1.5), PERMUTATIONS),
], ids=["sum", "permutation_rbf", "permutation_matern32"])
def test_gradient_equals_the_general_path(rng, kernel):
    Z, J = rng.normal(size=(9, 5)), rng.normal(size=(9, 5, 4))
    A = np.tril(rng.normal(size=(45, 45)))  # triangular, like the likelihood's adjoint
    assert _feature_jacobian.supports_feature_jacobian_gradient(kernel, 5)
    system = _joint.JointObservations(Z, rng.normal(size=(9, 1)), rng.normal(size=(9, 1, 4)), J)
    node = compile_kernel(kernel, 5)
    node.forward(Context(Z, need_x=True, need_y=True))
    expected = node.backward(system.adjoint(A))
    got = _feature_jacobian.feature_jacobian_gradient(kernel, Z, J, A)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def test_gradient_falls_back_for_anisotropic_length_scales():
    assert not _feature_jacobian.supports_feature_jacobian_gradient(RBF([1.0, 2.0]), 2)
    assert _feature_jacobian.supports_feature_jacobian_gradient(
        RBF([1.0, 2.0], length_scale_bounds="fixed"), 2)
