"""Huge and Savine's Bachelier basket and Black-Scholes call: markets, paths, exact prices and deltas."""

import numpy as np
import pytest

from sklearn_gi.datasets import BachelierBasket, BlackScholesCall, make_bachelier, make_black_scholes


def _assert_mc_mean(samples, expected, n_se=4.5):
    """``samples`` (n, k) average to ``expected`` (k,) within ``n_se`` Monte Carlo standard errors."""
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / np.sqrt(len(samples))
    assert np.all(np.abs(mean - expected) <= n_se * se + 1e-12), (mean, expected, se)


@pytest.mark.parametrize("n_features", [1, 2, 7, 20])
@pytest.mark.parametrize("seed", [0, 3])
def test_market_has_basket_vol_0_2_and_a_valid_correlation(n_features, seed):
    basket = BachelierBasket(n_features, random_state=seed)
    a = basket.weights
    assert a.shape == (n_features,) and np.all(a > 0)
    np.testing.assert_allclose(a.sum(), 1.0)
    np.testing.assert_allclose(np.sqrt(a @ basket.covariance @ a), 0.2, rtol=1e-12)
    np.testing.assert_allclose(np.diag(basket.correlation), 1.0)
    assert np.linalg.eigvalsh(basket.correlation).min() > 0
    np.testing.assert_allclose(basket.covariance, np.outer(basket.vols, basket.vols) * basket.correlation)


def test_market_is_seeded_separately_from_the_paths():
    X1, y1, z1 = make_bachelier(50, 5, random_state=1, market_random_state=0)
    X2, y2, z2 = make_bachelier(50, 5, random_state=1, market_random_state=0)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(z1, z2)
    _, y3, _ = make_bachelier(50, 5, random_state=2, market_random_state=0)
    assert not np.allclose(y1, y3)
    X4, _, z4 = make_bachelier(50, 5, random_state=1, market_random_state=9)
    assert not np.allclose(BachelierBasket(5, random_state=0).weights,
                           BachelierBasket(5, random_state=9).weights)
    # Same path normals, different market: the spots move with the market's covariance only.
    assert not np.allclose(X1, X4)


@pytest.mark.parametrize("n_features", [1, 7, 20])
def test_shapes_and_pathwise_derivatives_are_indicators_times_weights(n_features):
    X, y, dYdX = make_bachelier(64, n_features, random_state=0, market_random_state=2)
    assert X.shape == (64, n_features) and y.shape == (64,) and dYdX.shape == (64, n_features)
    assert np.all(y >= 0)
    weights = BachelierBasket(n_features, random_state=2).weights
    fraction = dYdX / weights
    np.testing.assert_allclose(fraction, fraction[:, :1] * np.ones(n_features), atol=1e-15)
    assert set(np.unique(fraction[:, 0])) <= {0.0, 0.5, 1.0}
    # Half-in-the-money paths exist: the two indicators are added as numbers.
    assert np.any(fraction[:, 0] == 0.5)


def test_antithetic_average_of_the_two_paths():
    basket = BachelierBasket(4, random_state=0)
    X, y, dYdX = basket.simulate(200, random_state=5)
    X_plain, y_plain, dYdX_plain = basket.simulate(200, random_state=5, antithetic=False)
    np.testing.assert_array_equal(X, X_plain)
    # Rebuild the antithetic leg from the same normals (documented order: first then second increment).
    normals = np.random.RandomState(5).standard_normal(size=(2, 200, 4))
    increment = normals[1] @ np.linalg.cholesky(basket.covariance).T
    down = (X - increment) @ basket.weights
    np.testing.assert_allclose(2 * y - y_plain, np.maximum(down - 1.10, 0.0), atol=1e-12)
    np.testing.assert_allclose(2 * dYdX - dYdX_plain, (down > 1.10)[:, None] * basket.weights, atol=1e-15)
    # Antithetic averaging lowers the label noise around the exact price.
    noise = np.var(y - basket.price(X))
    noise_plain = np.var(y_plain - basket.price(X))
    assert noise < 0.8 * noise_plain


@pytest.mark.parametrize("n_features", [1, 7])
def test_bachelier_price_and_delta_match_monte_carlo_at_fixed_spots(n_features):
    basket = BachelierBasket(n_features, random_state=1)
    spots = basket.test_spots(4, random_state=2)
    chol = np.linalg.cholesky(basket.covariance)
    rng = np.random.RandomState(0)
    for spot in spots:
        increments = rng.standard_normal((100_000, n_features)) @ chol.T
        terminal = (spot + increments) @ basket.weights
        payoff = np.maximum(terminal - 1.10, 0.0)
        pathwise = (terminal > 1.10)[:, None] * basket.weights
        _assert_mc_mean(payoff[:, None], basket.price(spot[None])[None, 0])
        _assert_mc_mean(pathwise, basket.delta(spot[None])[0])


