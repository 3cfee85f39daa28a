"""GIMLPRegressor on large noisy data: solver="auto", the one-cycle schedule, partial_weights."""

import warnings

import numpy as np
import torch
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.datasets import BachelierBasket, make_problem
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.neural_network._gi_mlp import (
    AUTO_ADAM_MIN_SAMPLES,
    NOISE_CHECK_MAX_FEATURES,
    NOISE_CHECK_MIN_SAMPLES,
    NOISY_DATA_ALPHA,
    NOISY_PENALTY_MIN_FEATURES,
    NOISY_UNEXPLAINED,
    ONE_CYCLE_KNOTS,
    RMS_WEIGHT_FLOOR,
)
from sklearn_gi.neural_network._modules import MLPModule
from sklearn_gi.neural_network._sobolev_net import OneCycleSchedule, SobolevData, unexplained_value_variance

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def basket_3d():
    basket = BachelierBasket(3, random_state=0)
    X, y, dYdX = basket.simulate(AUTO_ADAM_MIN_SAMPLES, random_state=0)
    X_test = basket.test_spots(500, random_state=1)
    return X, y, dYdX, X_test, basket.price(X_test), basket.delta(X_test)


def _rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def test_auto_picks_lbfgs_below_the_switch_and_one_cycle_adam_from_it():
    X, y, G = make_problem("sin", AUTO_ADAM_MIN_SAMPLES - 1, random_state=0)
    small = GIMLPRegressor((4,), max_iter=20, random_state=0).fit(X[:50], y[:50], G[:50])
    assert (small.solver_, small.activation_, small.partial_weights_) == ("lbfgs", "tanh", None)
    X, y, G = make_problem("sin", AUTO_ADAM_MIN_SAMPLES, random_state=0)
    large = GIMLPRegressor((4,), max_iter=3, random_state=0).fit(X, y, G)
    assert (large.solver_, large.activation_) == ("adam", "softplus")
    assert large.n_iter_ == 3 and large.converged_  # the schedule is the budget: no warning
    # 16 batches per epoch
    assert large.net_.batch_size == max(256, AUTO_ADAM_MIN_SAMPLES // 16)
    # an explicit solver="adam" keeps the constant rate, tanh and unweighted partials
    adam = GIMLPRegressor((4,), solver="adam", max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        adam.fit(X, y, G)
    assert adam.activation_ == "tanh" and adam.partial_weights_ is None
    assert adam.net_.batch_size == 200 and adam.net_.lr == 1e-3


def test_one_cycle_rates_follow_the_knots():
    schedule = OneCycleSchedule(0.1, 100, ONE_CYCLE_KNOTS)
    np.testing.assert_allclose([schedule.rate(e) for e in (0, 10, 20, 40, 60, 90, 100)],
                               [1e-8, 0.05, 0.1, 0.055, 0.01, 1e-6, 1e-8], rtol=1e-6)
    fractions, factors = zip(*ONE_CYCLE_KNOTS)
    epochs = np.arange(0, 101)
    np.testing.assert_allclose([schedule.rate(e) for e in epochs],
                               0.1 * np.interp(epochs / 100, fractions, factors))


def test_one_cycle_adam_learns_noisy_monte_carlo_prices(basket_3d):
    X, y, G, X_test, price, delta = basket_3d
    model = GIMLPRegressor((16, 16), max_iter=30, random_state=0).fit(X, y, G)
    assert model.solver_ == "adam"
    baseline = _rmse(price.mean(), price)
    error = _rmse(model.predict(X_test), price)
    assert error < baseline / 8, (error, baseline)
    delta_error = _rmse(model.predict_gradient(X_test), delta)
    assert delta_error < _rmse(delta.mean(axis=0), delta) / 4
    # the labels' own noise is far larger than the fit's error
    assert error < _rmse(y, model.predict(X)) / 5


def test_auto_picks_one_cycle_adam_for_noisy_data_from_the_noise_check_size():
    basket = BachelierBasket(3, random_state=0)
    X, y, G = basket.simulate(NOISE_CHECK_MIN_SAMPLES, random_state=0)
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    noisy = GIMLPRegressor(**kw).fit(X, y, G)
    assert (noisy.solver_, noisy.activation_) == ("adam", "softplus")  # the one-cycle path
    # one sample fewer, exact data of the same size, or no gradients: L-BFGS
    assert GIMLPRegressor(**kw).fit(X[:-1], y[:-1], G[:-1]).solver_ == "lbfgs"
    X_exact, y_exact, G_exact = make_problem("sin", NOISE_CHECK_MIN_SAMPLES, random_state=0)
    assert GIMLPRegressor(**kw).fit(X_exact, y_exact, G_exact).solver_ == "lbfgs"
    assert GIMLPRegressor(**kw).fit(X, y).solver_ == "lbfgs"
    assert GIMLPRegressor(solver="lbfgs", **kw).fit(X, y, G).solver_ == "lbfgs"
    # more than NOISE_CHECK_MAX_FEATURES inputs: neighbours too far apart to tell
    wide = BachelierBasket(NOISE_CHECK_MAX_FEATURES + 1, random_state=0)
    X_wide, y_wide, G_wide = wide.simulate(NOISE_CHECK_MIN_SAMPLES, random_state=0)
    assert GIMLPRegressor(**kw).fit(X_wide, y_wide, G_wide).solver_ == "lbfgs"
    # a warm start keeps its solver (and activation) instead of failing on the switch
    warm = GIMLPRegressor(warm_start=True, **kw).fit(X[:-1], y[:-1], G[:-1])
    warm.fit(X, y, G)
    assert (warm.solver_, warm.activation_) == ("lbfgs", "tanh")


def test_rms_partial_weights_equal_explicit_inverse_mean_squares(basket_3d):
    X, y, G, X_test, *_ = basket_3d
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    rms = GIMLPRegressor(partial_weights="rms", **kw).fit(X, y, G)
    standardized = G * X.std(axis=0) / y.std()
    expected = 1.0 / np.mean(standardized**2, axis=0)  # weights of the squared errors
    np.testing.assert_allclose(rms.partial_weights_, expected, rtol=1e-10)
    explicit = GIMLPRegressor(partial_weights=expected, **kw).fit(X, y, G)
    np.testing.assert_allclose(explicit.predict(X_test), rms.predict(X_test), rtol=1e-6, atol=1e-9)
    # "auto" on the one-cycle path is "rms"; None is unweighted and changes the fit
    auto = GIMLPRegressor(**kw).fit(X, y, G)
    np.testing.assert_array_equal(auto.predict(X_test), rms.predict(X_test))
    plain = GIMLPRegressor(partial_weights=None, **kw).fit(X, y, G)
    assert plain.partial_weights_ is None
    assert not np.allclose(plain.predict(X_test), rms.predict(X_test))


def test_partial_weights_weigh_each_partials_squared_error():
    # zero weight on input 1: its (wrong) partials must not matter
    X, y, G = make_problem("sin", 40, random_state=0)
    X2 = np.hstack([X, np.linspace(0, 1, 40)[:, None]])
    G_good = np.hstack([G, np.zeros((40, 1))])
    G_bad = np.hstack([G, np.full((40, 1), 5.0)])
    kw = dict(hidden_layer_sizes=(8,), max_iter=40, partial_weights=[1.0, 0.0], random_state=0)
    a = GIMLPRegressor(**kw).fit(X2, y, G_good)
    b = GIMLPRegressor(**kw).fit(X2, y, G_bad)
    np.testing.assert_allclose(a.predict(X2), b.predict(X2), rtol=1e-10, atol=1e-12)
    # an all-zero partial keeps weight 1 under "rms"
    rms = GIMLPRegressor((4,), partial_weights="rms", max_iter=5, random_state=0).fit(X2, y, G_good)
    assert rms.partial_weights_[1] == 1.0 and np.isfinite(rms.partial_weights_).all()


def test_rms_weights_floor_the_partials_an_input_barely_moves():
    # water flow: one input's partials are 1e-10 of the mean square; unfloored, its weight
    # (7e10) made the one-cycle fit learn only rounding noise (NRMSE 1.00, now 0.04)
    X, y, G = make_problem("water_flow", AUTO_ADAM_MIN_SAMPLES, random_state=0)
    X_test, y_test, _ = make_problem("water_flow", 500, random_state=1)
    model = GIMLPRegressor(max_iter=40, random_state=0).fit(X, y, G)
    mean_square = np.mean((G * X.std(axis=0) / y.std()) ** 2, axis=0)
    floor = RMS_WEIGHT_FLOOR * mean_square.mean()
    assert mean_square.min() < 1e-6 * floor  # the floor matters here
    np.testing.assert_allclose(model.partial_weights_, 1.0 / np.maximum(mean_square, floor), rtol=1e-10)
    assert _rmse(model.predict(X_test), y_test) / y_test.std() < 0.1


@pytest.mark.parametrize("weights, match", [([1.0], r"shape \(n_inputs,\) = \(2,\)"),
                                            ([1.0, -1.0], "non-negative"),
                                            ([1.0, np.nan], "finite"),
                                            ("bad", "partial_weights")])
def test_bad_partial_weights_are_refused(weights, match):
    X, y, G = make_problem("rosenbrock", 10, random_state=0)
    with pytest.raises(ValueError, match=match):
        GIMLPRegressor((4,), partial_weights=weights, max_iter=2).fit(X, y, G)


def test_early_stopping_cuts_the_one_cycle_on_validation(basket_3d):
    X, y, G, *_ = basket_3d
    model = GIMLPRegressor((8,), max_iter=40, early_stopping=True, n_iter_no_change=2,
                           learning_rate_init=0.5, random_state=0).fit(X, y, G)
    assert model.solver_ == "adam" and model.validation_loss_curve_ is not None
    assert model.best_loss_ == min(model.validation_loss_curve_)


def test_small_data_defaults_are_the_previous_defaults_bit_for_bit():
    # the committed suite and McDonagh tables (n <= 100) keep their fits
    X, y, G = make_problem("mccormick", 40, random_state=0)
    new = GIMLPRegressor((8, 8), random_state=0).fit(X, y, G)
    old = GIMLPRegressor((8, 8), solver="lbfgs", activation="tanh", partial_weights=None,
                         max_iter=5000, learning_rate_init=1e-3, random_state=0).fit(X, y, G)
    np.testing.assert_array_equal(new.predict(X), old.predict(X))
    assert new.n_iter_ == old.n_iter_


def test_one_cycle_trains_in_float32_and_answers_in_the_callers_dtype(basket_3d):
    X, y, G, X_test, price, _ = basket_3d
    kw = dict(hidden_layer_sizes=(16, 16), max_iter=5, random_state=0)
    auto = GIMLPRegressor(**kw).fit(X, y, G)
    assert auto.compute_dtype_ == np.float32
    assert auto.net_.module_.layers[0].weight.dtype == torch.float32
    assert auto.predict(X_test).dtype == np.float64
    assert auto.predict_gradient(X_test).dtype == np.float64
    assert auto.predict(X_test.astype(np.float32)).dtype == np.float32
    # the same fit as on float32 copies of the data (what the float32 path did before)
    f32 = GIMLPRegressor(compute_dtype="input", **kw).fit(*(a.astype(np.float32) for a in (X, y, G)))
    np.testing.assert_allclose(auto.predict(X_test), f32.predict(X_test.astype(np.float32)), rtol=1e-4,
                               atol=1e-6)
    # "input" keeps float64 data in float64, and the two agree to the fit's own error scale
    f64 = GIMLPRegressor(compute_dtype="input", **kw).fit(X, y, G)
    assert f64.compute_dtype_ == np.float64 and f64.net_.module_.layers[0].weight.dtype == torch.float64
    gap = _rmse(auto.predict(X_test), f64.predict(X_test))
    assert gap < 0.05 * _rmse(auto.predict(X_test), price), gap


def test_auto_compute_dtype_keeps_float64_for_lbfgs_and_for_data_float32_cannot_hold():
    X, y, G = make_problem("sin", 40, random_state=0)
    assert GIMLPRegressor((4,), max_iter=20, random_state=0).fit(X, y, G).compute_dtype_ == np.float64
    X, y, G = make_problem("sin", AUTO_ADAM_MIN_SAMPLES, random_state=0)
    # unweighted standardized partials near 1e40: beyond float32, so "auto" stays in float64 ...
    wide = X.copy()
    wide[:, 0] *= 1e40
    kw = dict(hidden_layer_sizes=(4,), max_iter=1, partial_weights=None, random_state=0)
    assert GIMLPRegressor(**kw).fit(wide, y, G).compute_dtype_ == np.float64
    assert GIMLPRegressor(**kw).fit(X, y, G).compute_dtype_ == np.float32
    # ... and an explicit float32 says why it cannot
    with pytest.raises(ValueError, match="dYdX overflows float32"):
        GIMLPRegressor(compute_dtype="float32", **kw).fit(wide, y, G)


def test_one_cycle_peak_rate_shrinks_with_the_square_root_of_the_inputs(basket_3d):
    X, y, G, *_ = basket_3d
    rates = {}
    for p in (1, 3):
        model = GIMLPRegressor((4,), max_iter=1, random_state=0).fit(X[:, :p], y, G[:, :p])
        rates[p] = model.net_.lr
    assert rates[1] == pytest.approx(0.1) and rates[3] == pytest.approx(0.1 / np.sqrt(3))
    # an explicit rate is kept
    explicit = GIMLPRegressor((4,), max_iter=1, learning_rate_init=0.05, random_state=0).fit(X, y, G)
    assert explicit.net_.lr == 0.05


@pytest.fixture(scope="module")
def basket_many_inputs():
    basket = BachelierBasket(NOISY_PENALTY_MIN_FEATURES, random_state=0)
    return basket.simulate(AUTO_ADAM_MIN_SAMPLES, random_state=0)


def test_auto_alpha_restarts_noisy_data_with_many_inputs_with_the_penalty(basket_many_inputs, tmp_path):
    X, y, G = basket_many_inputs
    kw = dict(hidden_layer_sizes=(16, 16), max_iter=10, random_state=0)
    auto = GIMLPRegressor(**kw).fit(X, y, G)
    # the probe ran at 40% of the epochs, found the payoffs' noise, and the fit started again
    assert auto.alpha_ == NOISY_DATA_ALPHA and auto.net_.alpha == NOISY_DATA_ALPHA
    assert auto.noise_probe_score_ > NOISY_UNEXPLAINED
    assert auto.n_iter_ == 10 and "noise_probe" not in dict(auto.net_.callbacks_)
    # ... from the same initial weights: the fit is GIMLPRegressor(alpha=0.1)'s, bit for bit
    named = GIMLPRegressor(alpha=NOISY_DATA_ALPHA, **kw).fit(X, y, G)
    np.testing.assert_array_equal(auto.predict(X), named.predict(X))
    assert named.noise_probe_score_ is None
    # an explicit alpha is kept, without a probe
    plain = GIMLPRegressor(alpha=0.0, **kw).fit(X, y, G)
    assert plain.alpha_ == 0.0 and plain.noise_probe_score_ is None
    assert not np.allclose(plain.predict(X), auto.predict(X))
    # fewer inputs, L-BFGS, or no gradients: no probe and no penalty
    few = GIMLPRegressor(**kw).fit(X[:, :-1], y, G[:, :-1])
    assert few.alpha_ == 0.0 and few.noise_probe_score_ is None
    small = GIMLPRegressor(solver="lbfgs", **kw).fit(X[:100], y[:100], G[:100])
    assert small.alpha_ == 0.0 and small.noise_probe_score_ is None
    values_only = GIMLPRegressor(**kw).fit(X, y)
    assert values_only.alpha_ == 0.0 and values_only.noise_probe_score_ is None
    # a warm start continues with the penalty, without probing again
    auto.set_params(warm_start=True, max_iter=2).fit(X, y, G)
    assert auto.alpha_ == NOISY_DATA_ALPHA and auto.noise_probe_score_ is None
    assert auto.net_.alpha == NOISY_DATA_ALPHA
    # the penalty survives a save and load
    from sklearn_gi.io import load, save

    save(named, tmp_path / "model.sgi")
    loaded = load(tmp_path / "model.sgi")
    assert loaded.alpha_ == NOISY_DATA_ALPHA and loaded.net_.alpha == NOISY_DATA_ALPHA


def test_auto_alpha_probe_leaves_exact_data_with_many_inputs_alone():
    # wing weight (10 inputs), exact: at 40% of the epochs the values are fitted far below
    # the threshold (measured 0.0005-0.0013 at 2,048 and 4,096 samples), and the probe,
    # which only reads the network, leaves the fit bit for bit that of alpha=0
    X, y, G = make_problem("wing_weight", AUTO_ADAM_MIN_SAMPLES, random_state=0)
    auto = GIMLPRegressor(random_state=0).fit(X, y, G)
    assert auto.alpha_ == 0.0 and auto.noise_probe_score_ < NOISY_UNEXPLAINED / 4
    assert auto.net_.history[39, "train_value_unexplained"] == auto.noise_probe_score_  # epoch 40
    plain = GIMLPRegressor(alpha=0.0, random_state=0).fit(X, y, G)
    np.testing.assert_array_equal(auto.predict(X[:200]), plain.predict(X[:200]))


def test_unexplained_value_variance_is_the_weighted_share_per_output_averaged():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = np.column_stack([X @ [1.0, -2.0, 0.5] + rng.normal(size=50), np.full(50, 3.0)])
    weights = rng.uniform(0.5, 2.0, size=50)
    torch.manual_seed(0)
    module = MLPModule(3, (5,), 2, "tanh").double()
    data = SobolevData(*(torch.as_tensor(a) for a in (X, y)), weights=torch.as_tensor(weights))
    with torch.no_grad():
        residual = module(torch.as_tensor(X)).numpy() - y
    w = weights / weights.sum()
    first = np.sum(w * residual[:, 0] ** 2) / np.sum(w * (y[:, 0] - np.sum(w * y[:, 0])) ** 2)
    # a constant output has nothing to explain: the mean is over the outputs that vary
    assert unexplained_value_variance(module, data, chunk_rows=7) == pytest.approx(first, rel=1e-12)
    data.weights = None
    plain = np.mean(residual[:, 0] ** 2) / np.var(y[:, 0])
    assert unexplained_value_variance(module, data) == pytest.approx(plain, rel=1e-12)
    constant = SobolevData(torch.as_tensor(X), torch.full((50, 2), 3.0, dtype=torch.float64))
    assert unexplained_value_variance(module, constant) == 0.0


def test_auto_alpha_probe_finds_noise_at_the_default_budget_and_counts_raw_inputs(basket_many_inputs):
    X, y, G = basket_many_inputs
    auto = GIMLPRegressor(random_state=0).fit(X, y, G)  # 64-64, 100 epochs: the probe at epoch 40
    assert auto.alpha_ == NOISY_DATA_ALPHA and auto.noise_probe_score_ > 2 * NOISY_UNEXPLAINED
    # constant extra outputs do not dilute the score
    Y3 = np.column_stack([y, np.full(len(y), 2.0), np.full(len(y), -1.0)])
    G3 = np.concatenate([G[:, None, :], np.zeros((len(y), 2, G.shape[1]))], axis=1)
    kw = dict(hidden_layer_sizes=(16, 16), max_iter=10, random_state=0)
    single = GIMLPRegressor(**kw).fit(X, y, G).noise_probe_score_
    multi = GIMLPRegressor(**kw).fit(X, Y3, G3)
    assert multi.alpha_ == NOISY_DATA_ALPHA and multi.noise_probe_score_ > single / 2
    # all partials unknown: a value fit, no probe
    nan = GIMLPRegressor(**kw).fit(X, y, np.full_like(G, np.nan))
    assert nan.alpha_ == 0.0 and nan.noise_probe_score_ is None
    # the inputs are dYdX's columns: 2 assets through 9 polynomial features are not probed
    from sklearn.preprocessing import PolynomialFeatures

    from sklearn_gi.pipeline import make_gi_pipeline

    X2, y2, G2 = BachelierBasket(2, random_state=0).simulate(AUTO_ADAM_MIN_SAMPLES, random_state=0)
    pipe = make_gi_pipeline(PolynomialFeatures(3, include_bias=False), GIMLPRegressor(**kw))
    net = pipe.fit(X2, y2, dYdX=G2)[-1]
    assert net.n_features_in_ == 9 >= NOISY_PENALTY_MIN_FEATURES
    assert net.alpha_ == 0.0 and net.noise_probe_score_ is None


def test_auto_alpha_probes_after_the_fit_when_early_stopping_ends_it_sooner(basket_many_inputs):
    X, y, G = basket_many_inputs
    kw = dict(hidden_layer_sizes=(16, 16), max_iter=20, early_stopping=True, n_iter_no_change=1,
              learning_rate_init=0.3, random_state=0)
    plain = GIMLPRegressor(alpha=0.0, **kw).fit(X, y, G)
    assert plain.n_iter_ < 8  # stopped before the probe's epoch (40% of 20)
    auto = GIMLPRegressor(**kw).fit(X, y, G)
    assert auto.alpha_ == NOISY_DATA_ALPHA and auto.noise_probe_score_ > NOISY_UNEXPLAINED
    named = GIMLPRegressor(alpha=NOISY_DATA_ALPHA, **kw).fit(X, y, G)
    np.testing.assert_array_equal(auto.predict(X[:100]), named.predict(X[:100]))


def test_models_saved_before_alpha_auto_load_with_their_penalty(basket_many_inputs, tmp_path):
    from sklearn_gi.io import load, save

    X, y, G = basket_many_inputs
    old = GIMLPRegressor((8,), alpha=0.0, max_iter=3, random_state=0).fit(X, y, G)
    del old.alpha_, old.noise_probe_score_  # what a file of an earlier version holds
    save(old, tmp_path / "old.sgi")
    loaded = load(tmp_path / "old.sgi")
    assert loaded.alpha_ == 0.0 and loaded.noise_probe_score_ is None and loaded.net_.alpha == 0.0
