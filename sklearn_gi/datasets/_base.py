"""The problem abstraction and registry behind ``make_problem``."""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array


class _BoxDomain:
    """Inputs in a box ``bounds`` of shape (n_features, 2), validated by ``_check_X``."""

    name = None
    n_outputs = 1

    def __init__(self, bounds):
        self.bounds = np.asarray(bounds, dtype=float)
        self.n_features = self.bounds.shape[0]

    def _check_X(self, X):
        X = check_array(X, dtype=np.float64, input_name="X")
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the {self.name} problem takes "
                f"{self.n_features}: expected shape (n_samples, {self.n_features})."
            )
        return X


class GradientProblem(_BoxDomain):
    """A function with its exact input-gradient and a sampling domain.

    Subclasses implement ``_value(X)`` returning ``(n,)`` or ``(n, k)`` and
    ``_gradient(X)`` returning ``(n, d)`` or ``(n, k, d)``; NaN in a gradient
    marks a partial the process does not provide. The default sampler draws
    uniformly from ``bounds``, or a Latin hypercube scaled to them.

    Attributes
    ----------
    name : str
    n_features : int
    n_outputs : int
        1 for a scalar function, whose values are 1-D.
    bounds : ndarray of shape (n_features, 2)
        Sampling box (lower, upper) per input.
    """

    def value(self, X):
        """Exact function values at ``X`` of shape (n_samples, n_features)."""
        return self._value(self._check_X(X))

    def gradient(self, X):
        """Exact input-gradients at ``X``: (n, n_features) or (n, n_outputs, n_features)."""
        return self._gradient(self._check_X(X))

    def sample(self, n_samples, random_state=None, method="uniform"):
        """Draw ``n_samples`` inputs from the problem's domain.

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState instance or None, default=None
            Seed. With ``method="lhs"`` it is passed to
            ``scipy.stats.qmc.LatinHypercube(d, seed=random_state)``.
        method : {"uniform", "lhs"}, default="uniform"
            Independent uniform draws, or a (scrambled) Latin hypercube:
            each input's range cut into ``n_samples`` equal strata, one
            point in each.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_gi.datasets import get_problem
        >>> X = get_problem("booth").sample(4, random_state=0, method="lhs")
        >>> np.sort(np.floor((X + 10) / 5), axis=0)  # one point per quarter of [-10, 10]
        array([[0., 0.],
               [1., 1.],
               [2., 2.],
               [3., 3.]])
        """
        _check_sampling(method, "method")
        low, high = self.bounds[:, 0], self.bounds[:, 1]
        if method == "lhs":
            return low + _latin_hypercube(n_samples, self.n_features, random_state) * (high - low)
        rng = check_random_state(random_state)
        return rng.uniform(low, high, size=(n_samples, self.n_features))

    def __repr__(self):
        return f"{type(self).__name__}(n_features={self.n_features}, n_outputs={self.n_outputs})"


SAMPLINGS = ("uniform", "lhs")


def _check_sampling(sampling, label):
    if not isinstance(sampling, str) or sampling not in SAMPLINGS:
        raise ValueError(f"{label} must be 'uniform' or 'lhs', got {sampling!r}.")


def _latin_hypercube(n_samples, n_features, random_state):
    """A scrambled Latin hypercube in ``[0, 1)^n_features`` (scipy's ``LatinHypercube``)."""
    from scipy.stats import qmc

    if not isinstance(random_state, numbers.Integral):
        random_state = check_random_state(random_state)
    return qmc.LatinHypercube(n_features, seed=random_state).random(int(n_samples))


def cube_bounds(low, high, n_features):
    """Bounds of the box ``[low, high]^n_features``, validating ``n_features``."""
    if int(n_features) != n_features or n_features < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}.")
    return [[low, high]] * int(n_features)


_REGISTRY = {}


