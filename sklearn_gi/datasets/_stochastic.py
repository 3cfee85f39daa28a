"""Stochastic processes with pathwise derivatives, for conditional generative models.

Each run of a process at inputs ``x`` draws an output ``y ~ p(y | x)`` and,
differentiating that run with its random numbers held fixed, the pathwise
derivative ``dy/dx``. For any such coupling ``E[dy/dx | x] = d/dx E[y | x]``
(under the usual conditions for exchanging derivative and expectation), so
the pathwise derivatives are unbiased targets for the gradient of the
conditional mean.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from ._base import _BoxDomain


class StochasticProblem(_BoxDomain):
    """A stochastic process with pathwise input-derivatives and a reference sampler.

    Subclasses implement ``_simulate(X, rng)`` returning ``Y (n, k)`` and
    ``dYdX (n, k, d)`` for one run per row of ``X``, and ``_mean(X)`` (the
    exact conditional mean, or a large Monte Carlo estimate).

    Attributes
    ----------
    name : str
    n_features : int
    n_outputs : int
    bounds : ndarray of shape (n_features, 2)
        The inputs are drawn uniformly from this box.
    exact_mean : bool
        Whether :meth:`conditional_mean` is exact (else Monte Carlo).
    """

    exact_mean = True

    def sample_inputs(self, n_samples, random_state=None):
        """Inputs drawn uniformly from ``bounds``: ndarray of shape (n_samples, n_features)."""
        rng = check_random_state(random_state)
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        return rng.uniform(low, high, size=(int(n_samples), self.n_features))

    def simulate(self, X, random_state=None):
        """One run per row of ``X``: outputs and their pathwise derivatives.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Repeated rows are independent runs at the same inputs.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        Y : ndarray of shape (n_samples, n_outputs)
        dYdX : ndarray of shape (n_samples, n_outputs, n_features)
            Derivatives of each run with its random numbers held fixed.
        """
        return self._simulate(self._check_X(X), check_random_state(random_state))

    def reference_sample(self, X, n_samples, random_state=None):
        """Exact draws from ``p(y | x)`` for each row of ``X``.

        Returns
        -------
        samples : ndarray of shape (n_inputs, n_samples, n_outputs)
        """
        X = self._check_X(X)
        Y, _ = self._simulate(np.repeat(X, int(n_samples), axis=0), check_random_state(random_state))
        return Y.reshape(len(X), int(n_samples), self.n_outputs)

    def conditional_mean(self, X):
        """``E[y | x]`` for each row of ``X``: ndarray of shape (n_inputs, n_outputs)."""
        return self._mean(self._check_X(X))

    def __repr__(self):
        return f"{type(self).__name__}(n_features={self.n_features}, n_outputs={self.n_outputs})"


_REGISTRY = {}


def _register(cls):
    _REGISTRY[cls.name] = cls
    return cls


@_register
class Heteroscedastic(StochasticProblem):
    """1-D heteroscedastic process: ``y = sin(3x) + (0.1 + 0.15 x^2) eps``, ``eps ~ N(0, 1)``.

    ``x`` is uniform on ``[-1.5, 1.5]``; the pathwise derivative is
    ``3 cos(3x) + 0.3 x eps``. The conditional distribution is Gaussian.
    """

    name = "heteroscedastic"

    def __init__(self):
        super().__init__([[-1.5, 1.5]])

    @staticmethod
    def scale(x):
        return 0.1 + 0.15 * x**2

    def _simulate(self, X, rng):
        x = X[:, 0]
        eps = rng.standard_normal(len(x))
        Y = np.sin(3 * x) + self.scale(x) * eps
        dYdX = 3 * np.cos(3 * x) + 0.3 * x * eps
        return Y[:, None], dYdX[:, None, None]

    def _mean(self, X):
        return np.sin(3 * X)


@_register
class Garch(StochasticProblem):
    """McDonagh and Chen's GARCH(1,1) volatility process with ``theta = (mu, omega, alpha, beta)``.

    ``theta ~ U[0, 1]^4``; each run draws a previous volatility
    ``sigma_0 ~ Gamma(shape 0.5, scale 1.5)`` and a previous return
    ``r_0 ~ N(0.1, 3^2)`` (``numpy.random.normal(0.1, 3)``), then
    ``sigma_1^2 = omega + alpha (r_0 - mu)^2 + beta sigma_0^2`` and
    ``sigma_t^2 = omega + (alpha + beta) sigma_{t-1}^2`` for ``t = 2..5``.
    The outputs are ``sigma_1..sigma_5``; the pathwise derivatives are taken
    with respect to ``theta`` by the recursion. The conditional mean is a
    Monte Carlo estimate (``mean_samples`` runs, common random numbers).

    Parameters
    ----------
    mean_samples : int, default=20000
    """

    name = "garch"
    n_outputs = 5
    exact_mean = False

    def __init__(self, mean_samples=20000):
        super().__init__([[0.0, 1.0]] * 4)
        self.mean_samples = int(mean_samples)

    @staticmethod
    def _paths(X, sigma0, r0):
        mu, omega, alpha, beta = X.T
        n = len(X)
        s = np.empty((n, 5))
        ds = np.empty((n, 5, 4))
        e = r0 - mu
        s[:, 0] = omega + alpha * e**2 + beta * sigma0**2
        ds[:, 0] = np.stack([-2 * alpha * e, np.ones(n), e**2, sigma0**2], axis=1)
        for t in range(1, 5):
            s[:, t] = omega + (alpha + beta) * s[:, t - 1]
            ds[:, t] = (alpha + beta)[:, None] * ds[:, t - 1]
            ds[:, t, 1] += 1.0
            ds[:, t, 2] += s[:, t - 1]
            ds[:, t, 3] += s[:, t - 1]
        sigma = np.sqrt(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            dsigma = ds / (2 * sigma[:, :, None])
        return sigma, dsigma

    @staticmethod
    def _noise(rng, n):
        sigma0 = rng.gamma(0.5, 1.5, size=n)
        r0 = rng.normal(0.1, 3.0, size=n)
        return sigma0, r0

    def _simulate(self, X, rng):
        return self._paths(X, *self._noise(rng, len(X)))

    def _mean(self, X):
        sigma0, r0 = self._noise(np.random.RandomState(12345), self.mean_samples)
        out = np.empty((len(X), self.n_outputs))
        for i, x in enumerate(X):
            out[i] = self._paths(np.broadcast_to(x, (self.mean_samples, 4)), sigma0, r0)[0].mean(axis=0)
        return out


@_register
class BlobImage(StochasticProblem):
    """16x16 images of a textured Gaussian blob; inputs are its centre and width.

    ``x = (c_1, c_2, w)`` with ``c ~ U[0.3, 0.7]^2`` and ``w ~ U[0.08, 0.2]``
    (unit-square coordinates of the pixel centres). Each run draws an
    intensity ``A ~ U[0.5, 1.5]`` and a texture
    ``T(p) = sum_j cos(2 pi f_j . p + phi_j) / sqrt(3)`` with random phases
    ``phi_j ~ U[0, 2 pi)`` and three fixed frequencies ``f_j``; the image is
    ``A exp(-|p - c|^2 / (2 w^2)) (1 + 0.3 T(p))``, flattened row-major to
    256 outputs. The texture does not depend on ``x``, so the pathwise
    derivatives follow the blob; the conditional mean (``E[A] = 1``,
    ``E[T] = 0``) is exact.
    """

    name = "blob_image"
    size = 16
    n_outputs = size * size
    texture = 0.3
    frequencies = np.array([[1.0, 2.0], [3.0, -1.0], [-2.0, 2.5]])

    def __init__(self):
        super().__init__([[0.3, 0.7], [0.3, 0.7], [0.08, 0.2]])
        grid = (np.arange(self.size) + 0.5) / self.size
        py, px = np.meshgrid(grid, grid, indexing="ij")
        self.pixels = np.stack([px.ravel(), py.ravel()], axis=1)  # (256, 2): (x, y) of each pixel

    def _blob(self, X):
        diff = self.pixels[None, :, :] - X[:, None, :2]  # (n, 256, 2)
        sq = (diff**2).sum(axis=-1)
        w = X[:, 2:3]
        g = np.exp(-sq / (2 * w**2))
        dg = np.concatenate([g[..., None] * diff / w[..., None] ** 2,
                             (g * sq / w**3)[..., None]], axis=-1)  # (n, 256, 3)
        return g, dg

    def _simulate(self, X, rng):
        n = len(X)
        A = rng.uniform(0.5, 1.5, size=n)
        phases = rng.uniform(0, 2 * np.pi, size=(n, len(self.frequencies)))
        angle = 2 * np.pi * self.pixels @ self.frequencies.T  # (256, 3)
        T = np.cos(angle[None] + phases[:, None, :]).sum(axis=-1) / np.sqrt(len(self.frequencies))
        factor = A[:, None] * (1 + self.texture * T)  # (n, 256)
        g, dg = self._blob(X)
        return factor * g, factor[..., None] * dg

    def _mean(self, X):
        return self._blob(X)[0]


def list_stochastic_problems():
    """Names of the built-in stochastic problems.

    Examples
    --------
    >>> from sklearn_gi.datasets import list_stochastic_problems
    >>> list_stochastic_problems()
    ['blob_image', 'garch', 'heteroscedastic']
    """
    return sorted(_REGISTRY)


def get_stochastic_problem(name, **params):
    """Return a built-in stochastic problem by name.

    Parameters
    ----------
    name : str
        One of :func:`list_stochastic_problems`.
    **params
        Options of that problem (``mean_samples`` for ``"garch"``).

    Returns
    -------
    problem : StochasticProblem
        With ``simulate``, ``reference_sample``, ``conditional_mean``,
        ``sample_inputs`` and ``bounds``.

    Examples
    --------
    >>> from sklearn_gi.datasets import get_stochastic_problem
    >>> problem = get_stochastic_problem("heteroscedastic")
    >>> problem.reference_sample([[0.0], [1.0]], 100, random_state=0).shape
    (2, 100, 1)
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown stochastic problem {name!r}; choose one of {list_stochastic_problems()}."
        )
    return _REGISTRY[name](**params)


