import numpy as np
import pandas as pd
import pytest

from sklearn_gi.datasets import SOBOLEV_FUNCTIONS, get_problem, list_problems, make_problem

ALL = list_problems()


def _central_differences(problem, X, eps):
    cols = []
    for m in range(X.shape[1]):
        step = np.zeros(X.shape[1])
        step[m] = eps
        cols.append((problem.value(X + step) - problem.value(X - step)) / (2 * eps))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("name", ALL)
def test_analytic_gradients_match_finite_differences(name):
    problem = get_problem(name)
    X = problem.sample(200, random_state=1)
    G = problem.gradient(X)
    fd = _central_differences(problem, X, 1e-6)
    if name == "bukin_n6":
        # sqrt|u| has a kink on u = 0: keep points whose FD stencil does not straddle it
        u = X[:, 1] - 0.01 * X[:, 0] ** 2
        keep = np.abs(u) > 1e-3
        G, fd = G[keep], fd[keep]
        assert keep.sum() > 150
    scale = np.maximum(1.0, np.abs(G))
    np.testing.assert_allclose(G / scale, fd / scale, atol=1e-5)


def test_the_seven_sobolev_functions_and_their_domains():
    assert len(SOBOLEV_FUNCTIONS) == 7
    domains = {
        "ackley": [[-5, 5], [-5, 5]],
        "beale": [[-4.5, 4.5], [-4.5, 4.5]],
        "booth": [[-10, 10], [-10, 10]],
        "bukin_n6": [[-15, -5], [-3, 3]],
        "mccormick": [[-1.5, 4], [-3, 4]],
        "rosenbrock": [[-2, 2], [-2, 2]],
        "styblinski_tang": [[-5, 5], [-5, 5]],
    }
    for name in SOBOLEV_FUNCTIONS:
        problem = get_problem(name)
        np.testing.assert_array_equal(problem.bounds, domains[name])
        X = problem.sample(500, random_state=0)
        assert np.all(X >= problem.bounds[:, 0]) and np.all(X <= problem.bounds[:, 1])


@pytest.mark.parametrize(
    "name, x, value",
    [
        ("ackley", [0.0, 0.0], 0.0),
        ("beale", [3.0, 0.5], 0.0),
        ("booth", [1.0, 3.0], 0.0),
        ("bukin_n6", [-10.0, 1.0], 0.0),
        ("mccormick", [-0.54719, -1.54719], -1.913222954),
        ("rosenbrock", [1.0, 1.0], 0.0),
        ("styblinski_tang", [-2.903534, -2.903534], -78.33233),
        ("runge", [0.2], 0.5),
    ],
)
def test_known_minima_and_values(name, x, value):
    assert get_problem(name).value([x])[0] == pytest.approx(value, abs=1e-5)


def test_make_problem_is_seeded_and_adds_noise_to_values_only():
    a = make_problem("beale", 30, random_state=3)
    b = make_problem("beale", 30, random_state=3)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    X, y, G = make_problem("sin", 2000, noise=0.1, random_state=0)
    np.testing.assert_allclose(G, np.cos(X))
    assert np.std(y - np.sin(X[:, 0])) == pytest.approx(0.1, rel=0.1)


def test_shapes_of_multi_output_and_partial_gradient_problems():
    X, Y, G = make_problem("mcdonagh_dynamic_2d", 7, random_state=0)
    assert X.shape == (7, 2) and Y.shape == (7, 10) and G.shape == (7, 10, 2)
    X, y, G = make_problem("mcdonagh_regression_8d", 7, random_state=0, gradient_wrt="parameters")
    assert X.shape == (7, 10) and G.shape == (7, 10)
    assert np.isnan(G[:, 8:]).all() and np.isfinite(G[:, :8]).all()
    np.testing.assert_array_equal(G[:, 0], 0.0)  # theta_0 has no effect
    X, y, G = make_problem("runge", 5, n_features=3, random_state=0)
    assert X.shape == (5, 3) and G.shape == (5, 3)


