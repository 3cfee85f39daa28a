"""Huge and Savine's Monte Carlo pricing problems: noisy payoffs with pathwise derivatives.

B. Huge and A. Savine, "Differential Machine Learning" (2020), learn a pricing
function from Monte Carlo paths, each labelled with one payoff and its pathwise
derivative with respect to the spot. The labels are unbiased but noisy: the
target is their conditional expectation, the price, whose gradient is the
delta. The generators below follow the authors' notebooks (their
``Bachelier`` and ``BlackScholes`` classes): the same market draws, path
construction, antithetic averaging and test sets, with separate seeds for the
market and for the paths.
"""

import numbers

import numpy as np
from scipy.special import ndtr
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _check_positive_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _normal_pdf(x):
    return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


class _SpotProblem:
    """Shared validation of spot matrices for the pricing problems."""

    n_features = 1

    def _check_spots(self, X):
        X = check_array(X, dtype=np.float64, input_name="X")
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} takes {self.n_features} "
                f"spots: expected shape (n_samples, {self.n_features})."
            )
        return X


class BachelierBasket(_SpotProblem):
    """A call on a basket of ``n_features`` correlated Bachelier assets (Huge and Savine, 2020).

    The market is drawn once from ``random_state``, as in the authors'
    notebook: a correlation ``D^-1/2 R^T R D^-1/2`` with ``R ~ U(-1, 1)`` of
    shape ``(2 n, n)``; basket weights ``a ~ U(1, 10)^n`` normalised to sum 1;
    volatilities ``v ~ U(5, 50)^n`` rescaled so that the basket volatility
    ``sqrt(a^T Cov a)`` is exactly ``basket_vol = 0.2``. The option pays
    ``max(S_2 . a - K, 0)`` at ``T2 = 2`` with ``K = 1.10``; its price at
    ``T1 = 1`` as a function of the spots ``S_1`` is Bachelier's formula for
    the basket with ``T = T2 - T1 = 1``.

    Training paths (:meth:`simulate`) start at ``S_0 = 1``:
    ``S_1 = 1 + L N_1 vol_mult sqrt(T1)`` with ``L = chol(Cov)`` and
    ``vol_mult = 1.5`` (more samples in the wings), then
    ``S_2 = S_1 + L N_2 sqrt(T2 - T1)``. The label is the payoff and the
    pathwise derivative ``1{S_2 . a > K} a``, each averaged with the
    antithetic path ``S_1 - L N_2 sqrt(T2 - T1)``.

    Parameters
    ----------
    n_features : int, default=7
        Number of assets.
    random_state : int, RandomState instance or None, default=0
        Seed of the market (correlation, weights, volatilities).

    Attributes
    ----------
    weights : ndarray of shape (n_features,)
        Basket weights ``a`` (sum 1).
    vols : ndarray of shape (n_features,)
        Asset (normal) volatilities after rescaling.
    correlation : ndarray of shape (n_features, n_features)
    covariance : ndarray of shape (n_features, n_features)
        ``diag(vols) correlation diag(vols)``; ``weights @ covariance @ weights == basket_vol**2``.
    strike, basket_vol, T1, T2, vol_mult : float
        1.10, 0.2, 1, 2 and 1.5.

    Examples
    --------
    >>> from sklearn_gi.datasets import BachelierBasket
    >>> basket = BachelierBasket(5, random_state=0)
    >>> X, y, dYdX = basket.simulate(1000, random_state=1)
    >>> X.shape, y.shape, dYdX.shape
    ((1000, 5), (1000,), (1000, 5))
    >>> X_test = basket.test_spots()
    >>> basket.price(X_test).shape, basket.delta(X_test).shape
    ((4096,), (4096, 5))
    >>> round(float(basket.weights @ basket.covariance @ basket.weights), 12)
    0.04
    """

    strike = 1.10
    basket_vol = 0.2
    T1 = 1.0
    T2 = 2.0
    vol_mult = 1.5

    def __init__(self, n_features=7, *, random_state=0):
        self.n_features = _check_positive_int(n_features, "n_features")
        rng = check_random_state(random_state)
        n = self.n_features
        # Same order of draws as the authors' notebook: correlation, weights, vols.
        randoms = rng.uniform(-1.0, 1.0, size=(2 * n, n))
        gram = randoms.T @ randoms
        inv_sd = 1.0 / np.sqrt(np.diag(gram))
        self.correlation = inv_sd[:, None] * gram * inv_sd[None, :]
        weights = rng.uniform(1.0, 10.0, size=n)
        self.weights = weights / weights.sum()
        vols = rng.uniform(5.0, 50.0, size=n)
        weighted = self.weights * vols
        self.vols = vols * self.basket_vol / np.sqrt(weighted @ self.correlation @ weighted)
        self.covariance = self.vols[:, None] * self.correlation * self.vols[None, :]
        self._chol = np.linalg.cholesky(self.covariance)

    def simulate(self, n_samples, random_state=None, *, antithetic=True):
        """Training paths: spots ``S_1``, payoffs and pathwise derivatives.

        Parameters
        ----------
        n_samples : int
            Number of paths.
        random_state : int, RandomState instance or None, default=None
            Seed of the paths (the market is fixed by the constructor).
        antithetic : bool, default=True
            Average each path's payoff and derivative with its antithetic
            twin (the second increment negated), as the authors do.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Spots at ``T1``.
        y : ndarray of shape (n_samples,)
            Payoff at ``T2`` (antithetic average).
        dYdX : ndarray of shape (n_samples, n_features)
            Pathwise derivative of the payoff with respect to ``X``.
        """
        n_samples = _check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        normals = rng.standard_normal(size=(2, n_samples, self.n_features))
        first = normals[0] @ self._chol.T * (np.sqrt(self.T1) * self.vol_mult)
        second = normals[1] @ self._chol.T * np.sqrt(self.T2 - self.T1)
        X = 1.0 + first
        basket = X @ self.weights
        basket_increment = second @ self.weights
        up = basket + basket_increment
        y = np.maximum(up - self.strike, 0.0)
        in_money = (up > self.strike).astype(np.float64)
        if antithetic:
            down = basket - basket_increment
            y = 0.5 * (y + np.maximum(down - self.strike, 0.0))
            # Indicators added as numbers (a boolean sum would saturate at 1).
            in_money = 0.5 * (in_money + (down > self.strike).astype(np.float64))
        return X, y, in_money[:, None] * self.weights[None, :]

    def test_spots(self, n_samples=4096, random_state=0):
        """The authors' test spots: uniform in ``[1 - 0.5 adj, 1 + 0.5 adj]^n``.

        ``adj = 1 + 0.5 sqrt((n - 1) / 12)`` widens the box with the
        dimension so that the basket spans a similar range.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        n_samples = _check_positive_int(n_samples, "n_samples")
        half_width = 0.5 * (1.0 + 0.5 * np.sqrt((self.n_features - 1) / 12.0))
        rng = check_random_state(random_state)
        return rng.uniform(1.0 - half_width, 1.0 + half_width, size=(n_samples, self.n_features))

    def _moneyness(self, X):
        basket = self._check_spots(X) @ self.weights
        scale = self.basket_vol * np.sqrt(self.T2 - self.T1)
        return basket - self.strike, scale

    def price(self, X):
        """Exact price at spots ``X``: ``(B - K) Phi(d) + s phi(d)``, ``d = (B - K) / s``.

        ``B = X . weights`` and ``s = basket_vol sqrt(T2 - T1)``. Returns
        ndarray of shape (n_samples,).
        """
        forward, scale = self._moneyness(X)
        d = forward / scale
        return forward * ndtr(d) + scale * _normal_pdf(d)

    def delta(self, X):
        """Exact deltas ``Phi(d) weights``: ndarray of shape (n_samples, n_features)."""
        forward, scale = self._moneyness(X)
        return ndtr(forward / scale)[:, None] * self.weights[None, :]

    def __repr__(self):
        return f"BachelierBasket(n_features={self.n_features})"


class BlackScholesCall(_SpotProblem):
    """A call on one Black-Scholes asset (Huge and Savine, 2020), zero rates.

    Volatility 0.2, strike 1.10, payoff at ``T2 = 2`` priced at ``T1 = 1``.
    Training paths (:meth:`simulate`) start at spot 1 with a wider volatility
    ``0.2 * vol_mult = 0.3`` up to ``T1``:
    ``S_1 = exp(-0.045 + 0.3 N_1)``, ``R_2 = exp(-0.02 + 0.2 N_2)``,
    ``S_2 = S_1 R_2``; the label is the payoff ``max(S_2 - K, 0)`` and its
    pathwise derivative ``1{S_2 > K} R_2``, each averaged with the antithetic
    path (``-N_2``). The test spots are ``linspace(0.35, 1.65, 100)``.

    Attributes
    ----------
    n_features : int
        1.
    vol, strike, T1, T2, vol_mult : float
        0.2, 1.10, 1, 2 and 1.5.

    Examples
    --------
    >>> from sklearn_gi.datasets import BlackScholesCall
    >>> call = BlackScholesCall()
    >>> X, y, dYdX = call.simulate(500, random_state=0)
    >>> X.shape, y.shape, dYdX.shape
    ((500, 1), (500,), (500, 1))
    >>> round(float(call.price([[1.1]])[0]), 6)
    0.087621
    """

    vol = 0.2
    strike = 1.10
    T1 = 1.0
    T2 = 2.0
    vol_mult = 1.5

    def simulate(self, n_samples, random_state=None, *, antithetic=True):
        """Training paths: spots ``S_1``, payoffs and pathwise derivatives.

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState instance or None, default=None
        antithetic : bool, default=True

        Returns
        -------
        X : ndarray of shape (n_samples, 1)
        y : ndarray of shape (n_samples,)
        dYdX : ndarray of shape (n_samples, 1)
        """
        n_samples = _check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        normals = rng.standard_normal(size=(n_samples, 2))
        vol0 = self.vol * self.vol_mult
        S1 = np.exp(-0.5 * vol0**2 * self.T1 + vol0 * np.sqrt(self.T1) * normals[:, 0])
        dt = self.T2 - self.T1

        def leg(sign):
            growth = np.exp(-0.5 * self.vol**2 * dt + sign * self.vol * np.sqrt(dt) * normals[:, 1])
            S2 = S1 * growth
            return np.maximum(S2 - self.strike, 0.0), np.where(S2 > self.strike, growth, 0.0)

        y, dydx = leg(1.0)
        if antithetic:
            y_anti, dydx_anti = leg(-1.0)
            y, dydx = 0.5 * (y + y_anti), 0.5 * (dydx + dydx_anti)
        return S1[:, None], y, dydx[:, None]

    def test_spots(self, n_samples=100):
        """The authors' test spots ``linspace(0.35, 1.65, n_samples)`` as shape (n_samples, 1)."""
        n_samples = _check_positive_int(n_samples, "n_samples")
        return np.linspace(0.35, 1.65, n_samples)[:, None]

    def _d1(self, X):
        spot = self._check_spots(X)[:, 0]
        if np.any(spot <= 0):
            raise ValueError("Black-Scholes spots X must be positive.")
        scale = self.vol * np.sqrt(self.T2 - self.T1)
        d1 = (np.log(spot / self.strike) + 0.5 * scale**2) / scale
        return spot, d1, d1 - scale

    def price(self, X):
        """Exact Black-Scholes price ``S Phi(d1) - K Phi(d2)``: ndarray of shape (n_samples,)."""
        spot, d1, d2 = self._d1(X)
        return spot * ndtr(d1) - self.strike * ndtr(d2)

    def delta(self, X):
        """Exact delta ``Phi(d1)``: ndarray of shape (n_samples, 1)."""
        return ndtr(self._d1(X)[1])[:, None]

    def __repr__(self):
        return "BlackScholesCall()"


