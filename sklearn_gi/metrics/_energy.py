"""Energy score and energy distance: errors of a distribution given by samples."""

import numbers

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.utils import check_random_state

from ..utils._validation import _as_float_array


def _mean_pairwise_distance(A, B, *, exclude_diagonal=False):
    """Mean Euclidean distance between the rows of ``A (n, m, k)`` and ``B (n, l, k)``, per ``n``."""
    out = np.empty(A.shape[0])
    for i in range(A.shape[0]):  # one (m, l) distance matrix at a time bounds the memory
        total = cdist(A[i], B[i]).sum()
        m = A.shape[1]
        out[i] = total / (m * (m - 1)) if exclude_diagonal else total / (m * B.shape[1])
    return out


def _samples(array, name, n_rows=None):
    """Samples as ``(n, m, k)``: ``(m,)`` or ``(m, k)`` is one set, ``(n, m)`` with ``n_rows`` too."""
    array = np.asarray(_as_float_array(array, input_name=name, dtype=np.float64, allow_nan=False))
    if array.ndim == 1:
        array = array[None, :, None]
    elif array.ndim == 2:
        # (n, m) scalar samples per row when rows are known, else one set of (m, k)
        array = array[:, :, None] if n_rows is not None else array[None]
    elif array.ndim != 3:
        raise ValueError(
            f"{name} must have shape (n_samples,), (n_samples, n_outputs) or "
            f"(n_inputs, n_samples, n_outputs), got {array.shape}."
        )
    return array


def energy_score(y_true, y_samples):
    """Energy score of sampled predictive distributions, averaged over observations.

    For an observation ``y`` and a forecast distribution ``P`` given by draws
    ``X_1..X_m``, ``ES = mean_i ||X_i - y|| - 1/2 mean_{i != j} ||X_i - X_j||``,
    an unbiased estimate of ``E||X - y|| - 1/2 E||X - X'||``. It is a strictly
    proper scoring rule (Gneiting and Raftery, 2007): lower is better, and its
    expectation is lowest when ``P`` is the true distribution of ``y``. For one
    output it is the continuous ranked probability score (CRPS).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Observations.
    y_samples : array-like of shape (n_samples, n_draws) or (n_samples, n_draws, n_outputs)
        ``n_draws >= 2`` draws of the forecast distribution for each observation
        (``estimator.sample(X, n_draws)``).

    Returns
    -------
    score : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.metrics import energy_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=200)
    >>> right = rng.normal(size=(200, 100))
    >>> wrong = rng.normal(2.0, 1.0, size=(200, 100))
    >>> bool(energy_score(y, right) < energy_score(y, wrong))
    True
    """
    y = np.asarray(_as_float_array(y_true, input_name="y_true", dtype=np.float64, allow_nan=False))
    if y.ndim not in (1, 2):
        raise ValueError(f"y_true must have shape (n_samples,) or (n_samples, n_outputs), got {y.shape}.")
    Y = y.reshape(len(y), 1, -1)
    S = _samples(y_samples, "y_samples", n_rows=len(y))
    if S.shape[0] != Y.shape[0] or S.shape[2] != Y.shape[2]:
        expected = (len(y), "n_draws") if y.ndim == 1 else (len(y), "n_draws", Y.shape[2])
        raise ValueError(
            f"y_samples must have shape {expected} for y_true of shape {y.shape}, got "
            f"{np.shape(y_samples)}."
        )
    if S.shape[1] < 2:
        raise ValueError(f"y_samples needs at least 2 draws per observation, got {S.shape[1]}.")
    to_obs = _mean_pairwise_distance(S, Y)
    spread = _mean_pairwise_distance(S, S, exclude_diagonal=True)
    return float(np.mean(to_obs - 0.5 * spread))


def energy_distance(samples_a, samples_b):
    """Energy distance between two distributions given by samples (per input, averaged).

    ``D^2(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||`` with
    ``X, X' ~ P`` and ``Y, Y' ~ Q`` (Szekely and Rizzo, 2013), estimated with
    the unbiased within-sample means (``i != j``). It is zero exactly when
    ``P = Q``, and in one dimension it is twice the Cramer distance
    ``int (F - G)^2``. Given ``(n_inputs, m, k)`` arrays (samples of
    ``p(y | x)`` at each of ``n_inputs`` inputs), it returns the mean over the
    inputs of the per-input distances.

    Parameters
    ----------
    samples_a : array-like of shape (m,), (m, n_outputs) or (n_inputs, m, n_outputs)
    samples_b : array-like of shape (l,), (l, n_outputs) or (n_inputs, l, n_outputs)
        ``m, l >= 2``.

    Returns
    -------
    distance : float
        The (squared-distance) statistic ``D^2``; the unbiased estimate can be
        slightly negative when the distributions are equal.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.metrics import energy_distance
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2))
    >>> round(energy_distance(a, b), 2)
    0.0
    >>> round(energy_distance(a, b + [1.0, 0.0]), 1)  # about 0.4
    0.4
    """
    A = _samples(samples_a, "samples_a")
    B = _samples(samples_b, "samples_b")
    if A.shape[0] != B.shape[0] or A.shape[2] != B.shape[2]:
        raise ValueError(
            f"samples_a and samples_b must have the same number of inputs and outputs, got "
            f"shapes {np.shape(samples_a)} and {np.shape(samples_b)}."
        )
    if A.shape[1] < 2 or B.shape[1] < 2:
        raise ValueError("energy_distance needs at least 2 samples in each set.")
    cross = _mean_pairwise_distance(A, B)
    within_a = _mean_pairwise_distance(A, A, exclude_diagonal=True)
    within_b = _mean_pairwise_distance(B, B, exclude_diagonal=True)
    return float(np.mean(2 * cross - within_a - within_b))


class EnergyScorer:
    """Scorer ``scorer(estimator, X, y)``: minus the energy score of ``estimator.sample``.

    Made by :func:`make_energy_scorer`; greater is better, as scikit-learn's
    scorers are.
    """

    def __init__(self, n_samples=100, random_state=0):
        self.n_samples = n_samples
        self.random_state = random_state

    def __call__(self, estimator, X, y, **kwargs):
        draws = estimator.sample(X, n_samples=self.n_samples, random_state=self.random_state)
        return -energy_score(y, draws)

    def __repr__(self):
        return f"make_energy_scorer(n_samples={self.n_samples}, random_state={self.random_state!r})"


def make_energy_scorer(n_samples=100, *, random_state=0):
    """Scorer for ``cross_validate`` and ``GridSearchCV``: minus the energy score.

    Parameters
    ----------
    n_samples : int, default=100
        Draws of ``estimator.sample(X, n_samples, random_state)`` per test input.
    random_state : int, RandomState instance or None, default=0
        Seed of the draws (fixed by default, so that candidates are compared
        on the same latent draws).

    Returns
    -------
    scorer : EnergyScorer
        ``scorer(estimator, X, y) = -energy_score(y, estimator.sample(X, n_samples))``.

    Examples
    --------
    >>> from sklearn_gi.metrics import make_energy_scorer
    >>> make_energy_scorer(50)
    make_energy_scorer(n_samples=50, random_state=0)
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}.")
    if random_state is not None and not isinstance(random_state, numbers.Integral):
        check_random_state(random_state)
    return EnergyScorer(int(n_samples), random_state)
