"""Matrix-free joint kernel products, the pivoted-Cholesky preconditioner and PCG."""

import numpy as np
import pytest
from scipy import linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    Matern,
    RationalQuadratic,
    WhiteKernel,
)

from sklearn_gi.kernels._derivative_kernels import joint_kernel
from sklearn_gi.kernels._matvec import JointKernelOperator, supports_matrix_free
from sklearn_gi.kernels._preconditioners import PivotedCholeskyPreconditioner
from sklearn_gi.kernels._solvers import (CG_MIN_ROWS, conjugate_gradients, preconditioner_rank,
                                         resolve_solver, solve_joint_system)

LENGTHS = [1.0, 2.0, 0.5, 3.0]
KERNELS = [
    ConstantKernel(2.0) * RBF(LENGTHS) + ConstantKernel(0.3) + ConstantKernel(0.1) * RBF(0.7),
    ConstantKernel(1.5) * Matern(LENGTHS, nu=2.5) + WhiteKernel(0.01),
    RationalQuadratic(1.3, 0.8),
    Matern(LENGTHS, nu=np.inf),
]


def _points(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + 5.0  # off-centre: the products centre X


def _relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: type(k).__name__)
def test_products_equal_the_dense_joint_matrix(kernel):
    X, X_test = _points(), _points(7, seed=1)
    K = joint_kernel(kernel, X)
    operator = JointKernelOperator(kernel, X, True)
    V = np.random.default_rng(2).normal(size=(K.shape[0], 3))
    assert _relative(operator.matvec(V), K @ V) < 1e-12
    assert _relative(operator.matvec(V[:, 0]), K @ V[:, 0]) < 1e-12
    # test points: values and gradients, or values only
    K_cross = joint_kernel(kernel, X_test, X)
    assert _relative(operator.cross(X_test, V, True), K_cross @ V) < 1e-12
    assert _relative(operator.cross(X_test, V, False), K_cross[:7] @ V) < 1e-12
    np.testing.assert_allclose(operator.diagonal(), np.diag(K), rtol=1e-14)
    for index in (0, 29, 30, 77, 149):
        np.testing.assert_allclose(operator.column(index), K[:, index], rtol=0, atol=1e-13 * np.abs(K).max())
    # several at once, repeated points and components in any order
    indices = [77, 0, 149, 30, 7, 37, 0]
    np.testing.assert_allclose(operator.columns(indices), K[:, indices], rtol=0,
                               atol=1e-13 * np.abs(K).max())


def test_values_only_operator_and_observed_rows_with_scaling():
    X = _points()
    kernel = KERNELS[0]
    values_only = JointKernelOperator(kernel, X, False)
    V = np.random.default_rng(0).normal(size=(30, 2))
    assert _relative(values_only.matvec(V), kernel(X) @ V) < 1e-12
    K = joint_kernel(kernel, X)
    rows = np.setdiff1d(np.arange(150), [3, 40, 41, 100])  # unknown partials dropped
    noise = np.linspace(0.1, 0.2, 150)
    scale = np.linspace(0.5, 2.0, rows.size)
    operator = JointKernelOperator(kernel, X, True, noise=noise, rows=rows, row_scale=scale)
    dense = scale[:, None] * K[np.ix_(rows, rows)] * scale[None, :] + np.diag(noise[rows])
    assert operator.shape == dense.shape
    W = np.random.default_rng(1).normal(size=(rows.size, 2))
    assert _relative(operator.matvec(W), dense @ W) < 1e-12
    np.testing.assert_allclose(operator.diagonal(), np.diag(dense), rtol=1e-13)
    np.testing.assert_allclose(operator.column(50), dense[:, 50], atol=1e-13 * np.abs(dense).max())
    indices = [50, 0, 3, 3, rows.size - 1, 29]
    np.testing.assert_allclose(operator.columns(indices), dense[:, indices],
                               atol=1e-13 * np.abs(dense).max())


