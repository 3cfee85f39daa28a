"""The joint value/derivative kernel against GPyTorch's published matrices and finite differences.

``joint_kernel(kernel, X, Y)`` returns the covariance of values and first
derivatives in component-major layout: row ``c*n + a`` is the value f(X[a])
when c == 0 and the partial df/dx_c at X[a] otherwise; column ``c*m + b``
likewise for Y[b], differentiated with respect to the second argument.

GPyTorch (``RBFKernelGrad``, ``Matern52KernelGrad``) builds the same matrix and
then interleaves it per point, [f(x1), df/dx1_1, ..., df/dx1_d, f(x2), ...].
Its hard-coded test matrices are shipped in ``tests/data/gpytorch_kernel_grad.json``
(source, commit and layout notes are in that file), so no GPyTorch is needed here.
The finite-difference checks use nothing but scikit-learn's own kernel calls.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern

REFERENCE = json.loads((Path(__file__).parent / "data" / "gpytorch_kernel_grad.json").read_text())


def _joint_kernel(kernel, X, Y=None):
    # Imported here rather than at module level so that, while the module is
    # missing, these tests fail one by one instead of aborting collection.
    from sklearn_gi.kernels._derivative_kernels import joint_kernel

    return np.asarray(joint_kernel(kernel, X, Y))


def _gpytorch_order(n, d):
    """Index array taking component-major positions to GPyTorch's interleaved order.

    GPyTorch's ``pi = arange(n * (d + 1)).view(d + 1, n).t().reshape(-1)``:
    position ``a * (d + 1) + c`` of its matrix holds component-major row ``c * n + a``.
    """
    return np.arange(n * (d + 1)).reshape(d + 1, n).T.ravel()


def to_gpytorch_layout(K, n, m, d):
    return K[np.ix_(_gpytorch_order(n, d), _gpytorch_order(m, d))]


def _sklearn_kernel(spec, length_scale, outputscale):
    if spec["class"] == "RBF":
        kernel = RBF(length_scale=length_scale)
    elif spec["class"] == "Matern":
        kernel = Matern(length_scale=length_scale, nu=spec["nu"])
    else:  # pragma: no cover - the JSON only holds these two
        raise ValueError(spec)
    return kernel if outputscale == 1.0 else ConstantKernel(outputscale) * kernel


def test_gpytorch_order_is_the_per_point_interleaving():
    n, m, d = 2, 3, 2
    # label each component-major entry by (point, component) of its row and column
    rows = [(a, c) for c in range(d + 1) for a in range(n)]
    cols = [(b, c) for c in range(d + 1) for b in range(m)]
    K = np.array([[10 * (10 * a + c) + (10 * b + cp) / 100 for b, cp in cols] for a, c in rows])
    G = to_gpytorch_layout(K, n, m, d)
    for a in range(n):
        for c in range(d + 1):
            for b in range(m):
                for cp in range(d + 1):
                    assert G[a * (d + 1) + c, b * (d + 1) + cp] == K[c * n + a, cp * m + b]
    assert G[1, 0] == 10.0  # GPyTorch row 1 is df/dx_1 at X[0], column 0 is f(Y[0])


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=[c["name"] for c in REFERENCE["cases"]])
def test_joint_kernel_matches_gpytorch(case):
    X = np.array(case["X"])
    Y = np.array(case["Y"])
    n, d = X.shape
    m = Y.shape[0]
    kernel = _sklearn_kernel(case["sklearn_kernel"], case["length_scale"], case["outputscale"])
    K = _joint_kernel(kernel, X, Y)
    assert K.shape == (n * (1 + d), m * (1 + d))
    ours = to_gpytorch_layout(K, n, m, d)
    expected = np.array(case["expected"])
    assert ours.shape == tuple(case["expected_shape"])
    # Entrywise: the RBF matrix is printed to 5 significant digits (at worst 5
    # decimals, so half a unit is 5e-6) from a float32 computation; the exact
    # float64 values differ from the printed ones by at most 4.1e-6.
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=5e-6)
    # GPyTorch's own criterion: assertLess(torch.norm(res - actual), 1e-5)
    frobenius = np.linalg.norm(ours - expected)
    assert frobenius < case["gpytorch_tolerance"]["frobenius_norm_of_difference_below"], frobenius


def _mixed_central_difference(kernel, X, Y, i, j, h):
    ei = np.zeros(X.shape[1])
    ej = np.zeros(X.shape[1])
    ei[i] = h
    ej[j] = h
    plus = kernel(X + ei, Y + ej) + kernel(X - ei, Y - ej)
    minus = kernel(X + ei, Y - ej) + kernel(X - ei, Y + ej)
    return (plus - minus) / (4 * h * h)


def _check_against_finite_differences(kernel, X, Y, K):
    """Compare the component-major K block by block with differences of kernel(X, Y)."""
    n, d = X.shape
    m = Y.shape[0]
    assert K.shape == (n * (1 + d), m * (1 + d))

    def block(c, cp):
        return K[c * n : (c + 1) * n, cp * m : (cp + 1) * m]

    np.testing.assert_allclose(block(0, 0), kernel(X, Y), rtol=1e-12, atol=1e-15, err_msg="value block")
    h = 1e-5
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        np.testing.assert_allclose(
            block(1 + i, 0),
            (kernel(X + e, Y) - kernel(X - e, Y)) / (2 * h),
            rtol=1e-6,
            atol=1e-9,
            err_msg=f"cov(df/dx_{i}, f') block",
        )
        np.testing.assert_allclose(
            block(0, 1 + i),
            (kernel(X, Y + e) - kernel(X, Y - e)) / (2 * h),
            rtol=1e-6,
            atol=1e-9,
            err_msg=f"cov(f, df'/dx'_{i}) block",
        )
    # A four-point mixed difference at h = 1e-5 loses ~eps / h^2 ~ 1e-6 to
    # rounding, so the second-derivative blocks use central differences at
    # h = 2e-3 and 1e-3 with one Richardson step (error measured below 1e-8 here).
    for i in range(d):
        for j in range(d):
            fine = _mixed_central_difference(kernel, X, Y, i, j, 1e-3)
            coarse = _mixed_central_difference(kernel, X, Y, i, j, 2e-3)
            np.testing.assert_allclose(
                block(1 + i, 1 + j),
                (4 * fine - coarse) / 3,
                rtol=1e-6,
                atol=1e-8,
                err_msg=f"cov(df/dx_{i}, df'/dx'_{j}) block",
            )


@pytest.mark.parametrize("same_points", [False, True], ids=["X_Y", "Y_None"])
@pytest.mark.parametrize(
    "kernel",
    [RBF(length_scale=1.3), RBF(length_scale=[0.7, 1.5, 2.2]), ConstantKernel(2.5) * RBF(length_scale=0.9)],
    ids=["isotropic", "anisotropic", "scaled"],
)
def test_rbf_joint_kernel_matches_finite_differences(kernel, same_points):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    Y = X if same_points else rng.normal(size=(5, 3))
    K = _joint_kernel(kernel, X, None if same_points else Y)
    _check_against_finite_differences(kernel, X, Y, K)


@pytest.mark.parametrize("length_scale", [1.3, [0.7, 1.5, 2.2]], ids=["isotropic", "anisotropic"])
@pytest.mark.parametrize("nu", [1.5, 2.5])
def test_matern_joint_kernel_matches_finite_differences(nu, length_scale):
    # distinct random points only: at r = 0 the nu = 1.5 kernel is not smooth
    # enough for the Richardson step (its expansion has an r^3 term)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 3))
    Y = rng.normal(size=(5, 3))
    kernel = Matern(length_scale=length_scale, nu=nu)
    _check_against_finite_differences(kernel, X, Y, _joint_kernel(kernel, X, Y))