def register_problem(cls):
    """Class decorator: make a problem available to ``get_problem`` by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def list_problems():
    """Names of the built-in problems.

    Examples
    --------
    >>> from sklearn_gi.datasets import list_problems
    >>> "rosenbrock" in list_problems()
    True
    """
    return sorted(_REGISTRY)


def get_problem(name, **params):
    """Return a built-in problem by name.

    Parameters
    ----------
    name : str
        One of :func:`list_problems`.
    **params
        Options of that problem (e.g. ``n_features`` for ``"runge"``).

    Returns
    -------
    problem : GradientProblem
        With ``value(X)``, ``gradient(X)``, ``sample(n, random_state)`` and
        the domain in ``bounds``.

    Examples
    --------
    >>> from sklearn_gi.datasets import get_problem
    >>> booth = get_problem("booth")
    >>> booth.value([[1.0, 3.0]])
    array([0.])
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown problem {name!r}; choose one of {list_problems()}.")
    return _REGISTRY[name](**params)


def make_problem(
    name,
    n_samples=100,
    *,
    noise=0.0,
    gradient_noise=0.0,
    sampling="uniform",
    random_state=None,
    **params,
):
    """Sample a built-in problem: inputs, values and exact input-gradients.

    Parameters
    ----------
    name : str
        One of :func:`list_problems`: the seven Sobolev-training functions
        ``"ackley"``, ``"beale"``, ``"booth"``, ``"bukin_n6"``, ``"mccormick"``,
        ``"rosenbrock"``, ``"styblinski_tang"``; McDonagh and Chen's simulators
        ``"mcdonagh_dynamic_2d"`` (10 outputs) and ``"mcdonagh_regression_8d"``;
        ``"runge"`` and ``"sin"``; the 10-input aircraft ``"wing_weight"``
        (Forrester, Sobester and Keane, 2008); the 8-input borehole
        ``"water_flow"`` (Harper and Gupta, 1983); ``"bateman"``, a radioactive
        decay chain (Bateman, 1910; multi-output).
    n_samples : int, default=100
        Number of samples.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the values.
    gradient_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the gradients.
    sampling : {"uniform", "lhs"}, default="uniform"
        How the inputs are drawn: independently and uniformly, or as a Latin
        hypercube (``scipy.stats.qmc.LatinHypercube(d, seed=random_state)``
        scaled to the bounds, as in SMT-style surrogate benchmarks). Problems
        with non-uniform inputs map the hypercube through their marginals.
    random_state : int, RandomState instance or None, default=None
        Seed of the inputs and of the noise.
    **params
        Options of the problem, see :func:`get_problem`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    dYdX : ndarray of shape (n_samples, n_features) or (n_samples, n_outputs, n_features)
        Exact gradients of the noise-free function (plus ``gradient_noise``).

    Examples
    --------
    >>> from sklearn_gi.datasets import make_problem
    >>> X, y, dYdX = make_problem("rosenbrock", n_samples=20, random_state=0)
    >>> X.shape, y.shape, dYdX.shape
    ((20, 2), (20,), (20, 2))
    >>> X, Y, dYdX = make_problem("mcdonagh_dynamic_2d", n_samples=5, random_state=0)
    >>> Y.shape, dYdX.shape
    ((5, 10), (5, 10, 2))
    >>> X, y, dYdX = make_problem("wing_weight", 20, sampling="lhs", random_state=0)
    >>> X.shape, dYdX.shape
    ((20, 10), (20, 10))
    """
    problem = get_problem(name, **params)
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    for label, value in (("noise", noise), ("gradient_noise", gradient_noise)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{label} must be a non-negative finite float, got {value!r}.")
    _check_sampling(sampling, "sampling")
    rng = check_random_state(random_state)
    # an integer seed goes to the Latin hypercube as it is (the same design as
    # ``LatinHypercube(d, seed=seed)``); the noise then comes from ``rng``
    seed = random_state if sampling == "lhs" and isinstance(random_state, numbers.Integral) else rng
    X = problem.sample(int(n_samples), seed, method=sampling)
    y = problem.value(X)
    dYdX = problem.gradient(X)
    if noise:
        y = y + rng.normal(scale=noise, size=y.shape)
    if gradient_noise:
        dYdX = dYdX + rng.normal(scale=gradient_noise, size=dYdX.shape)
    return X, y, dYdX