def test_kernel_cache_gives_the_same_products_and_is_dropped_after_the_solve():
    import pickle

    X = _points(40)
    kernel = KERNELS[0]  # two RBF terms and a constant
    operator = JointKernelOperator(kernel, X, True, noise=np.full(200, 1e-3))
    V = np.random.default_rng(0).normal(size=(200, 2))
    plain = operator.matvec(V)
    with operator.kernel_cache():
        first = operator.matvec(V)
        cached = operator._kernel_cache
        assert sorted(cached) == [0, 2] and all(len(blocks) == 1 for blocks in cached.values())
        second = operator.matvec(V[:, :1])  # other right-hand sides, the same matrices
        assert pickle.loads(pickle.dumps(operator))._kernel_cache is None
    np.testing.assert_array_equal(first, plain)
    assert _relative(second, operator.matvec(V[:, :1])) < 1e-13
    assert operator._kernel_cache is None
    with operator.kernel_cache(max_bytes=2 * 40**2 * 8 - 1):  # two 40 x 40 matrices do not fit
        assert operator._kernel_cache is None
    matern = JointKernelOperator(KERNELS[1], X, True)  # no RBF term: nothing to keep
    with matern.kernel_cache():
        assert matern._kernel_cache is None


def test_a_cg_fit_keeps_no_kernel_matrices():
    X = np.random.default_rng(0).uniform(-2, 2, size=(40, 3))
    y = np.sin(X).sum(axis=1)
    G = np.cos(X)
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.5, 0.8])
    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor

    cg = GIGaussianProcessRegressor(kernel, alpha=1e-4, gradient_alpha=1e-4, optimizer=None, solver="cg")
    cg.fit(X, y, G)
    dense = GIGaussianProcessRegressor(kernel, alpha=1e-4, gradient_alpha=1e-4, optimizer=None,
                                       solver="cholesky").fit(X, y, G)
    assert all(operator._kernel_cache is None for _, operator, _ in cg._cg.groups)
    X_test = np.random.default_rng(1).uniform(-2, 2, size=(5, 3))
    mean, std = cg.predict(X_test, return_std=True)
    mean_dense, std_dense = dense.predict(X_test, return_std=True)
    np.testing.assert_allclose(mean, mean_dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, std_dense, rtol=1e-4, atol=1e-6)


def test_supported_kernels():
    assert supports_matrix_free(KERNELS[0], 4)
    assert not supports_matrix_free(Matern(1.0, nu=1.5), 4)  # phi'' unbounded at zero distance
    assert not supports_matrix_free(DotProduct(), 4)
    assert not supports_matrix_free(RBF(1.0) * RBF(2.0), 4)
    with pytest.raises(TypeError, match="matrix-free"):
        JointKernelOperator(DotProduct(), _points(), True)


def test_pivoted_cholesky_preconditioner():
    X = _points(20)
    kernel = ConstantKernel(1.0) * RBF(LENGTHS)
    noise = np.full(100, 1e-3)
    operator = JointKernelOperator(kernel, X, True, noise=noise)
    K = joint_kernel(kernel, X) + np.diag(noise)
    full = PivotedCholeskyPreconditioner(operator, rank=100)
    assert full.rank <= 100
    R = np.random.default_rng(0).normal(size=(100, 2))
    # at full rank the low-rank part is K itself: P^-1 K = I up to the diagonal floor
    assert _relative(full.solve(K @ R), R) < 1e-6
    partial = PivotedCholeskyPreconditioner(operator, rank=10)
    assert partial.rank == 10
    P = partial.L @ partial.L.T + np.diag(partial.D)
    assert _relative(partial.solve(R), np.linalg.solve(P, R)) < 1e-10
    assert partial.logdet() == pytest.approx(np.linalg.slogdet(P)[1], rel=1e-10)
    # the pivots are the largest remaining diagonal entries: all distinct
    assert len(set(partial.pivots.tolist())) == 10


