"""How much of the change of the values between neighbouring samples the gradients fail to explain."""

import numpy as np
from sklearn.utils import check_array

from ._validation import check_gradient_targets


def gradient_inconsistency(X, y, dYdX):
    """Share of the nearest-neighbour value differences that the gradients do not explain.

    Each sample ``i`` is paired with its nearest neighbour ``j`` (Euclidean
    distance between inputs divided by their standard deviations). The
    trapezoid rule predicts the difference of the values from the gradients,
    ``y_j - y_i ~ (g_i + g_j) . (x_j - x_i) / 2``, with an error of the order
    of the third derivative times the cube of the spacing. The result is
    ``sum (y_j - y_i - prediction)^2 / sum (y_j - y_i)^2`` over the pairs, the
    largest over the outputs.

    What it measured (maxima over 3 seeds, minima over 5):

    - **Exact smooth data: small, while the samples are dense enough.** Below
      0.09 on every suite function (up to 10 inputs) at 1,024 samples; the
      exception is Bukin N.6, which has a kink (0.68). With many inputs the
      neighbours are far apart and exact data look noisy too: a Gaussian
      bump on ``[-1, 1]^d`` at 1,024 samples gives up to 0.047 with 8 inputs,
      0.14 with 10 and 2.5 with 20 (3 seeds).
    - **Monte Carlo payoffs with pathwise derivatives: about 0.25 to 1.**
      Bachelier baskets of 2 to 20 assets and the Black-Scholes call, from
      1,024 paths on.
    - **Gradients that do not belong to the values: about 1 or more.** For
      example a wrong sign, or an adjoint with a bug.

    :class:`~sklearn_gi.neural_network.GIMLPRegressor` uses it to choose its
    solver (up to 8 inputs). It is also a quick check of derivative data
    before any fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Values. A row with a NaN value is left out.
    dYdX : array-like of shape (n_samples, n_features) or \
            (n_samples, n_outputs, n_features)
        Gradients of ``y`` with respect to ``X``. A row with a NaN partial is
        left out (for that output).

    Returns
    -------
    ratio : float
        NaN when no pair of usable samples is left, or when every difference
        of the values is 0.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.utils import gradient_inconsistency
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(500, 2))
    >>> y, dYdX = np.sin(X).sum(axis=1), np.cos(X)
    >>> bool(gradient_inconsistency(X, y, dYdX) < 1e-3)
    True
    >>> noisy = y + rng.normal(scale=0.1, size=500)
    >>> bool(gradient_inconsistency(X, noisy, dYdX) > 0.5)
    True
    """
    X = check_array(X, dtype=np.float64, input_name="X")
    y = check_array(y, dtype=np.float64, ensure_2d=False, ensure_all_finite="allow-nan", input_name="y")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, n_outputs), got {y.shape}.")
    Y = y.reshape(len(y), -1)
    G = check_gradient_targets(dYdX, n_samples=X.shape[0], n_outputs=Y.shape[1], n_features=X.shape[1],
                               y_ndim=y.ndim)
    return _inconsistency(X, Y, G)


def _inconsistency(X, Y, G):
    """:func:`gradient_inconsistency` on validated arrays: X (n, p), Y (n, k), G (n, k, p)."""
    from sklearn.neighbors import NearestNeighbors

    ratios, neighbours = [], {}
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    for k in range(Y.shape[1]):  # per output: a large exact output must not hide a noisy one
        usable = np.isfinite(Y[:, k]) & np.isfinite(G[:, k]).all(axis=1)
        if usable.sum() < 2:
            continue
        x, v, g = X[usable], Y[usable, k], G[usable, k]
        key = usable.tobytes()  # outputs with the same usable rows share one search
        if key not in neighbours:  # each sample's nearest other sample
            search = NearestNeighbors(n_neighbors=1).fit(x / scale)
            neighbours[key] = search.kneighbors(return_distance=False)[:, 0]
        j = neighbours[key]
        difference = v[j] - v
        predicted = 0.5 * np.einsum("ij,ij->i", g + g[j], x[j] - x)
        total = float(np.sum(difference**2))
        if total > 0:
            ratios.append(float(np.sum((difference - predicted) ** 2)) / total)
    return max(ratios) if ratios else np.nan
