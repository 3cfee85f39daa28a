"""Gaussian process regression on values and input-gradients (gradient-enhanced kriging)."""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
from scipy import linalg
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, WhiteKernel
from sklearn.preprocessing._data import _handle_zeros_in_scale
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.optimize import _check_optimize_result
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._threads import joint_fit_work, joint_predict_work, limit_blas_threads
from ..kernels._iterative import IterativeJointSolution, search_subset
from ..kernels._solvers import resolve_solver
from ..utils._validation import (
    check_feature_jacobian,
    check_finite_output,
    check_finite_scale,
    check_gradient_inputs,
    no_half_fitted_model,
    validate_data_unknown_values,
)
from ..kernels._derivative_kernels import Context, compile_kernel
from ..kernels._joint import JointObservations
from ._kernels import GradientWhiteKernel

__all__ = ["GIGaussianProcessRegressor", "HyperparameterWarning", "JitterWarning"]

# relative jitter (times the diagonal) tried in turn when a Cholesky fails
_JITTER_STEPS = (0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4)
# relative residual of the final solve above which the next jitter is tried (only
# after a search on a subset, see _factorize)
_RESIDUAL_TOL = 1e-6


class JitterWarning(UserWarning):
    """The joint covariance needed extra diagonal jitter to be factorised."""


class HyperparameterWarning(UserWarning):
    """The data do not determine the kernel's hyperparameters (the likelihood is nearly flat)."""


# a change of the log likelihood below which the length scales count as undetermined:
# a likelihood ratio of e^3 = 20, "strong evidence" on Kass and Raftery's scale
_UNDETERMINED_NATS = 3.0
# the furthest the length scales are moved when the data do not determine them
_UNDETERMINED_MAX_FACTOR = 1e3


def _cholesky_with_jitter(build, steps=_JITTER_STEPS):
    """Lower Cholesky factor of ``build()``, adding relative diagonal jitter when it fails.

    ``build`` returns a fresh copy of the matrix, which the factorisation
    overwrites (one ``N x N`` array at a time); it is called again only when an
    attempt fails. Returns ``(L, jitter)`` with the relative jitter used, or
    ``(None, None)`` when even the largest one fails or the matrix is not finite.
    """
    for jitter in steps:
        K = build()
        if not np.all(np.isfinite(K)):
            return None, None
        if jitter:
            K[np.diag_indices_from(K)] *= 1.0 + jitter
        try:
            return _cholesky_in_place(K), jitter
        except linalg.LinAlgError:
            continue
    return None, None


def _cholesky_in_place(K):
    """Lower Cholesky factor of the symmetric ``K``, reusing its memory (K is destroyed)."""
    # the transpose of a C-ordered symmetric matrix is itself in Fortran order: no copy
    return linalg.cholesky(K.T, lower=True, overwrite_a=True, check_finite=False)


def _likelihood_adjoint(L, a, n_outputs):
    """An adjoint ``A`` with ``sum(A * dK) = sum((a a^T - k inv(K)) * dK)`` for symmetric ``dK``.

    Computed in the memory of ``L`` (destroyed) and kept triangular: for a
    symmetric ``dK`` the strict lower triangle counted twice stands for both,
    which saves symmetrising an ``N x N`` matrix.
    """
    inv, info = linalg.lapack.dpotri(L, lower=1, overwrite_c=1)
    if info != 0:
        raise linalg.LinAlgError("potri failed")
    inv *= -float(n_outputs)
    # lower triangle += a a^T (BLAS syrk, in place); potri left the upper one zero
    inv = linalg.blas.dsyrk(1.0, a.T, beta=1.0, c=inv, trans=1, lower=1, overwrite_c=1)
    inv *= 2.0
    inv[np.diag_indices_from(inv)] *= 0.5
    return inv.T  # C-contiguous (upper triangular): sum(A * dK) is unchanged


_MAX_LBFGS_RESTARTS = 5
# half-width (log units, a factor e^2 = 7.4) of the box of the restart that follows a
# search stuck at a poor start (see _constrained_optimization)
_TRUST_STEP = 2.0
# the default kernel's second, short-scale component at the start of its search:
# amplitude and length scales relative to the long one's
_SHORT_AMPLITUDE = 1e-2
_SHORT_RATIO = 0.1
_CONSTANT_AMPLITUDE = 0.1


class _Stalled(Exception):
    pass


_GRADIENT_STALL = {"patience": 5, "band": 1e-4, "tol": 1e-5}
# L-BFGS-B corrections kept with derivatives observed (scipy's default is 10): the
# default kernel has 2d + 3 hyperparameters; measured on the suite's GI GP fits
# (26 cells, 2 seeds) 30 saves 4% of the evaluations (wing weight, n=100: 15%)
# at the same errors
_GRADIENT_LBFGS_MEMORY = 30
# the default kernel's search adds a second screened start (the candidate at the
# standard deviations) up to this many rows of the joint system (one likelihood
# evaluation then costs under ~25 ms on one core): measured at wing weight (3
# seeds, one thread), n=20 (220 rows): median NRMSE 5.0e-3 in 0.23 s against
# 6.6e-3 in 0.07 s from the best candidate alone; n=100 (1,100 rows): one start
# 2.0e-4 in 2.1 s, two starts the same error in 7.0 s
_SECOND_START_MAX_ROWS = 1000
# n_search_samples="auto": above this many joint rows the hyperparameter search
# runs on a random subset of this many rows (then one solve of the full system):
# see benchmarks/results/water_flow.md
SEARCH_MAX_ROWS = 2000
# ... and then continues from its optimum on a larger random subset (the first
# one plus more samples, all of them when the system has at most this many rows)
# for at most _REFINE_EVALUATIONS likelihood evaluations: the optimum of a small
# subset is biased (water flow, 9,000 rows: the short-scale amplitude 500 times
# too small, the overall one 30 times), and a warm start needs far fewer
# evaluations than a search on the larger subset from the screened start
# (measured at 4,500 rows, seed 0: 16 evaluations, RMSE 1.0e-3 in 59 s of one
# core, against 119 s from the screened start). 4,000 rows keep the water-flow
# fit under a minute of one core: RMSE 7.0e-4 to 1.0e-3 in 39-58 s (3 seeds; the
# first search alone 1.6e-3 to 3.2e-3, all rows 5.5e-4 in 800 s; see
# benchmarks/results/water_flow.md)
REFINE_MAX_ROWS = 4000
_REFINE_EVALUATIONS = 15
# common factors of the amplitudes tried in turn when the first optimum is singular
# on the larger subset (see _refine)
_REFINE_LOWERING = (1.0, 1e-1, 1e-2, 1e-3)