def make_stochastic_problem(name, n_samples=100, *, runs_per_input=1, random_state=None, **params):
    """Simulator runs of a built-in stochastic problem: inputs, outputs, pathwise derivatives.

    Parameters
    ----------
    name : str
        ``"heteroscedastic"`` (1 input, 1 output), ``"garch"`` (McDonagh and
        Chen's GARCH(1,1): 4 parameters, volatilities ``sigma_1..sigma_5``)
        or ``"blob_image"`` (3 inputs, a 16x16 image as 256 outputs).
    n_samples : int, default=100
        Number of runs.
    runs_per_input : int, default=1
        Runs at each distinct input (``n_samples`` must be a multiple of it).
    random_state : int, RandomState instance or None, default=None
        Seed of the inputs and of the runs' random numbers.
    **params
        Options of the problem, see :func:`get_stochastic_problem`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples,) for one output, else (n_samples, n_outputs)
    dYdX : ndarray of shape (n_samples, n_features) for one output, else
        (n_samples, n_outputs, n_features)
        Pathwise derivatives of each run.

    Examples
    --------
    >>> from sklearn_gi.datasets import make_stochastic_problem
    >>> X, Y, dYdX = make_stochastic_problem("garch", n_samples=300, random_state=0)
    >>> X.shape, Y.shape, dYdX.shape
    ((300, 4), (300, 5), (300, 5, 4))
    >>> X, y, dydx = make_stochastic_problem("heteroscedastic", 10, runs_per_input=5, random_state=0)
    >>> y.shape, dydx.shape, len(set(X[:, 0]))
    ((10,), (10, 1), 2)
    """
    problem = get_stochastic_problem(name, **params)
    for label, value in (("n_samples", n_samples), ("runs_per_input", runs_per_input)):
        if not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{label} must be a positive integer, got {value!r}.")
    if n_samples % runs_per_input:
        raise ValueError(
            f"n_samples={n_samples} must be a multiple of runs_per_input={runs_per_input}."
        )
    rng = check_random_state(random_state)
    X = np.repeat(problem.sample_inputs(n_samples // runs_per_input, rng), runs_per_input, axis=0)
    Y, dYdX = problem.simulate(X, rng)
    if problem.n_outputs == 1:
        return X, Y[:, 0], dYdX[:, 0, :]
    return X, Y, dYdX