def test_simulators_reproduce_the_authors_shared_data(mcdonagh_reference):
    d2 = mcdonagh_reference / "data2d"
    X = pd.read_csv(d2 / "x_test.csv", index_col=0).to_numpy()
    Y = pd.read_csv(d2 / "y_test.csv", index_col=0).to_numpy()
    G = pd.read_csv(d2 / "y_test_grad.csv", header=[0, 1], index_col=0).to_numpy()
    problem = get_problem("mcdonagh_dynamic_2d")
    np.testing.assert_allclose(problem.value(X), Y, atol=1e-12)
    np.testing.assert_allclose(problem.gradient(X).reshape(len(X), -1), G, atol=1e-12)

    d8 = mcdonagh_reference / "data8d"
    theta = pd.read_csv(d8 / "x_test_latent.csv", index_col=0).to_numpy()
    covariates = pd.read_csv(d8 / "x_test_X.csv", index_col=0).to_numpy()[:, 1:]
    X = np.hstack([theta, covariates])
    y = pd.read_csv(d8 / "y_test.csv", index_col=0).to_numpy()[:, 0]
    G = pd.read_csv(d8 / "y_test_grad.csv", index_col=0).to_numpy()
    problem = get_problem("mcdonagh_regression_8d")
    np.testing.assert_allclose(problem.value(X), y, atol=1e-12)
    np.testing.assert_allclose(problem.gradient(X)[:, :8], G, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown problem 'nope'"):
        get_problem("nope")
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        make_problem("booth", 0)
    with pytest.raises(ValueError, match="noise must be a non-negative"):
        make_problem("booth", 5, noise=-1)
    with pytest.raises(ValueError, match=r"expected shape \(n_samples, 2\)"):
        get_problem("booth").value(np.ones((3, 3)))
    with pytest.raises(ValueError, match="gradient_wrt"):
        get_problem("mcdonagh_regression_8d", gradient_wrt="x")


@pytest.mark.parametrize("name", ["runge", "styblinski_tang"])
def test_dimension_is_validated(name):
    assert get_problem(name, n_features=5).n_features == 5
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        get_problem(name, n_features=0)


WING_BOUNDS = [[150, 200], [220, 300], [6, 10], [-10, 10], [16, 45], [0.5, 1], [0.08, 0.18],
               [2.5, 6], [1700, 2500], [0.025, 0.08]]


def _wing_weight_by_hand(x):
    Sw, Wfw, A, sweep, q, taper, tc, Nz, Wdg, Wp = x
    c = np.cos(np.deg2rad(sweep))
    return (0.036 * Sw**0.758 * Wfw**0.0035 * (A / c**2) ** 0.6 * q**0.006 * taper**0.04
            * (100 * tc / c) ** -0.3 * (Nz * Wdg) ** 0.49 + Sw * Wp)


def test_wing_weight_formula_bounds_and_sweep_in_degrees():
    wing = get_problem("wing_weight")
    np.testing.assert_array_equal(wing.bounds, WING_BOUNDS)
    assert wing.n_features == 10 and wing.input_names[3] == "Lambda"
    X = wing.sample(50, random_state=0)
    np.testing.assert_allclose(wing.value(X), [_wing_weight_by_hand(x) for x in X], rtol=1e-13)
    # the sweep enters through cos: even in Lambda, zero slope at 0, slope per degree
    mirrored = X.copy()
    mirrored[:, 3] *= -1
    np.testing.assert_allclose(wing.value(mirrored), wing.value(X), rtol=1e-14)
    np.testing.assert_allclose(wing.gradient(mirrored)[:, 3], -wing.gradient(X)[:, 3], rtol=1e-12)
    X[:, 3] = 0.0
    np.testing.assert_array_equal(wing.gradient(X)[:, 3], 0.0)
    x = np.mean(WING_BOUNDS, axis=1)
    x[3] = 10.0
    one_degree = (_wing_weight_by_hand(x + [0, 0, 0, 1e-4, 0, 0, 0, 0, 0, 0])
                  - _wing_weight_by_hand(x)) / 1e-4
    assert wing.gradient([x])[0, 3] == pytest.approx(one_degree, rel=1e-4)
    assert 0.1 < one_degree < 10  # per degree; per radian would be 57x larger
    # d/dWp is the wing area exactly
    np.testing.assert_array_equal(wing.gradient([x])[0, 9], x[0])


def test_wing_weight_matches_smt():
    problems = pytest.importorskip("smt.problems", reason="smt is not installed (it is in the test extra)")
    smt_wing = problems.WingWeight()
    wing = get_problem("wing_weight")
    np.testing.assert_array_equal(smt_wing.xlimits, wing.bounds)
    X = wing.sample(100, random_state=2)
    np.testing.assert_allclose(wing.value(X), smt_wing(X)[:, 0], rtol=1e-13)
    # SMT differentiates by complex step, accurate to rounding
    smt_gradient = np.column_stack([smt_wing(X, k)[:, 0] for k in range(10)])
    np.testing.assert_allclose(wing.gradient(X), smt_gradient, rtol=1e-12, atol=1e-12)


def test_latin_hypercube_sampling():
    from scipy.stats import qmc

    X, y, G = make_problem("wing_weight", 20, sampling="lhs", random_state=1)
    bounds = np.array(WING_BOUNDS, dtype=float)
    expected = qmc.scale(qmc.LatinHypercube(10, seed=1).random(20), bounds[:, 0], bounds[:, 1])
    np.testing.assert_allclose(X, expected, rtol=1e-15)
    # one point in each twentieth of every input's range
    strata = np.floor((X - bounds[:, 0]) / (bounds[:, 1] - bounds[:, 0]) * 20)
    np.testing.assert_array_equal(np.sort(strata, axis=0), np.tile(np.arange(20.0)[:, None], 10))
    np.testing.assert_allclose(y, get_problem("wing_weight").value(X))
    uniform = make_problem("wing_weight", 20, random_state=1)[0]
    assert not np.allclose(uniform, X)
    np.testing.assert_array_equal(uniform, get_problem("wing_weight").sample(20, random_state=1))
    # a RandomState instance works too, and noise still comes from the seed
    a = make_problem("booth", 10, sampling="lhs", noise=1.0, random_state=np.random.RandomState(0))
    b = make_problem("booth", 10, sampling="lhs", noise=1.0, random_state=np.random.RandomState(0))
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert np.abs(a[1] - get_problem("booth").value(a[0])).max() > 0.1
    # non-uniform inputs: the hypercube goes through the normal quantiles of the covariates
    X, _, _ = make_problem("mcdonagh_regression_8d", 400, sampling="lhs", random_state=0)
    assert np.all(np.abs(X[:, :8]) <= 0.5)
    assert np.abs(X[:, 8:].mean()) < 0.05 and np.abs(X[:, 8:].std() - 1) < 0.05


def test_bad_sampling():
    with pytest.raises(ValueError, match="sampling must be 'uniform' or 'lhs', got 'sobol'"):
        make_problem("booth", 5, sampling="sobol")
    with pytest.raises(ValueError, match="method must be 'uniform' or 'lhs'"):
        get_problem("wing_weight").sample(5, method="LHS")
    with pytest.raises(ValueError, match="method must be 'uniform' or 'lhs'"):
        get_problem("mcdonagh_regression_8d").sample(5, method=None)


def test_bateman_solves_the_decay_chain_and_validates_its_arguments():
    from scipy.integrate import solve_ivp

    chain = get_problem("bateman", n_species=4, times=[0.3, 1.0, 3.0])
    assert (chain.n_features, chain.n_outputs) == (4, 12)
    assert chain.input_names == ("lambda_1", "lambda_2", "lambda_3", "lambda_4")
    np.testing.assert_allclose(chain.bounds[:, 0], [0.5, 1.0, 1.5, 2.0])
    X = chain.sample(4, random_state=0)
    Y = chain.value(X)
    for rates, y in zip(X, Y):
        def rhs(t, N, rates=rates):
            dN = -rates * N
            dN[1:] += rates[:-1] * N[:-1]
            return dN

        ode = solve_ivp(rhs, (0, 3), [1, 0, 0, 0], t_eval=chain.times, rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(y, ode.y.ravel(), atol=1e-9)  # species-major columns
    G = chain.gradient(X).reshape(4, 4, 3, 4)
    # later rates do not affect earlier species
    assert np.all(G[:, 0, :, 1:] == 0) and np.all(G[:, 1, :, 2:] == 0)
    _, y, dYdX = make_problem("bateman", 6, random_state=0)
    assert y.shape == (6, 12) and dYdX.shape == (6, 12, 3)
    with pytest.raises(ValueError, match="n_species must be a positive integer"):
        get_problem("bateman", n_species=0)
    with pytest.raises(ValueError, match="times must be"):
        get_problem("bateman", times=[0.0, 1.0])


def _water_flow_by_hand(x):
    rw, r, Tu, Hu, Tl, Hl, L, Kw = x
    log_ratio = np.log(r / rw)
    return 2 * np.pi * Tu * (Hu - Hl) / (log_ratio * (1 + 2 * L * Tu / (log_ratio * rw**2 * Kw) + Tu / Tl))


def test_water_flow_formula_and_gradient():
    water = get_problem("water_flow")
    assert water.n_features == 8 and water.input_names == ("rw", "r", "Tu", "Hu", "Tl", "Hl", "L", "Kw")
    X = water.sample(30, random_state=0)
    np.testing.assert_allclose(water.value(X), [_water_flow_by_hand(x) for x in X], rtol=1e-13)
    # central differences, step relative to each input's range
    steps = 1e-5 * (water.bounds[:, 1] - water.bounds[:, 0])
    shifts = np.eye(8) * steps
    fd = np.column_stack([(water.value(X + shifts[i]) - water.value(X - shifts[i])) / (2 * steps[i])
                          for i in range(8)])
    G = water.gradient(X)
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-9 * np.abs(G).max())
    # the flow rises with the head difference and the borehole radius, falls with its length
    assert np.all(G[:, 3] > 0) and np.all(G[:, 5] < 0) and np.all(G[:, 0] > 0) and np.all(G[:, 6] < 0)


def test_water_flow_matches_smt():
    problems = pytest.importorskip("smt.problems", reason="smt is not installed (it is in the test extra)")
    smt_water = problems.WaterFlow()
    water = get_problem("water_flow")
    np.testing.assert_array_equal(smt_water.xlimits, water.bounds)
    X = water.sample(50, random_state=2)
    np.testing.assert_allclose(water.value(X), smt_water(X)[:, 0], rtol=1e-13)
    smt_gradient = np.column_stack([smt_water(X, k)[:, 0] for k in range(8)])
    np.testing.assert_allclose(water.gradient(X), smt_gradient, rtol=1e-9, atol=1e-9)