def make_bachelier(n_samples, n_features=7, *, random_state=None, market_random_state=0, antithetic=True):
    """Monte Carlo training set of Huge and Savine's Bachelier basket option.

    One path per row: the spots at ``T1``, the (antithetic-averaged) payoff at
    ``T2`` and its pathwise derivative with respect to the spots. The exact
    prices and deltas come from :class:`BachelierBasket` built with the same
    ``market_random_state``.

    Parameters
    ----------
    n_samples : int
        Number of paths.
    n_features : int, default=7
        Number of assets in the basket.
    random_state : int, RandomState instance or None, default=None
        Seed of the paths.
    market_random_state : int, RandomState instance or None, default=0
        Seed of the market (correlation, weights, volatilities).
    antithetic : bool, default=True
        Average each path with its antithetic twin.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    dYdX : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> from sklearn_gi.datasets import BachelierBasket, make_bachelier
    >>> X, y, dYdX = make_bachelier(2048, 7, random_state=0, market_random_state=1)
    >>> basket = BachelierBasket(7, random_state=1)
    >>> X_test = basket.test_spots()
    >>> y_test, delta_test = basket.price(X_test), basket.delta(X_test)
    >>> X.shape, dYdX.shape, delta_test.shape
    ((2048, 7), (2048, 7), (4096, 7))
    """
    basket = BachelierBasket(n_features, random_state=market_random_state)
    return basket.simulate(n_samples, random_state, antithetic=antithetic)


def make_black_scholes(n_samples, *, random_state=None, antithetic=True):
    """Monte Carlo training set of Huge and Savine's Black-Scholes call.

    Parameters
    ----------
    n_samples : int
        Number of paths.
    random_state : int, RandomState instance or None, default=None
        Seed of the paths.
    antithetic : bool, default=True
        Average each path with its antithetic twin.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
    y : ndarray of shape (n_samples,)
    dYdX : ndarray of shape (n_samples, 1)

    Examples
    --------
    >>> from sklearn_gi.datasets import BlackScholesCall, make_black_scholes
    >>> X, y, dYdX = make_black_scholes(1024, random_state=0)
    >>> call = BlackScholesCall()
    >>> X_test = call.test_spots()
    >>> X.shape, call.price(X_test).shape, call.delta(X_test).shape
    ((1024, 1), (100,), (100, 1))
    """
    return BlackScholesCall().simulate(n_samples, random_state, antithetic=antithetic)
