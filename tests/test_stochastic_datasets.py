"""Stochastic problems: pathwise derivatives, unbiased mean gradients, reference samplers."""

import numpy as np
import pytest

from sklearn_gi.datasets import (
    get_stochastic_problem,
    list_problems,
    list_stochastic_problems,
    make_stochastic_problem,
)

NAMES = ["heteroscedastic", "garch", "blob_image"]


def test_registry_is_separate_from_deterministic_problems():
    assert list_stochastic_problems() == sorted(NAMES)
    assert not set(NAMES) & set(list_problems())
    with pytest.raises(ValueError, match="Unknown stochastic problem 'nope'"):
        get_stochastic_problem("nope")


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_seeds(name):
    problem = get_stochastic_problem(name)
    X, Y, dYdX = make_stochastic_problem(name, 12, random_state=0)
    k, d = problem.n_outputs, problem.n_features
    assert X.shape == (12, d)
    assert Y.shape == ((12,) if k == 1 else (12, k))
    assert dYdX.shape == ((12, d) if k == 1 else (12, k, d))
    assert np.all((X >= problem.bounds[:, 0]) & (X <= problem.bounds[:, 1]))
    X2, Y2, _ = make_stochastic_problem(name, 12, random_state=0)
    np.testing.assert_array_equal(Y, Y2)
    _, Y3, _ = make_stochastic_problem(name, 12, random_state=1)
    assert not np.allclose(Y, Y3)


def test_runs_per_input_repeats_inputs_with_independent_runs():
    X, y, _ = make_stochastic_problem("heteroscedastic", 12, runs_per_input=4, random_state=0)
    assert len(np.unique(X[:, 0])) == 3
    assert len(np.unique(y)) == 12
    with pytest.raises(ValueError, match="multiple of runs_per_input"):
        make_stochastic_problem("heteroscedastic", 10, runs_per_input=4)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_stochastic_problem("garch", 0)


@pytest.mark.parametrize("name", NAMES)
def test_pathwise_derivatives_match_finite_differences_with_noise_fixed(name):
    problem = get_stochastic_problem(name)
    X = problem.sample_inputs(6, random_state=3)
    _, dYdX = problem.simulate(X, random_state=7)
    h = 1e-6
    for j in range(problem.n_features):
        step = np.zeros(problem.n_features)
        step[j] = h
        up, _ = problem.simulate(X + step, random_state=7)
        down, _ = problem.simulate(X - step, random_state=7)
        np.testing.assert_allclose(dYdX[:, :, j], (up - down) / (2 * h), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_mean_of_pathwise_derivatives_is_gradient_of_conditional_mean(name):
    """E[dy/dx | x] = d/dx E[y | x], checked by Monte Carlo within 4 standard errors."""
    problem = get_stochastic_problem(name)
    X = problem.sample_inputs(2, random_state=11)
    runs = 4000 if name == "blob_image" else 40000
    _, G = problem.simulate(np.repeat(X, runs, axis=0), random_state=0)
    G = G.reshape(2, runs, problem.n_outputs, problem.n_features)
    mean, stderr = G.mean(axis=1), G.std(axis=1) / np.sqrt(runs)
    h = 1e-5
    fd = np.stack([
        (problem.conditional_mean(X + h * e) - problem.conditional_mean(X - h * e)) / (2 * h)
        for e in np.eye(problem.n_features)
    ], axis=-1)
    assert np.all(np.abs(mean - fd) <= 4 * stderr + 1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_reference_sample_matches_conditional_mean(name):
    problem = get_stochastic_problem(name)
    X = problem.sample_inputs(3, random_state=2)
    draws = problem.reference_sample(X, 4000, random_state=0)
    assert draws.shape == (3, 4000, problem.n_outputs)
    stderr = draws.std(axis=1) / np.sqrt(4000)
    assert np.all(np.abs(draws.mean(axis=1) - problem.conditional_mean(X)) <= 4 * stderr + 1e-9)


def test_heteroscedastic_reference_is_the_exact_gaussian():
    problem = get_stochastic_problem("heteroscedastic")
    draws = problem.reference_sample([[1.0]], 20000, random_state=0)[0, :, 0]
    assert abs(draws.mean() - np.sin(3.0)) < 0.01
    assert abs(draws.std() - 0.25) < 0.005  # 0.1 + 0.15 * 1^2


def test_garch_recursion_by_hand():
    problem = get_stochastic_problem("garch")
    sigma, _ = problem._paths(np.array([[0.1, 0.2, 0.3, 0.4]]), np.array([2.0]), np.array([1.1]))
    s1 = 0.2 + 0.3 * 1.0**2 + 0.4 * 4.0
    expected = [s1]
    for _ in range(4):
        expected.append(0.2 + 0.7 * expected[-1])
    np.testing.assert_allclose(sigma[0], np.sqrt(expected))


def test_wrong_number_of_features_is_named():
    with pytest.raises(ValueError, match=r"expected shape \(n_samples, 4\)"):
        get_stochastic_problem("garch").simulate(np.zeros((2, 3)))