def test_blocked_pivots_are_as_good_as_one_at_a_time():
    # pairs of nearly equal points: a block of the largest diagonal entries holds both
    # members of a pair, and the second adds almost nothing once the first is a pivot
    rng = np.random.default_rng(3)
    base = rng.uniform(-2, 2, size=(40, 3))
    X = np.vstack([base, base + 1e-4 * rng.normal(size=base.shape)])
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.5, 0.8])
    operator = JointKernelOperator(kernel, X, True, noise=np.full(320, 1e-6))
    K = joint_kernel(kernel, X)
    rank = 70  # more than one block

    def remaining_trace(L):
        return np.trace(K) - np.sum(L**2)

    # the textbook greedy pivoted Cholesky on the dense matrix
    L = np.zeros((320, rank))
    diag = np.diag(K).copy()
    for k in range(rank):
        pivot = int(np.argmax(diag))
        col = (K[:, pivot] - L[:, :k] @ L[pivot, :k]) / np.sqrt(diag[pivot])
        L[:, k] = col
        diag = np.maximum(diag - col**2, 0.0)
    preconditioner = PivotedCholeskyPreconditioner(operator, rank)
    assert preconditioner.rank == rank
    # the same low-rank part: L L^T is K's on the pivots' columns
    np.testing.assert_allclose(preconditioner.L @ preconditioner.L[preconditioner.pivots].T,
                               K[:, preconditioner.pivots], atol=1e-8)
    assert remaining_trace(preconditioner.L) <= 1.05 * remaining_trace(L)  # measured 0.90
    # no pivot at the twin of an earlier one: a twin's column is almost its partner's
    points = preconditioner.pivots % 80
    components = preconditioner.pivots // 80
    twins = set(zip(points % 40, components))
    assert len(twins) == rank


def test_blocked_pivots_are_the_one_at_a_time_pivots_without_ties():
    # rows scaled apart so that no two diagonal entries tie: the same pivots, in order
    rng = np.random.default_rng(4)
    X = rng.uniform(-2, 2, size=(50, 3))
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.5, 0.8])
    scale = rng.uniform(0.5, 2.0, size=200)
    operator = JointKernelOperator(kernel, X, True, noise=np.full(200, 1e-6), row_scale=scale)
    K = scale[:, None] * joint_kernel(kernel, X) * scale[None, :]
    rank = 90
    diag, L, pivots = np.diag(K).copy(), np.zeros((200, rank)), []
    for k in range(rank):
        pivot = int(np.argmax(diag))
        L[:, k] = (K[:, pivot] - L[:, :k] @ L[pivot, :k]) / np.sqrt(diag[pivot])
        diag = np.maximum(diag - L[:, k] ** 2, 0.0)
        diag[pivots + [pivot]] = 0.0
        pivots.append(pivot)
    preconditioner = PivotedCholeskyPreconditioner(operator, rank)
    np.testing.assert_array_equal(preconditioner.pivots, pivots)
    np.testing.assert_allclose(preconditioner.L, L, atol=1e-9)


def test_preconditioner_rank_grows_as_the_system_shrinks():
    assert preconditioner_rank(100_000) == 300
    assert preconditioner_rank(30_000) == 1000
    assert preconditioner_rank(15_000) == 2000
    assert preconditioner_rank(10) == 2000
    X = _points(5)
    operator = JointKernelOperator(ConstantKernel(1.0) * RBF(LENGTHS), X, True, noise=np.full(25, 1e-3))
    assert PivotedCholeskyPreconditioner(operator, preconditioner_rank(25)).rank <= 25  # capped by N


def test_pcg_equals_cholesky_and_the_preconditioner_cuts_iterations():
    X = np.random.default_rng(0).uniform(-2, 2, size=(60, 3))
    kernel = ConstantKernel(1.0) * RBF([1.0, 1.5, 0.8])
    noise = np.full(240, 1e-3)
    operator = JointKernelOperator(kernel, X, True, noise=noise)
    K = joint_kernel(kernel, X) + np.diag(noise)
    B = np.random.default_rng(1).normal(size=(240, 2))
    reference = linalg.cho_solve(linalg.cho_factor(K), B)
    solution, preconditioner, info = solve_joint_system(operator, B, rank=100, tol=1e-12)
    assert info["converged"] and info["rank"] == 100
    assert _relative(solution, reference) < 1e-9
    _, plain = conjugate_gradients(operator.matvec, B, tol=1e-12, max_iter=2000)
    assert plain["iterations"] > 2 * info["iterations"]  # measured 886 against 128


