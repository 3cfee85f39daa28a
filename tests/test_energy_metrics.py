"""Energy score, energy distance and the energy scorer against closed forms."""

import numpy as np
import pytest
from scipy.stats import norm

from sklearn_gi.metrics import energy_distance, energy_score, make_energy_scorer


def _gaussian_crps(y, mu, sigma):
    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


def _mean_abs_gaussian(mean, sd):
    """E|W| for W ~ N(mean, sd^2)."""
    return sd * np.sqrt(2 / np.pi) * np.exp(-(mean**2) / (2 * sd**2)) + mean * (1 - 2 * norm.cdf(-mean / sd))


def test_energy_score_of_gaussian_samples_is_the_closed_form_crps():
    rng = np.random.default_rng(0)
    y = np.array([-1.0, 0.3, 2.5])
    mu, sigma = np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.5, 2.0])
    draws = mu[:, None] + sigma[:, None] * rng.standard_normal((3, 4000))
    expected = _gaussian_crps(y, mu, sigma).mean()
    assert energy_score(y, draws) == pytest.approx(expected, abs=0.02)
    # the same with an explicit output axis
    assert energy_score(y[:, None], draws[:, :, None]) == pytest.approx(energy_score(y, draws))


def test_energy_score_is_proper_in_expectation():
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    scores = {shift: energy_score(y, rng.normal(shift, 1.0, (500, 200))) for shift in (0.0, 0.5)}
    wide = energy_score(y, rng.normal(0.0, 2.0, (500, 200)))
    assert scores[0.0] < scores[0.5] and scores[0.0] < wide


def test_energy_score_multivariate_point_mass():
    # forecasts that are a point mass: the score is the Euclidean distance
    y = np.array([[0.0, 0.0]])
    draws = np.tile([[3.0, 4.0]], (1, 5, 1))
    assert energy_score(y, draws) == pytest.approx(5.0)


def test_energy_distance_between_shifted_gaussians_in_closed_form():
    # quantile points of N(0, 1): the sample's law is the Gaussian up to O(1/m)
    a = norm.ppf((np.arange(2000) + 0.5) / 2000)
    expected = 2 * _mean_abs_gaussian(1.0, np.sqrt(2)) - 2 * _mean_abs_gaussian(0.0, np.sqrt(2))
    assert energy_distance(a, a + 1.0) == pytest.approx(expected, abs=0.005)
    assert abs(energy_distance(a, a[::-1].copy())) < 0.005


def test_energy_distance_averages_over_inputs():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 1000, 1))
    b = np.concatenate([rng.normal(size=(1, 1000, 1)), rng.normal(2.0, 1.0, (1, 1000, 1))])
    per_input = [energy_distance(a[i], b[i]) for i in range(2)]
    assert energy_distance(a, b) == pytest.approx(np.mean(per_input))


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="y_samples must have shape"):
        energy_score(np.zeros(3), np.zeros((4, 10)))
    with pytest.raises(ValueError, match="at least 2 draws"):
        energy_score(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="same number of inputs and outputs"):
        energy_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2"):
        make_energy_scorer(1)


class _GaussianSampler:
    def __init__(self, shift):
        self.shift = shift

    def sample(self, X, n_samples=1, random_state=None):
        rng = np.random.default_rng(random_state)
        return X[:, :1] + self.shift + rng.standard_normal((len(X), n_samples))


def test_energy_scorer_ranks_the_right_distribution_first():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 1))
    y = X[:, 0] + rng.standard_normal(300)
    scorer = make_energy_scorer(100)
    right, wrong = scorer(_GaussianSampler(0.0), X, y), scorer(_GaussianSampler(1.0), X, y)
    assert right > wrong
    assert right == pytest.approx(-energy_score(y, _GaussianSampler(0.0).sample(X, 100, random_state=0)))