def test_training_labels_are_unbiased_for_the_exact_price_and_delta():
    basket = BachelierBasket(7, random_state=0)
    X, y, dYdX = basket.simulate(200_000, random_state=3)
    residual = y - basket.price(X)
    delta_residual = dYdX - basket.delta(X)
    _assert_mc_mean(residual[:, None], np.zeros(1))
    _assert_mc_mean(delta_residual, np.zeros(7))
    # Also uncorrelated with the spots (conditional, not only marginal, unbiasedness).
    _assert_mc_mean(residual[:, None] * (X - 1.0), np.zeros(7))
    # The spots have the training covariance (vol_mult = 1.5, T1 = 1).
    np.testing.assert_allclose(np.cov(X.T), 2.25 * basket.covariance, atol=0.02 * 2.25 * basket.vols.max()**2)


def test_bachelier_delta_is_the_gradient_of_the_price():
    basket = BachelierBasket(3, random_state=4)
    X = basket.test_spots(20, random_state=1)
    h = 1e-6
    fd = np.stack([(basket.price(X + h * e) - basket.price(X - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(basket.delta(X), fd, atol=1e-8)
    # Far in the money the price is the forward and the delta the weights.
    deep = np.full((1, 3), 3.0)
    np.testing.assert_allclose(basket.price(deep), deep @ basket.weights - 1.10, rtol=1e-12)


@pytest.mark.parametrize("n_features, half_width", [(1, 0.5), (7, 0.5 * (1 + 0.5 * np.sqrt(0.5))),
                                                    (13, 0.75)])
def test_bachelier_test_spots_box(n_features, half_width):
    basket = BachelierBasket(n_features)
    X = basket.test_spots()
    assert X.shape == (4096, n_features)
    assert X.min() >= 1 - half_width and X.max() <= 1 + half_width
    assert X.min() < 1 - 0.99 * half_width and X.max() > 1 + 0.99 * half_width
    np.testing.assert_array_equal(X, basket.test_spots())
    assert not np.allclose(X, basket.test_spots(random_state=1))


def test_black_scholes_paths_and_exact_values():
    X, y, dYdX = make_black_scholes(100, random_state=0)
    assert X.shape == (100, 1) and y.shape == (100,) and dYdX.shape == (100, 1)
    np.testing.assert_array_equal(make_black_scholes(100, random_state=0)[1], y)
    call = BlackScholesCall()
    X_test = call.test_spots()
    np.testing.assert_allclose(X_test[:, 0], np.linspace(0.35, 1.65, 100))
    h = 1e-6
    fd = (call.price(X_test + h) - call.price(X_test - h)) / (2 * h)
    np.testing.assert_allclose(call.delta(X_test)[:, 0], fd, atol=1e-7)
    # At the money forward (zero rates): S (Phi(s/2) - Phi(-s/2)), s = 0.2.
    from scipy.stats import norm
    np.testing.assert_allclose(call.price([[1.1]]), 1.1 * (norm.cdf(0.1) - norm.cdf(-0.1)), rtol=1e-12)


def test_black_scholes_price_and_delta_match_monte_carlo():
    call = BlackScholesCall()
    rng = np.random.RandomState(0)
    for spot in [0.6, 1.0, 1.1, 1.5]:
        normals = rng.standard_normal(200_000)
        growth = np.exp(-0.02 + 0.2 * normals)
        terminal = spot * growth
        _assert_mc_mean(np.maximum(terminal - 1.10, 0.0)[:, None], call.price([[spot]]))
        _assert_mc_mean(np.where(terminal > 1.10, growth, 0.0)[:, None], call.delta([[spot]])[0])


def test_black_scholes_training_labels_are_unbiased():
    call = BlackScholesCall()
    X, y, dYdX = call.simulate(200_000, random_state=1)
    np.testing.assert_allclose(np.std(np.log(X)), 0.3, rtol=0.01)
    _assert_mc_mean((y - call.price(X))[:, None], np.zeros(1))
    _assert_mc_mean(dYdX - call.delta(X), np.zeros(1))
    _, y_plain, _ = call.simulate(200_000, random_state=1, antithetic=False)
    assert np.var(y - call.price(X)) < 0.8 * np.var(y_plain - call.price(X))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10", None])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_bachelier(bad)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_black_scholes(bad)
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        BachelierBasket(bad)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        BachelierBasket(2).test_spots(bad)


def test_bad_spots_are_refused():
    basket = BachelierBasket(3)
    with pytest.raises(ValueError, match=r"expected shape \(n_samples, 3\)"):
        basket.price(np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        basket.delta([[1.0, np.nan, 1.0]])
    with pytest.raises(ValueError, match="infinity"):
        BlackScholesCall().price([[np.inf]])
    with pytest.raises(ValueError, match="must be positive"):
        BlackScholesCall().delta([[0.0]])
    with pytest.raises(ValueError, match=r"expected shape \(n_samples, 1\)"):
        BlackScholesCall().price(np.ones((3, 2)))