def test_pcg_warns_when_it_stops_early():
    X = np.random.default_rng(0).uniform(-2, 2, size=(40, 2))
    operator = JointKernelOperator(RBF(3.0), X, True, noise=np.full(120, 1e-12))
    with pytest.warns(ConvergenceWarning, match="Conjugate gradients stopped after 5 iterations"):
        _, _, info = solve_joint_system(operator, np.ones(120), rank=2, max_iter=5)
    assert not info["converged"]


def test_resolve_solver():
    kernel = KERNELS[0]
    assert resolve_solver("auto", CG_MIN_ROWS - 1, kernel, 4) == "cholesky"
    assert resolve_solver("auto", CG_MIN_ROWS, kernel, 4) == "cg"
    assert resolve_solver("auto", CG_MIN_ROWS, DotProduct(), 4) == "cholesky"
    assert resolve_solver("auto", CG_MIN_ROWS, kernel, 4, has_jacobian=True) == "cholesky"
    assert resolve_solver("cg", 10, kernel, 4) == "cg"
    assert resolve_solver("cholesky", 10**6, kernel, 4) == "cholesky"
    with pytest.raises(ValueError, match="solver='cg' needs a kernel"):
        resolve_solver("cg", 10, Matern(1.0, nu=1.5), 4)
    with pytest.raises(ValueError, match="with dZdX"):
        resolve_solver("cg", 10, kernel, 4, has_jacobian=True)


@pytest.mark.parametrize("search_subset", [False, True])
def test_gradient_noise_kernel_in_the_cg_solve_and_the_search_subset(search_subset):
    # GradientWhiteKernel has zero blocks: its diagonal must still reach the matrix-free
    # operator (else CG solves another system), and the search subset must keep its units
    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor, GradientWhiteKernel

    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, size=(30, 2)) * [1.0, 5.0]  # unequal scales: the noise units matter
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    G = np.c_[np.cos(X[:, 0]), np.full(30, 0.1)] + rng.normal(0, 0.3, size=(30, 2))
    kernel = ConstantKernel(1.0) * RBF([1.0, 5.0]) + GradientWhiteKernel([0.05, 0.2])
    if search_subset:
        from sklearn_gi.kernels._joint import JointObservations
        from sklearn_gi.kernels._iterative import search_subset as subset_of

        scale = X.std(axis=0)
        full = JointObservations(X, y[:, None], G[:, None, :], noise_scale=scale)
        rows = np.array([1, 4, 9, 20])
        sub, _ = subset_of(rows, X, y[:, None], G[:, None, :], None, np.zeros(90),
                           noise_scale=full.noise_scale)
        expected = full.kernel_noise(kernel).reshape(3, 30)[:, rows].ravel()
        np.testing.assert_allclose(sub.kernel_noise(kernel), expected, rtol=1e-12)
        gp = GIGaussianProcessRegressor(kernel, n_search_samples=12, random_state=0).fit(X, y, G)
        assert gp.search_samples_.shape == (12,)
        return
    common = dict(alpha=1e-3, optimizer=None)
    exact = GIGaussianProcessRegressor(kernel, solver="cholesky", **common).fit(X, y, G)
    cg = GIGaussianProcessRegressor(kernel, solver="cg", **common).fit(X, y, G)
    X_test = rng.uniform(-2, 2, size=(5, 2))
    np.testing.assert_allclose(cg.predict(X_test), exact.predict(X_test), atol=1e-7)
    np.testing.assert_allclose(cg.predict_gradient(X_test), exact.predict_gradient(X_test), atol=1e-7)