class _StallTracker:
    """Objective wrapper that stops L-BFGS-B once it only samples rounding noise.

    The log likelihood of a nearly noise-free joint system carries a rounding
    noise far above L-BFGS-B's default tolerance (about ``1e-5`` relative once
    the length scales are long), and its line search then spends dozens of
    evaluations on that noise before giving up. The search stops after
    ``patience`` consecutive evaluations within ``band`` (relative) of the best
    value that improve on it by less than ``tol`` (relative); evaluations far
    from the best (line-search overshoots) neither count nor reset, and only
    evaluations whose gradient is ten times smaller than at the start count:
    a line search that backtracks to one point far from the optimum is not
    stalled on noise. The defaults are tight enough that a values-only fit
    reaches scikit-learn's optimum; with derivatives observed
    (:data:`_GRADIENT_STALL`) the search stops once five evaluations in a row
    gain less than ``1e-5`` relative (0.08 nats at wing weight's 7500):
    measured on the wing-weight and 2-D suite fits that saves a fifth of the
    evaluations and changes no test error by more than 1%.
    """

    def __init__(self, func, patience=8, band=1e-5, tol=1e-7):
        self.func, self.patience, self.band, self.tol = func, patience, band, tol
        self.best_value, self.best_theta, self.stalled = np.inf, None, 0
        self.initial_gradient = None
        self.hit_nonfinite = False

    def __call__(self, theta):
        value, grad = self.func(theta)
        if not np.isfinite(value):
            self.hit_nonfinite = True
        best = self.best_value
        scale = max(abs(best), 1.0) if np.isfinite(best) else np.inf
        norm = float(np.linalg.norm(grad))
        if self.initial_gradient is None and np.isfinite(value):
            self.initial_gradient = norm
        near_optimum = self.initial_gradient is not None and norm <= 0.1 * self.initial_gradient
        if value < best - self.tol * scale or not np.isfinite(best):
            self.stalled = 0
        elif near_optimum and abs(value - best) <= self.band * scale:
            self.stalled += 1
        if value < best:
            self.best_value, self.best_theta = float(value), np.array(theta, dtype=float)
        if self.stalled >= self.patience:
            raise _Stalled
        return value, grad


class GIGaussianProcessRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Gaussian process regression conditioned on values and input-gradients.

    The gradient-enhanced (derivative) Gaussian process, also called
    gradient-enhanced kriging: the prior over a function and its first
    derivatives is jointly Gaussian, with covariances obtained by differentiating
    the kernel, so observed partial derivatives enter the posterior exactly like
    observed values. With ``n`` samples of ``d`` inputs the joint system has
    ``n (1 + d)`` rows; it is built blockwise with array operations and factored
    by Cholesky. Hyperparameters are chosen by maximising the log marginal
    likelihood with its analytic gradient (L-BFGS-B, optional restarts), as in
    :class:`sklearn.gaussian_process.GaussianProcessRegressor`, whose API this
    class follows. Without ``dYdX`` it is that estimator (same kernel, same
    optimum).

    Parameters
    ----------
    kernel : kernel instance, default=None
        A scikit-learn kernel built from ``RBF`` (isotropic or anisotropic),
        ``Matern`` (``nu`` in 1.5, 2.5, inf), ``RationalQuadratic``, ``DotProduct``,
        ``ConstantKernel`` and ``WhiteKernel`` (noise on values only) by sums
        and products, plus :class:`GradientWhiteKernel` (noise on the
        derivatives only, fitted like ``WhiteKernel``) added to them; any
        other is a ``TypeError``. ``None`` means an unknown
        constant plus a sum of two anisotropic squared-exponentials with fitted
        amplitudes, ``ConstantKernel(0.1, (1e-6, 1e5)) + ConstantKernel(1.0,
        (1e-5, 1e5)) * RBF(length_scale=X_std, ...) + ConstantKernel(1e-2,
        (1e-6, 1e5)) * RBF(length_scale=X_std / 10, ...)``: a fitted mean level
        (as ordinary kriging estimates it), a long-scale trend and a
        short-scale correction, each with its own length scale per input,
        bounded at ``[1e-2, 1e3]`` (long) and ``[1e-3, 1e3]`` (short) times
        each input's standard deviation, which is the same model as on
        standardized inputs. Unlike scikit-learn's fixed
        isotropic default it is accurate as it is: on exact data the
        likelihood gains hundreds of nats over one scale (wing weight, n=100:
        7540 against 6810) and the error halves; one scale is the special
        case of a vanishing second amplitude. The search starts from the best
        of a few length scales (0.3 to 30 standard deviations, each with its
        maximum-likelihood amplitude), which avoids the poor local optima a
        single plain start often finds once derivatives are observed; while
        the joint system has at most 1,000 rows (``n * (1 + d)``, or ``n``
        without gradients), where a second search is cheap, also from the
        candidate at the standard deviations (with its maximum-likelihood
        amplitude), which often reaches another
        optimum, and keeps the higher likelihood. More starts:
        ``n_restarts_optimizer``. A length scale at its upper bound marks
        an input the data do not depend on and an amplitude at its lower bound
        a function that needs one scale only; with the default kernel neither
        raises a ``ConvergenceWarning``.
    alpha : float or array-like of shape (n_samples,), default=1e-10
        Value added to the diagonal of the values' covariance: the variance of
        value noise (in units of the normalized targets when ``normalize_y``),
        and a jitter that keeps the system positive definite.
    gradient_alpha : float, default=None
        Noise variance of the gradient observations, for inputs scaled by
        their standard deviation: ``dY/dX_c`` gets ``gradient_alpha /
        std(X_c)^2`` on its diagonal (in normalized-target units). Simulators'
        derivatives are often noisier than their values: set this larger,
        or add a :class:`GradientWhiteKernel` to the kernel to fit it by
        maximum likelihood (this fixed value stays as its floor).
        ``None`` uses ``alpha`` (its mean when it is an array).
    optimizer : "fmin_l_bfgs_b", callable or None, default="fmin_l_bfgs_b"
        As in scikit-learn: a callable ``optimizer(obj_func, initial_theta,
        bounds)`` returning ``(theta_opt, func_min)``; ``None`` keeps the
        kernel's hyperparameters.
    n_restarts_optimizer : int, default=0
        Extra optimizer runs from log-uniform random starts within the bounds.
    normalize_y : bool, default=True
        Standardize each target over its known values (and divide its
        gradients by the same scale) before fitting; predictions are
        transformed back.
    copy_X_train : bool, default=True
        Store a copy of the training inputs rather than a reference.
    random_state : int, RandomState instance or None, default=None
        Seeds the optimizer restarts and the subset of ``n_search_samples``.
    solver : {"auto", "cholesky", "cg"}, default="auto"
        How the final joint system is solved. ``"cholesky"``: a dense
        factorisation, ``(n (1 + d))^2`` doubles of memory and ``(n (1 +
        d))^3 / 3`` flops. ``"cg"``: preconditioned conjugate gradients
        (pivoted-Cholesky preconditioner of rank ``3e7 / N`` between 300
        and 2,000 for ``N`` joint rows) with matrix-free products of the
        joint kernel, ``O(n^2 d)`` time per iteration and ``O(n d)`` memory
        beyond the preconditioner's (about three ``N x rank`` arrays) and,
        during the solve, the RBF terms' ``n x n`` kernel matrices when they
        fit in 2 GB (``n <= 11,585`` for the default kernel's two); the kernel
        must be a sum of constant-scaled RBF, Matern (nu 2.5 or inf),
        RationalQuadratic, ConstantKernel and WhiteKernel terms, without
        ``dZdX``. ``"auto"``: ``"cg"`` from 15,000 joint rows on when the
        kernel allows, Cholesky below: Cholesky was faster at every size
        measured, but its peak memory is about 2.2 times the ``8 N^2``
        bytes of the matrix (1.8 GB at 10,000 rows), 4 GB at 15,000
        (``benchmarks/results/solver_switch.md``). CG converges in few
        iterations only when the noise (``alpha``, ``gradient_alpha``) is
        not tiny against the kernel's variance (measured at 30,000 rows:
        147 iterations to a residual of 1e-6 at ``alpha=1e-2``, 1.1e-4 at
        the 1,000-iteration cap at ``alpha=1e-4``); otherwise it stops at
        that cap with a ``ConvergenceWarning``. With
        ``"cg"``, ``predict(return_std=True)`` and ``predict_gradient(...,
        return_std=True)`` run one CG solve per chunk of test points
        (affordable for tens of points, not thousands), and
        ``log_marginal_likelihood_value_`` is NaN (no factor, no
        determinant).
    n_search_samples : "auto", int or None, default="auto"
        Number of samples the hyperparameter search sees, drawn at random
        (seeded by ``random_state``); the final solve always uses all of
        them. ``None``: all. An int: one search on that many. ``"auto"``:
        all while the joint system has at most 2,000 rows or without
        gradients (scikit-learn's search), else the search on ``2000 // (1
        + d)`` samples (each likelihood evaluation then costs well under a
        second), continued from its optimum for at most 15 evaluations on
        ``4000 // (1 + d)`` samples that include them (all when there are
        fewer): a small subset's optimum is biased, not merely noisy.
        Measured on the water-flow function (8-D, 1000 Sobol points with
        gradients, 9,000 rows, 3 seeds, one core): RMSE 7.0e-4 to 1.0e-3 in
        39-58 s, against 1.6e-3 to 3.2e-3 in 27-32 s for the first search
        alone and 5.5e-4 in 13 minutes for the search on all rows. After a
        search on a subset the final factorisation adds a relative jitter of
        at least ``1e-12`` (documented here, so without a warning; a
        :class:`JitterWarning` says when more was needed), and a solve whose
        relative residual exceeds ``1e-6`` (hyperparameters that are
        numerically singular on all samples) is repeated with the next one.
    n_threads : int or None, default=None
        BLAS threads used while fitting and predicting. None: one thread while
        the joint system has fewer than about 2,000 rows, where more threads
        are slower even on idle cores and many times slower on busy ones (see
        :ref:`threads`), else the BLAS library's setting. The fitted model
        does not depend on the environment's thread count while one thread is
        used; with several, rounding differs and can move the optimum found.

    Attributes
    ----------
    X_train_ : ndarray of shape (n_samples, n_features)
    y_train_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Training targets (normalized when ``normalize_y``).
    kernel_ : kernel instance
        The kernel with the fitted hyperparameters.
    alpha_ : ndarray of shape (n_samples * (1 + n_gradients),) or \
            (n_samples * (1 + n_gradients), n_outputs)
        Dual coefficients of the joint observations, component-major (all
        values, then all ``dY/dX_1``, ...); zero for unknown partials.
        ``n_gradients`` is 0 when fitted without gradients.
    L_ : ndarray or None
        Lower Cholesky factor of the (observed part of the) joint covariance;
        a list of factors, one per pattern of known partials, when the outputs
        of a multi-output fit have different NaN patterns; ``None`` with
        ``solver_ == "cg"``.
    log_marginal_likelihood_value_ : float
        Log marginal likelihood of ``kernel_.theta``.
    jitter_ : float
        Relative diagonal jitter the final factorisation needed (0 normally;
        a :class:`JitterWarning` is raised otherwise).
    solver_ : {"cholesky", "cg"}
        The solver used.
    n_iter_cg_ : int
        Conjugate-gradient iterations of the final solve (only with ``solver_ == "cg"``).
    search_samples_ : ndarray of shape (n_search_samples,) or None
        Indices of the samples the hyperparameter search used; ``None`` for all.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    See Also
    --------
    sklearn.gaussian_process.GaussianProcessRegressor : The values-only model,
        which ``dYdX=None`` reproduces.
    GIKernelRidge : The same joint system with fixed hyperparameters.

    Notes
    -----
    The covariance of ``df/dx_i`` at ``x`` with ``f`` at ``x'`` is
    ``dk(x, x')/dx_i``, and of ``df/dx_i`` with ``df/dx'_j`` it is
    ``d^2 k / dx_i dx'_j`` (Rasmussen and Williams 2006, section 9.4). NaN
    partials in ``dYdX`` are left out of the joint system exactly: only known
    observations enter. Outputs of a multi-output fit share the kernel, and the
    log marginal likelihood is their sum.

    Noisy derivatives (Monte Carlo payoffs with pathwise derivatives): add
    ``WhiteKernel() + GradientWhiteKernel(np.full(d, 0.1))`` to the kernel, so
    that the value noise and one derivative-noise variance per input are
    fitted by maximum likelihood (see the user guide, "Noisy derivatives").

    A search from a poor start (a length scale far longer than the inputs'
    spread, where L-BFGS-B's first step lands on a singular corner of the
    bounds) is restarted within a box of a factor ``e^2`` around its start
    until it moves. With at most 1,000 joint rows the result is checked
    against all length scales 3 times longer and shorter (amplitudes refitted):
    a likelihood within 3 nats raises a :class:`HyperparameterWarning` (the
    data do not determine the length scales, e.g. 4 points of ``x sin x``),
    a higher one a ``ConvergenceWarning``. When derivatives are observed and
    the longer ones are within 3 nats, the length scales are lengthened in
    steps of ``sqrt(3)`` as long as the likelihood stays within 3 nats of the
    optimum (up to the bounds or 1,000 times the optimum's): the smoothest
    kernel the data allow.

    On exact (noise-free) data the likelihood drives the length scales up and
    the noise to its floor: the default ``alpha=1e-10`` is that floor. When the
    joint matrix is still numerically singular (duplicate points, very long
    length scales) a relative jitter of up to ``1e-4`` times its diagonal is
    added with a :class:`JitterWarning`; during the hyperparameter search such
    points score ``-inf``, so the optimizer keeps away from them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(8, 2))
    >>> y = np.sin(X[:, 0]) * X[:, 1]
    >>> dYdX = np.c_[np.cos(X[:, 0]) * X[:, 1], np.sin(X[:, 0])]
    >>> gp = GIGaussianProcessRegressor(random_state=0).fit(X, y, dYdX)
    >>> X_test = rng.uniform(-2, 2, size=(200, 2))
    >>> err = gp.predict(X_test) - np.sin(X_test[:, 0]) * X_test[:, 1]
    >>> bool(np.sqrt(np.mean(err ** 2)) < 0.05)
    True
    >>> mean, std = gp.predict(X_test[:3], return_std=True)
    >>> gp.predict_gradient(X_test[:3]).shape
    (3, 2)
    """

    __metadata_request__fit = {"dYdX": True, "dZdX": True}

    _parameter_constraints: dict = {
        "kernel": [None, Kernel],
        "alpha": [Interval(Real, 0, None, closed="left"), np.ndarray],
        "gradient_alpha": [None, Interval(Real, 0, None, closed="left")],
        "optimizer": [StrOptions({"fmin_l_bfgs_b"}), callable, None],
        "n_restarts_optimizer": [Interval(Integral, 0, None, closed="left")],
        "normalize_y": ["boolean"],
        "copy_X_train": ["boolean"],
        "random_state": ["random_state"],
        "solver": [StrOptions({"auto", "cholesky", "cg"})],
        "n_search_samples": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        kernel=None,
        *,
        alpha=1e-10,
        gradient_alpha=None,
        optimizer="fmin_l_bfgs_b",
        n_restarts_optimizer=0,
        normalize_y=True,
        copy_X_train=True,
        random_state=None,
        solver="auto",
        n_search_samples="auto",
        n_threads=None,
    ):
        self.kernel = kernel
        self.alpha = alpha
        self.gradient_alpha = gradient_alpha
        self.optimizer = optimizer
        self.n_restarts_optimizer = n_restarts_optimizer
        self.normalize_y = normalize_y
        self.copy_X_train = copy_X_train
        self.random_state = random_state
        self.solver = solver
        self.n_search_samples = n_search_samples
        self.n_threads = n_threads

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @limit_blas_threads(joint_fit_work)
    def fit(self, X, y, dYdX=None, *, dZdX=None):
        """Fit the Gaussian process to values and (optionally) input-gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (or features of raw inputs, see ``dZdX``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values. NaN marks a value that was not observed: it is
            left out of the joint system, and the sample's known partials
            still count (force-only data). An output with no known value
            (gradients only) is determined up to a constant, which is fixed
            so that its predictions average 0 over the training inputs; its
            ``normalize_y`` scale is then the root-mean-square of its partials
            times the inputs' standard deviations.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Gradients of ``y``; NaN marks an unknown partial, which is left
            out of the joint system. ``n_inputs`` is ``n_features`` unless
            ``dZdX`` is given. ``None`` gives scikit-learn's
            ``GaussianProcessRegressor``.
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the columns of ``X`` with respect to the raw inputs
            that ``dYdX`` refers to: the observations are then the
            directional derivatives ``dZdX^T grad f``. Costs
            ``O(n^2 n_features^2)`` memory. The gradient noise is then
            ``gradient_alpha`` itself (the raw inputs' scales are unknown).

        Returns
        -------
        self : GIGaussianProcessRegressor
        """
        with no_half_fitted_model(self):
            return self._fit(X, y, dYdX, dZdX)

    def _fit(self, X, y, dYdX, dZdX):
        X, y = validate_data_unknown_values(self, X, y)
        n, p = X.shape
        y_ndim = y.ndim
        Y = y.reshape(n, -1).astype(np.float64, copy=False)  # y keeps its dtype in validate_data
        k = Y.shape[1]
        G, J, n_inputs = check_gradient_inputs(
            dYdX, dZdX, n_samples=n, n_model_features=p, n_outputs=k, y_ndim=y_ndim,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        check_finite_scale(X, Y, G, dtype=np.float64, estimator=self)
        alpha = self.alpha
        if np.iterable(alpha):
            alpha = np.asarray(alpha, dtype=float).ravel()
            if alpha.shape[0] == 1:
                alpha = alpha[0]
            elif alpha.shape[0] != n:
                raise ValueError(
                    "alpha must be a scalar or an array with one entry per sample: got "
                    f"{alpha.shape[0]} entries for {n} samples."
                )
            elif np.any(alpha < 0) or not np.all(np.isfinite(alpha)):
                raise ValueError("alpha must be finite and non-negative.")
        if n == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")

        x_scale = _handle_zeros_in_scale(X.std(axis=0), copy=True)
        self._y_train_mean, self._y_train_std = _target_scaling(Y, G, J, x_scale, self.normalize_y)
        Yn = (Y - self._y_train_mean) / self._y_train_std

        Gn = None if G is None else G / self._y_train_std[None, :, None]
        self.X_train_ = np.copy(X) if self.copy_X_train else X
        if J is not None and self.copy_X_train:
            J = np.copy(J)
        self._system = JointObservations(self.X_train_, Yn, Gn, J,
                                         noise_scale=x_scale if J is None else None)

        value_noise = np.broadcast_to(np.asarray(alpha, dtype=float), (n,))
        noise = [value_noise]
        if G is not None:
            grad_alpha = self.gradient_alpha
            if grad_alpha is None:
                grad_alpha = float(np.mean(alpha))
            scale = x_scale if J is None else np.ones(n_inputs)
            noise.append(np.repeat(grad_alpha / scale**2, n))
        self._noise = np.concatenate(noise)

        self.kernel_ = self._default_kernel(x_scale) if self.kernel is None else clone(self.kernel)
        self._rng = check_random_state(self.random_state)
        self.y_train_ = Yn[:, 0].copy() if y_ndim == 1 else Yn.copy()
        self._y_ndim = y_ndim
        # unsupported kernels fail before any heavy work
        self._system.kernel_noise(compile_kernel(self.kernel_, p))

        full_system, full_noise = self._system, self._noise
        searched = self.optimizer is not None and self.kernel_.n_dims > 0
        self.search_samples_, refine_samples = self._search_samples(n, searched)

        def use_samples(indices):
            if indices is None:
                self._system, self._noise = full_system, full_noise
            else:  # the search sees a random subset only
                self._system, self._noise = search_subset(indices, self.X_train_, Yn, Gn, J, full_noise,
                                                          noise_scale=full_system.noise_scale)

        use_samples(self.search_samples_)
        if searched:
            def obj_func(theta, eval_gradient=True):
                if eval_gradient:
                    lml, grad = self._log_marginal_likelihood(theta, True)
                    return -lml, -grad
                return -self._log_marginal_likelihood(theta, False)

            starts = [self.kernel_.theta]
            if self.kernel is None:
                # the best of a few length scales; a small system can afford the
                # plain start too, which often finds another optimum
                best, other = self._screened_starts(x_scale)
                small = self._system.n_observations <= _SECOND_START_MAX_ROWS
                starts = [best, other] if small and not np.array_equal(best, other) else [best]
            if self.n_restarts_optimizer > 0:
                bounds = self.kernel_.bounds
                if not np.isfinite(bounds).all():
                    raise ValueError(
                        "Multiple optimizer restarts (n_restarts_optimizer>0) "
                        "requires that all bounds are finite."
                    )
                starts += [self._rng.uniform(bounds[:, 0], bounds[:, 1])
                           for _ in range(self.n_restarts_optimizer)]
            optima, caught, passed = [], [], set()
            for theta0 in starts:
                # only the chosen run's convergence warnings concern the user
                with warnings.catch_warnings(record=True) as records:
                    warnings.simplefilter("always", ConvergenceWarning)
                    optima.append(self._constrained_optimization(obj_func, theta0, self.kernel_.bounds))
                caught.append([r for r in records if issubclass(r.category, ConvergenceWarning)])
                for record in records:  # anything else passes through, once
                    key = (record.category, str(record.message))
                    if not issubclass(record.category, ConvergenceWarning) and key not in passed:
                        passed.add(key)
                        warnings.warn_explicit(record.message, record.category, record.filename,
                                               record.lineno)
            values = [value for _, value in optima]
            best = int(np.argmin(values))
            for record in caught[best]:
                warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
            if not np.isfinite(values[best]):
                raise ValueError(
                    "The log marginal likelihood is -inf at every optimizer result: the joint "
                    f"covariance of kernel {self.kernel_} is not positive definite on this "
                    "data. Increase alpha (and gradient_alpha) or check for duplicate samples "
                    "with conflicting values or gradients."
                )
            self.kernel_.theta = optima[best][0]
            if refine_samples is not False:
                use_samples(refine_samples)
                if self._refine(obj_func):
                    self.search_samples_ = refine_samples
            walked = False
            if refine_samples is False and self._system.n_observations <= _SECOND_START_MAX_ROWS:
                # before the bounds check: the walk may move the kernel to its bounds
                walked = self._warn_if_undetermined(-values[best])
            with warnings.catch_warnings():
                if self.kernel is None:
                    if walked:
                        # the walk's amplitudes follow its length scales up to their bounds,
                        # which the HyperparameterWarning already explains
                        warnings.filterwarnings("ignore", message=".*constant_value is close to the "
                                                "specified upper bound", category=ConvergenceWarning)
                    # a default length scale at its upper bound (1e3 standard deviations)
                    # marks an input the data do not depend on, and an amplitude at its
                    # lower bound a function that needs one of the two scales only:
                    # neither is a failed search
                    warnings.filterwarnings("ignore", message=".*k2__length_scale is close to "
                                            "the specified upper bound", category=ConvergenceWarning)
                    warnings.filterwarnings("ignore", message=".*k1__constant_value is close "
                                            "to the specified lower bound", category=ConvergenceWarning)
                self.kernel_._check_bounds_params()
        self._system, self._noise = full_system, full_noise
        self._factorize()
        unanchored = ~np.isfinite(Y).any(axis=0)
        if np.any(unanchored):
            # derivatives alone fix a function up to a constant: choose the one whose
            # predictions average 0 over the training inputs
            values, _ = self._means(self.X_train_, True, False)
            self._y_train_mean = self._y_train_mean - np.where(
                unanchored, values.mean(axis=0) * self._y_train_std, 0.0)
        return self

    def _search_samples(self, n, searched):
        """Samples of the search and of its refinement: sorted indices, None for all.

        Returns ``(search, refine)``; ``refine`` is False when the search is
        not continued on more samples (everything but ``"auto"`` above
        :data:`SEARCH_MAX_ROWS` joint rows), else a superset of ``search``
        (None: all samples).
        """
        rows_per_sample = 1 + self._system.n_gradients
        if not searched or self.n_search_samples is None:
            return None, False
        auto = self.n_search_samples == "auto"
        if auto:
            # values only: scikit-learn's search on every sample
            if rows_per_sample == 1 or n * rows_per_sample <= SEARCH_MAX_ROWS:
                return None, False
            size = max(1, SEARCH_MAX_ROWS // rows_per_sample)
        else:
            size = int(self.n_search_samples)
        if size >= n:
            return None, False
        search = self._rng.choice(n, size, replace=False)
        if not auto or self.optimizer != "fmin_l_bfgs_b":
            return np.sort(search), False
        refine_size = max(size, REFINE_MAX_ROWS // rows_per_sample)
        if refine_size >= n:
            return np.sort(search), None
        others = np.setdiff1d(np.arange(n), search)
        refine = np.concatenate([search, self._rng.choice(others, refine_size - size, replace=False)])
        return np.sort(search), np.sort(refine)

    def _refine(self, obj_func):
        """Continue the search from ``kernel_.theta`` on the current (larger) system, briefly.

        At most :data:`_REFINE_EVALUATIONS` likelihood evaluations of L-BFGS-B
        (a capped run is the design, not a failure: no ``ConvergenceWarning``).
        A smaller subset's optimum is often numerically singular on more
        samples (on exact data the likelihood grows with the amplitudes and
        length scales up to the edge of singularity, where the noise floor
        ``alpha`` is a vanishing fraction of the variances, and the edge moves
        with the samples' spacing): the amplitudes (constant factors) are
        then lowered, all by the same factor (down to ``1e-3``), until the
        larger system factorises, and the search climbs back from there. When
        none does the first optimum is kept and False returned.
        """
        kernel = self.kernel_
        names = np.concatenate([[h.name] * h.n_elements for h in kernel.hyperparameters
                                if not h.fixed]).astype(str)
        is_amplitude = np.char.endswith(names, "constant_value")
        bounds = kernel.bounds
        for factor in _REFINE_LOWERING:
            start = kernel.theta.copy()
            start[is_amplitude] += np.log(factor)
            start = np.clip(start, bounds[:, 0], bounds[:, 1])
            start_value = obj_func(start, eval_gradient=False)
            if np.isfinite(start_value):
                break
        else:
            return False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theta, value = self._constrained_optimization(obj_func, start, self.kernel_.bounds,
                                                          max_evaluations=_REFINE_EVALUATIONS)
        if np.isfinite(value) and value <= start_value:
            self.kernel_.theta = theta
        return True

    def _screened_starts(self, x_scale):
        """Starting points of the default kernel's search, from a screen of length scales.

        From one start the likelihood search often stops in a poor local optimum
        (short length scales, small amplitude) once derivatives are observed. So
        the long component's length scales are tried at 0.3, 1, 3, 10 and 30
        standard deviations (the short one's at a tenth of them, its amplitude
        at a hundredth), each with its maximum-likelihood overall amplitude
        (closed form for a kernel ``c * R``: ``c = t^T R^-1 t / N``): one
        Cholesky factorisation per candidate. Returns the candidate with the
        highest likelihood and the one at the standard deviations (the plain
        start when that is the best or failed): the likelihood at the start
        does not predict which optimum a search reaches, and these two reach
        different ones most often.
        """
        bounds = self.kernel_.bounds
        candidates = {}
        for multiple in (0.3, 1.0, 3.0, 10.0, 30.0):
            theta = np.clip(self._default_kernel(x_scale, multiple=multiple).theta,
                            bounds[:, 0], bounds[:, 1])
            amplitude = self._amplitude(theta)
            if not np.isfinite(amplitude) or amplitude <= 0:
                continue
            theta = np.clip(self._default_kernel(x_scale, amplitude, multiple).theta,
                            bounds[:, 0], bounds[:, 1])
            value = self._log_marginal_likelihood(theta, False)
            if np.isfinite(value):
                candidates[multiple] = (theta, value)
        plain = self.kernel_.theta
        if not candidates:
            return plain, plain
        best = max(candidates, key=lambda m: candidates[m][1])
        other = candidates[1.0][0] if best != 1.0 and 1.0 in candidates else plain
        return candidates[best][0], other

    def _amplitude(self, theta):
        """Maximum-likelihood factor of the kernel's variances at ``theta``: ``t^T K^-1 t / N``.

        Closed form for a kernel ``c * R`` (the noise on the diagonal is
        ignored); NaN when the joint covariance cannot be factorised.
        """
        system = self._system
        K, _ = self._training_covariance(self.kernel_.clone_with_theta(theta))
        quadratic, count = 0.0, 0
        for group in system.groups:
            Kg = group.select_to_overwrite(K, shared=len(system.groups) > 1)
            try:
                L = _cholesky_in_place(Kg)
            except (linalg.LinAlgError, ValueError):
                return np.nan
            t = group.targets(system.targets)
            quadratic += float(np.sum(t * linalg.cho_solve((L, True), t, check_finite=False)))
            count += t.size
        return quadratic / count

    def _warn_if_undetermined(self, best_value):
        """Warn when the likelihood barely changes with every length scale 3x longer or shorter.

        With very few observations (x sin x from 4 points) the likelihood is
        nearly flat in the length scales, and its maximum, often at a scale
        shorter than the spacing of the points, predicts poorly between them.
        Each direction costs two factorisations: the length scales scaled
        (within their bounds), the amplitudes refitted in closed form.
        Measured: x sin x from 4 points loses 2.0 nats at 3x longer scales;
        every 1-output suite cell at n = 20 (2 seeds) loses 16 nats or more,
        and at n = 100 (up to 1,000 rows) 109 or more.

        When derivatives are observed, the search saw all samples, and 3x
        longer length scales are within :data:`_UNDETERMINED_NATS` of the
        optimum, ``kernel_`` walks on to longer ones in steps of ``sqrt(3)``
        while the likelihood stays within that distance (up to the bounds, or
        :data:`_UNDETERMINED_MAX_FACTOR` times the search's): among the kernels
        the data cannot tell apart, the smoothest. x sin x from 4 points: R^2
        -0.56 / 0.02 (values / derivatives) at the optimum, 0.96 / 0.97 at
        5.2x longer scales, 2.84 nats below it. Returns True when it moved
        ``kernel_``.
        """
        kernel = self.kernel_
        names = np.concatenate([[h.name] * h.n_elements for h in kernel.hyperparameters
                                if not h.fixed]) if kernel.n_dims else np.array([])
        is_length = np.char.endswith(names.astype(str), "length_scale")
        if not np.any(is_length):
            return
        is_amplitude = np.char.endswith(names.astype(str), "constant_value")
        bounds, theta = kernel.bounds, kernel.theta

        def scaled(factor):
            """The length scales times ``factor``, amplitudes refitted: ``(theta, lml)``."""
            moved = theta.copy()
            moved[is_length] += np.log(factor)
            moved = np.clip(moved, bounds[:, 0], bounds[:, 1])
            if np.array_equal(moved[is_length], theta[is_length]):
                return None, -np.inf  # at the bounds: nothing to compare
            if np.any(is_amplitude):
                amplitude = self._amplitude(moved)
                if not np.isfinite(amplitude) or amplitude <= 0:
                    return None, -np.inf
                moved[is_amplitude] += np.log(amplitude)
                moved = np.clip(moved, bounds[:, 0], bounds[:, 1])
            return moved, self._log_marginal_likelihood(moved, False)

        for factor in (3.0, 1.0 / 3.0):
            moved, value = scaled(factor)
            if not np.isfinite(value) or value <= best_value - _UNDETERMINED_NATS:
                continue
            change = (f"with all of them {max(factor, 1 / factor):g} times "
                      f"{'longer' if factor > 1 else 'shorter'} the log marginal likelihood is "
                      f"{value:.4g} against {best_value:.4g} at the search's result")
            if value > best_value + _UNDETERMINED_NATS:
                warnings.warn(
                    f"The hyperparameter search stopped short of the optimum of the length "
                    f"scales: {change}. Start the kernel nearer (length scales comparable to "
                    "the spread of the inputs) or use n_restarts_optimizer.",
                    ConvergenceWarning,
                    stacklevel=6,
                )
                return
            action, walked = "", False
            # values only: scikit-learn's optimum, unchanged; a search on a subset of
            # the samples does not decide for all of them
            if factor > 1 and self._system.n_gradients > 0 and self.search_samples_ is None:
                # walk on while the data still cannot tell the longer scales apart, until
                # the bounds stop the length scales or they are _UNDETERMINED_MAX_FACTOR
                # times the search's
                chosen, chosen_factor = moved, factor
                while chosen_factor * np.sqrt(3.0) <= _UNDETERMINED_MAX_FACTOR:
                    longer, longer_value = scaled(chosen_factor * np.sqrt(3.0))
                    if (not np.isfinite(longer_value) or longer_value <= best_value - _UNDETERMINED_NATS
                            or np.array_equal(longer[is_length], chosen[is_length])):
                        break
                    chosen, chosen_factor, value = longer, chosen_factor * np.sqrt(3.0), longer_value
                self.kernel_.theta = chosen
                walked = True
                action = (f"; longer length scales were chosen, as long as the likelihood stays within "
                          f"{_UNDETERMINED_NATS:g} nats of it ({chosen_factor:.3g} times the "
                          f"search's, log marginal likelihood {value:.4g}): the smoothest fit the "
                          "data allow")
            warnings.warn(
                f"The data do not determine the kernel's length scales: {change} (less "
                f"than {_UNDETERMINED_NATS:g} nats apart){action}. Predictions between the "
                "training points may be unreliable: add data, fix the length scales you know "
                "(length_scale_bounds='fixed'), or choose them by cross-validation.",
                HyperparameterWarning,
                stacklevel=6,
            )
            return walked
        return False

    @staticmethod
    def _default_kernel(x_scale, amplitude=1.0, multiple=1.0):
        """The default kernel; ``amplitude`` scales all its variances, ``multiple`` its length scales."""
        constant = ConstantKernel(_CONSTANT_AMPLITUDE * amplitude, (1e-6, 1e5))
        long = ConstantKernel(amplitude, (1e-5, 1e5)) * RBF(
            length_scale=multiple * x_scale,
            length_scale_bounds=np.column_stack([1e-2 * x_scale, 1e3 * x_scale]))
        short = ConstantKernel(_SHORT_AMPLITUDE * amplitude, (1e-6, 1e5)) * RBF(
            length_scale=_SHORT_RATIO * multiple * x_scale,
            length_scale_bounds=np.column_stack([1e-3 * x_scale, 1e3 * x_scale]))
        return constant + long + short

    def _constrained_optimization(self, obj_func, initial_theta, bounds, max_evaluations=None):
        if self.optimizer == "fmin_l_bfgs_b":
            with_gradients = self._system.n_gradients > 0
            tracker = _StallTracker(obj_func, **(_GRADIENT_STALL if with_gradients else {}))
            # values only: scikit-learn's L-BFGS-B settings, hence its optimum
            options = {"maxcor": _GRADIENT_LBFGS_MEMORY} if with_gradients else {}
            if max_evaluations is not None:  # one capped run, no restarts
                options["maxfun"] = max_evaluations
                try:
                    scipy.optimize.minimize(tracker, initial_theta, method="L-BFGS-B", jac=True,
                                            bounds=bounds, options=options)
                except _Stalled:
                    pass
                return tracker.best_theta, tracker.best_value
            bounds = np.asarray(bounds, dtype=float)
            theta, previous, settled, trust, rescuing = initial_theta, np.inf, False, None, False
            for _ in range(_MAX_LBFGS_RESTARTS + 1):
                try:
                    opt_res = scipy.optimize.minimize(
                        tracker, theta, method="L-BFGS-B", jac=True,
                        bounds=bounds if trust is None else trust, options=options
                    )
                except _Stalled:
                    return tracker.best_theta, tracker.best_value
                # A line search that fails (status 2) or that steps into a
                # numerically singular system (likelihood -inf; it backtracks to
                # its start, which L-BFGS-B takes for convergence) often stops far
                # from the optimum: a fresh start from the best point, without the
                # stale curvature memory, continues. When a fresh start gains
                # nothing the point is an optimum up to rounding, not a failure.
                if not np.isfinite(tracker.best_value):
                    break
                if trust is None and opt_res.status != 2 and not tracker.hit_nonfinite:
                    break
                stuck = tracker.hit_nonfinite and np.array_equal(tracker.best_theta, theta)
                # only a search that never left its start is rescued (and then until it
                # moves on its own): others keep the plain restarts' result
                rescuing = rescuing or (stuck and previous == np.inf)
                if trust is None and stuck and rescuing:
                    # L-BFGS-B's first step within finite bounds goes to the box's
                    # corner along the gradient; from a poor start (a huge gradient)
                    # that corner is singular and the search returns its start
                    # unchanged. One run within +-_TRUST_STEP (log units) of it moves.
                    trust = np.column_stack([np.maximum(bounds[:, 0], theta - _TRUST_STEP),
                                             np.minimum(bounds[:, 1], theta + _TRUST_STEP)])
                    tracker.hit_nonfinite = False
                    continue
                if trust is None and tracker.best_value > previous - 1e-7 * max(abs(previous), 1.0):
                    settled = True
                    break
                trust = None
                theta, previous = tracker.best_theta, tracker.best_value
                tracker.hit_nonfinite = False
            if not settled:
                _check_optimize_result("lbfgs", opt_res)
            if tracker.best_value < opt_res.fun:
                return tracker.best_theta, tracker.best_value
            return opt_res.x, opt_res.fun
        return self.optimizer(obj_func, initial_theta, bounds=bounds)

    # ------------------------------------------------------ joint covariance
    def _training_covariance(self, kernel):
        K, node = self._system.covariance(kernel)
        K[np.diag_indices_from(K)] += self._noise
        return K, node

    def _log_marginal_likelihood(self, theta, eval_gradient):
        kernel = self.kernel_.clone_with_theta(theta)
        K, node = self._training_covariance(kernel)
        system = self._system
        lml = 0.0
        single = len(system.groups) == 1 and system.groups[0].rows is None
        A = None if single or not eval_gradient else np.zeros_like(K)
        for group in system.groups:
            Kg = group.select_to_overwrite(K, shared=len(system.groups) > 1)
            if not np.all(np.isfinite(np.diag(Kg))):
                return (-np.inf, np.zeros_like(theta)) if eval_gradient else -np.inf
            try:
                L = _cholesky_in_place(Kg)
            except (linalg.LinAlgError, ValueError):
                return (-np.inf, np.zeros_like(theta)) if eval_gradient else -np.inf
            t = group.targets(system.targets)
            a = linalg.cho_solve((L, True), t, check_finite=False)
            lml += _log_likelihood(t, a, L)
            if eval_gradient:
                inner = _likelihood_adjoint(L, a, t.shape[1])
                if single:
                    A = inner
                elif group.rows is None:
                    A += inner
                else:
                    A[np.ix_(group.rows, group.rows)] += inner
        if not eval_gradient:
            return lml
        return lml, 0.5 * system.gradient(node, A)

    def log_marginal_likelihood(self, theta=None, eval_gradient=False, clone_kernel=True):
        """Log marginal likelihood of the values and gradients for ``theta``.

        Parameters
        ----------
        theta : array-like of shape (n_kernel_params,), default=None
            Log-transformed hyperparameters; ``None`` returns the value at
            ``kernel_.theta`` (precomputed at fit).
        eval_gradient : bool, default=False
            Also return the analytic gradient with respect to ``theta``.
        clone_kernel : bool, default=True
            Kept for scikit-learn compatibility; the fitted kernel is never
            modified.

        Returns
        -------
        log_likelihood : float
        log_likelihood_gradient : ndarray of shape (n_kernel_params,)
            Only when ``eval_gradient`` is True.
        """
        check_is_fitted(self, "alpha_")
        if theta is None:
            if eval_gradient:
                raise ValueError("Gradient can only be evaluated for theta!=None")
            return self.log_marginal_likelihood_value_
        theta = np.asarray(theta, dtype=float)
        if theta.shape != self.kernel_.theta.shape:
            raise ValueError(
                f"theta has shape {theta.shape}, expected {self.kernel_.theta.shape} "
                "(the log-hyperparameters of kernel_)."
            )
        return self._log_marginal_likelihood(theta, eval_gradient)

    def _factorize(self):
        """Cholesky factors and dual coefficients at the fitted hyperparameters."""
        system = self._system
        self.solver_ = resolve_solver(self.solver, system.n_observations, self.kernel_, system.p,
                                      has_jacobian=system.J is not None)
        if self.solver_ == "cg":
            self._solve_cg()
            return
        # hyperparameters found on a subset can lie beyond the edge of singularity of
        # all samples, where the factorisation may succeed but solve inaccurately
        # (water flow, 9,000 rows: relative residual 5e-5 and RMSE 0.016 without
        # jitter, 1e-7 and 7e-4 with 1e-12): the solve is then checked and retried
        # with the next jitter, and it starts at the smallest jitter, which every
        # water-flow fit needed (3 seeds; a failed attempt costs a factorisation)
        subset = self.search_samples_ is not None
        check = subset and self._residual_checkable()
        first = floor = 1 if subset else 0
        while True:
            self._factorize_from(_JITTER_STEPS[first:])
            first = _JITTER_STEPS.index(self.jitter_) + 1
            if not check or first == len(_JITTER_STEPS) or self._relative_residual() <= _RESIDUAL_TOL:
                break
        # after a subset search the smallest jitter is the documented floor, not a surprise
        if self.jitter_ > _JITTER_STEPS[floor]:
            warnings.warn(
                f"The joint covariance was numerically singular; a relative jitter of "
                f"{self.jitter_:g} was added to its diagonal. Increase alpha or gradient_alpha "
                "(or remove duplicate samples) to control this.",
                JitterWarning,
                stacklevel=6,
            )

    def _residual_checkable(self):
        """Whether :meth:`_relative_residual` applies: all observations known, noise in alpha only."""
        system = self._system
        if system.J is not None or len(system.groups) != 1 or system.groups[0].rows is not None:
            return False
        kernel_parts = [self.kernel_, *self.kernel_.get_params(deep=True).values()]
        return not any(isinstance(part, (WhiteKernel, GradientWhiteKernel)) for part in kernel_parts)

    def _relative_residual(self):
        """``|K a - t| / |t|`` for the dual weights ``a`` of the (jittered) joint system.

        ``K a`` without storing ``K``: the posterior means at the training
        inputs are the prior covariance times ``a``; the noise adds ``noise *
        a`` and the relative jitter ``jitter * diag(K) * a``.
        """
        system = self._system
        X = self.X_train_
        with_gradients = system.n_gradients > 0
        dual = self.alpha_.reshape(system.n_observations, -1)
        values, grads = system.means(self.kernel_, X, *system.dual_parts(dual), True, with_gradients)
        blocks = compile_kernel(self.kernel_, X.shape[1]).forward(
            Context(X, need_x=with_gradients, need_y=with_gradients, diag=True))
        prior = blocks.K[:, 0]
        fitted = values
        if with_gradients:
            fitted = np.concatenate([values, grads.transpose(2, 0, 1).reshape(-1, system.k)])
            prior = np.concatenate([prior, np.einsum("aii->ia", blocks.Kxy[:, 0]).ravel()])
        diagonal = self._noise + self.jitter_ * (prior + self._noise)
        residual = fitted + diagonal[:, None] * dual - system.targets
        return float(np.linalg.norm(residual) / np.linalg.norm(system.targets))

    def _factorize_from(self, jitter_steps):
        """One factorisation per group, the relative jitter tried from ``jitter_steps``."""
        system = self._system
        dual = np.zeros((system.n_observations, system.k))
        self.jitter_ = 0.0
        lml = 0.0
        for group in system.groups:
            def build(group=group):
                return group.select(self._training_covariance(self.kernel_)[0])

            L, jitter = _cholesky_with_jitter(build, jitter_steps)
            if L is None:
                raise ValueError(
                    f"The joint covariance of kernel {self.kernel_} is not positive definite, "
                    f"even with a relative jitter of {_JITTER_STEPS[-1]:g} on its diagonal. "
                    "Increase alpha (and gradient_alpha), or check for duplicate samples with "
                    "conflicting values or gradients, or for non-finite inputs."
                )
            self.jitter_ = max(self.jitter_, jitter)
            t = group.targets(system.targets)
            a = linalg.cho_solve((L, True), t, check_finite=False)
            lml += _log_likelihood(t, a, L)
            group.put(dual, a)
            group.factor = L
        self.log_marginal_likelihood_value_ = float(lml)
        self.alpha_ = dual[:, 0] if self._y_ndim == 1 else dual
        factors = [group.factor for group in system.groups]
        self.L_ = factors[0] if len(factors) == 1 else factors
        self._dual_values, self._dual_gradients = system.dual_parts(dual)

    # ------------------------------------------------------------ prediction
    def _check_predict_X(self, X):
        check_is_fitted(self, "alpha_")
        return validate_data(self, X, reset=False, dtype=np.float64)

    def _means(self, X, want_values, want_gradients):
        if self.solver_ == "cg":
            return self._cg.means(X, want_values, want_gradients)
        return self._system.means(self.kernel_, X, self._dual_values, self._dual_gradients,
                                  want_values, want_gradients)

    def _solve_cg(self):
        """Dual coefficients by preconditioned conjugate gradients (no factor is stored)."""
        self._cg = IterativeJointSolution(self.kernel_, self._system, self._noise)
        self.jitter_ = 0.0
        self.L_ = None
        self.n_iter_cg_ = self._cg.n_iterations
        # log det K is not available without a factorisation
        self.log_marginal_likelihood_value_ = np.nan
        dual = self._cg.dual
        self.alpha_ = dual[:, 0] if self._y_ndim == 1 else dual
        self._dual_values, self._dual_gradients = self._system.dual_parts(dual)

    def _variance_reduction(self, cross):
        """``sum (L^-1 c)^2`` per row of ``cross`` (rows, N), for each group: (rows, k)."""
        if self.solver_ == "cg":
            return self._cg.reduction(cross)
        out = np.zeros((cross.shape[0], self._system.k))
        for group in self._system.groups:
            V = linalg.solve_triangular(group.factor, group.columns(cross).T, lower=True,
                                        check_finite=False)
            out[:, group.outputs] = np.einsum("ij,ij->j", V, V)[:, None]
        return out

    @limit_blas_threads(joint_predict_work)
    def predict(self, X, return_std=False, return_cov=False):
        """Predict values, optionally with the posterior standard deviation or covariance.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution.
        return_cov : bool, default=False
            Also return its covariance (at most one of the two).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Only with ``return_std``.
        y_cov : ndarray of shape (n_samples, n_samples) or \
                (n_samples, n_samples, n_outputs)
            Only with ``return_cov``.
        """
        if return_std and return_cov:
            raise RuntimeError(
                "At most one of return_std or return_cov can be requested."
            )
        X = self._check_predict_X(X)
        values, _ = self._means(X, True, False)
        y_mean = values * self._y_train_std + self._y_train_mean
        y_mean = check_finite_output(self._squeeze(y_mean), method="predict", estimator=self)
        if not (return_std or return_cov):
            return y_mean
        node = compile_kernel(self.kernel_, X.shape[1])
        system = self._system
        if return_cov:
            cross = system.cross(node, X, "values")
            prior = node.forward(Context(X)).K
            cov = np.empty((X.shape[0], X.shape[0], system.k))
            if self.solver_ == "cg":
                cov = prior[:, :, None] - self._cg.reduction(cross, pairwise=True)
            for group in system.groups if self.solver_ == "cholesky" else ():
                V = linalg.solve_triangular(group.factor, group.columns(cross).T, lower=True,
                                            check_finite=False)
                cov[:, :, group.outputs] = (prior - V.T @ V)[:, :, None]
            cov = cov * self._y_train_std**2
            return y_mean, (cov[:, :, 0] if self._y_ndim == 1 else cov)
        var = np.empty((X.shape[0], system.k))
        prior = node.forward(Context(X, diag=True)).K[:, 0]
        for rows in system.chunks(X.shape[0], 1 + system.n_gradients):
            cross = system.cross(node, X[rows], "values")
            var[rows] = prior[rows, None] - self._variance_reduction(cross)
        var = self._clip_variance(var) * self._y_train_std**2
        return y_mean, self._squeeze(np.sqrt(var))

    @limit_blas_threads(joint_predict_work)
    def predict_gradient(self, X, dZdX=None, return_std=False):
        """Posterior mean of the input-gradient, optionally with its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the features ``X`` with respect to raw inputs: the
            gradient is then returned with respect to those (chain rule).
            Not combined with ``return_std``.
        return_std : bool, default=False
            Also return the standard deviation of each partial derivative.

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features)
        gradient_std : ndarray of the same shape
            Only with ``return_std``.
        """
        X = self._check_predict_X(X)
        _, grads = self._means(X, False, True)
        scale = self._y_train_std[None, :, None]
        grads = grads * scale
        if dZdX is not None:
            if return_std:
                raise ValueError("return_std=True is not available together with dZdX.")
            J, _ = check_feature_jacobian(dZdX, n_samples=X.shape[0],
                                          n_model_features=X.shape[1])
            grads = grads @ J if J.ndim == 2 else np.einsum("akp,apr->akr", grads, J)
        gradient = check_finite_output(self._squeeze_gradient(grads), method="predict_gradient",
                                       estimator=self)
        if not return_std:
            return gradient
        node = compile_kernel(self.kernel_, X.shape[1])
        m, p = X.shape
        prior = node.forward(Context(X, need_x=True, need_y=True, diag=True)).Kxy[:, 0]
        prior = np.einsum("aii->ai", prior)
        system = self._system
        var = np.empty((m, system.k, p))
        for rows in system.chunks(m, p * (1 + system.n_gradients)):
            cross = system.cross(node, X[rows], "gradients")  # (r, p, N)
            r = cross.shape[0]
            reduction = self._variance_reduction(cross.reshape(r * p, -1)).reshape(r, p, -1)
            var[rows] = prior[rows, None, :] - reduction.transpose(0, 2, 1)
        var = self._clip_variance(var) * scale**2
        return gradient, self._squeeze_gradient(np.sqrt(var))

    @limit_blas_threads(joint_predict_work)
    def sample_y(self, X, n_samples=1, random_state=0):
        """Draw samples of the posterior process (values) at ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=0

        Returns
        -------
        y_samples : ndarray of shape (n_samples_X, n_samples) or \
                (n_samples_X, n_outputs, n_samples)
        """
        rng = check_random_state(random_state)
        y_mean, y_cov = self.predict(X, return_cov=True)
        # numpy's sampler (an SVD, as scikit-learn's sample_y uses) without its check, which
        # warns "not symmetric positive-semidefinite" when the posterior covariance (PSD in
        # exact arithmetic, computed as prior - V^T V) has negative eigenvalues at the
        # rounding level of the prior variance (Rosenbrock, n=20, X * 1000: -4e-5 against a
        # prior variance of 3e10; the check's tolerance is an absolute 1e-8). The SVD
        # samples such a direction with |eigenvalue|: within that rounding of clipping it
        # at 0. The draws are scikit-learn's for the same random_state.
        if y_mean.ndim == 1:
            return rng.multivariate_normal(y_mean, y_cov, n_samples, check_valid="ignore").T
        return np.hstack([
            rng.multivariate_normal(y_mean[:, j], y_cov[..., j], n_samples,
                                    check_valid="ignore").T[:, None]
            for j in range(y_mean.shape[1])
        ])

    @staticmethod
    def _clip_variance(var):
        negative = var < 0
        if np.any(negative):
            var = np.where(negative, 0.0, var)
        return var

    def _squeeze(self, values):
        return values[:, 0] if self._y_ndim == 1 else values

    def _squeeze_gradient(self, grads):
        return grads[:, 0, :] if self._y_ndim == 1 else grads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.requires_fit = True
        return tags


def _target_scaling(Y, G, J, x_scale, normalize):
    """Mean and scale of each target (NaN values: unknown), for ``normalize_y``.

    From the known values. An output with fewer than two known values has no
    spread to measure, and one with none has no level either (derivatives
    determine a function up to a constant): its mean is then 0 (or its one
    value) and its scale the root-mean-square of its known partials times
    the inputs' standard deviations, the change of the function over one
    standard deviation of the inputs.
    """
    known = np.isfinite(Y)
    if not np.all(known.any(axis=0)) and G is None:
        raise ValueError(
            "y has an output with no known (non-NaN) value and no gradients were given: "
            "there is nothing to fit it to. NaN in y marks a value that was not observed."
        )
    k = Y.shape[1]
    if not normalize:
        return np.zeros(k), np.ones(k)
    if np.all(known):
        return Y.mean(axis=0), _handle_zeros_in_scale(Y.std(axis=0), copy=False)
    counts = known.sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
        mean = np.where(counts > 0, np.nanmean(np.where(known, Y, np.nan), axis=0), 0.0)
        std = np.where(counts > 1, np.nanstd(np.where(known, Y, np.nan), axis=0), 0.0)
    few = counts < 2
    if np.any(few) and G is not None:
        step = np.ones(G.shape[2]) if J is not None else x_scale
        scaled = G * step[None, None, :]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rms = np.sqrt(np.nanmean(scaled.transpose(1, 0, 2).reshape(k, -1) ** 2, axis=1))
        std = np.where(few, np.nan_to_num(rms), std)
    return np.nan_to_num(mean), _handle_zeros_in_scale(std, copy=False)


def _log_likelihood(t, a, L):
    """Gaussian log likelihood of targets ``t`` (N, k) given ``a = K^-1 t`` and ``K = L L^T``."""
    n_obs, n_out = t.shape
    return (-0.5 * np.einsum("ik,ik->", t, a) - n_out * np.log(np.diag(L)).sum()
            - 0.5 * n_out * n_obs * np.log(2 * np.pi))
