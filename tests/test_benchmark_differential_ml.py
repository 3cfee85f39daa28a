"""benchmarks.differential_ml: the twin-net peer, the cells' rows and the summary."""

import numpy as np

from benchmarks import differential_ml
from benchmarks._twin_net import LEARNING_RATE_KNOTS, TwinNet
from sklearn_gi.datasets import BachelierBasket


def test_twin_net_learns_prices_and_deltas_and_beats_its_values_only_twin():
    basket = BachelierBasket(2, random_state=0)
    X, y, dYdX = basket.simulate(1024, random_state=0)
    X_test = basket.test_spots(400)
    price, delta = basket.price(X_test), basket.delta(X_test)
    twin = TwinNet(True, epochs=30, random_state=0).fit(X, y, dYdX)
    values_only = TwinNet(False, epochs=30, random_state=0).fit(X, y)
    twin_error = np.sqrt(np.mean((twin.predict(X_test) - price) ** 2))
    assert twin_error < 0.5 * np.sqrt(np.mean((values_only.predict(X_test) - price) ** 2))
    assert twin_error < 0.1 * price.std()
    delta_error = np.sqrt(np.mean((twin.predict_gradient(X_test) - delta) ** 2))
    assert delta_error < 0.2 * delta.std()
    assert LEARNING_RATE_KNOTS[1] == (0.2, 0.1)


def test_cell_rows_and_summary_ratios():
    rows = differential_ml.run_cell(2, 300, 0, ["twin net", "Ridge poly", "GIRidge poly"])
    assert [r["model"] for r in rows] == ["twin net", "Ridge poly", "GIRidge poly"]
    assert all(np.isfinite(r["value_rmse_x100"]) and r["fit_cpu_s"] >= 0 for r in rows)
    assert np.isnan(rows[1]["delta_rmse_x100"]) and np.isfinite(rows[2]["delta_rmse_x100"])
    table = differential_ml.summarize(rows)
    twin = next(r for r in table if r["model"] == "twin net")
    assert twin["value_vs_twin"] == 1.0
    # rows that cannot run or add nothing are left out
    assert not differential_ml.applicable("GIRidge poly", 20, 4096)
    assert differential_ml.applicable("GIRidge poly", 7, 16384)
    assert not differential_ml.applicable("GIMLP one-cycle", 7, 4096)
    assert differential_ml.applicable("GIMLP one-cycle", 7, 1024)


def test_settings_benchmark_compares_the_defaults_with_the_best_setting():
    from benchmarks import mlp_noisy_settings

    settings = {"defaults": {"solver": "adam", "learning_rate": "one_cycle", "max_iter": 20},
                "two epochs": {"solver": "adam", "learning_rate": "one_cycle", "max_iter": 2}}
    runs = mlp_noisy_settings.run(2, 512, [0], settings)
    assert [r["setting"] for r in runs] == ["defaults", "two epochs"]
    table = mlp_noisy_settings.summarize(runs)
    # two epochs of a one-cycle schedule barely leave the warm-up: the full schedule is the best
    assert table[0]["value_vs_best"] == 1.0
    assert table[1]["value_vs_best"] > 1.5
    assert min(r["delta_vs_best"] for r in table) == 1.0
    assert table[0]["alpha_"] == "0"  # two inputs: alpha="auto" runs no probe and no penalty


def test_solver_choice_rows_fit_both_solvers_on_both_kinds_of_data():
    from benchmarks import mlp_solver_choice

    small = {"hidden_layer_sizes": (8,), "max_iter": 40}
    solvers = {"lbfgs": {"solver": "lbfgs", **small},
               "one_cycle": {"solver": "adam", "learning_rate": "one_cycle", **small}}
    rows = mlp_solver_choice.run([64], solvers)
    assert [r["data"] for r in rows] == ["wing weight, exact", "water flow, exact", "bukin n6, exact",
                                         "Bachelier 7-D, Monte Carlo"]
    wing, basket = rows[0], rows[-1]
    # L-BFGS learns the exact function far better than a short one-cycle budget ...
    assert wing["lbfgs_nrmse"] < 0.2 < 0.5 < wing["one_cycle_nrmse"]
    # ... and both learn the noisy basket's prices, well below the error of the mean
    assert basket["lbfgs_nrmse"] < 0.5 and basket["one_cycle_nrmse"] < 0.6
    assert all(r["lbfgs_cpu_s"] > 0 and r["one_cycle_cpu_s"] > 0 for r in rows)


def test_weight_decay_benchmark_fits_both_on_the_same_exact_data():
    from benchmarks import mlp_weight_decay

    rows = mlp_weight_decay.run(["sin"], n=64, seeds=[0], alpha=100.0, hidden_layer_sizes=(8,), max_iter=200)
    (row,) = rows
    # a heavy penalty can only bias a fit of exact data
    assert row["defaults_nrmse"] < 0.01 and row["penalty_nrmse"] > 0.5  # measured 0.003, 1.02
    (entry,) = mlp_weight_decay.summarize(rows)
    assert entry["ratio"] == row["penalty_nrmse"] / row["defaults_nrmse"] and entry["d"] == 1
    # one input, L-BFGS: alpha="auto" neither probed nor penalised
    assert entry["defaults_alpha_"] == "0" and entry["max_noise_probe_score"] == "no probe"


def test_noise_check_benchmark_separates_exact_from_monte_carlo_rows():
    from benchmarks import gradient_noise_check

    rows = gradient_noise_check.run([128], 1, 1, problems=["sin"])
    assert [r["data"] for r in rows] == [
        "sin", "Gaussian bump, 8 inputs", "Gaussian bump, 10 inputs", "Gaussian bump, 20 inputs",
        "Black-Scholes call", "Bachelier 2 assets", "Bachelier 3 assets", "Bachelier 7 assets",
        "Bachelier 20 assets"]
    exact, bumps, noisy = rows[0], rows[1:4], rows[4:]
    assert exact["ratio"] < 1e-3  # measured 1.4e-5 at n = 100
    assert all(r["ratio"] > 0.15 for r in noisy)  # the threshold of solver="auto"; measured >= 0.2
    # with more inputs the same exact function looks noisier: neighbours are farther apart
    assert bumps[0]["ratio"] < bumps[1]["ratio"] < bumps[2]["ratio"]


def test_noise_probe_benchmark_reports_the_score_and_the_penalty_per_family():
    from benchmarks import noise_probe

    runs = noise_probe.run([2048], [0], exact=["ackley_10d"], baskets=[7], hidden_layer_sizes=(8,),
                           max_iter=5)
    table = noise_probe.summarize(runs)
    assert [(r["data"], r["kind"], r["d"]) for r in table] == [
        ("ackley_10d", "exact (max)", 10), ("Bachelier 7 assets", "Monte Carlo (min)", 7)]
    exact, basket = table
    # the payoffs' noise is far above the threshold, and the fit restarted with the penalty,
    # which changed the model
    assert basket["score"] > 0.02 and basket["penalised"] == "1/1"
    assert basket["error_vs_no_penalty"] != 1.0
    # the benchmark's 10-D functions have exact gradients (central differences)
    for name in ("ackley_10d", "styblinski_tang_10d"):
        X, y, G = noise_probe._slow_exact(name, 50, 0)
        assert X.shape == (50, 10) and np.allclose(noise_probe.slow_function(name, X)[0], y)
        for j in (0, 7):
            step = 1e-5 * np.eye(10)[j]
            central = (noise_probe.slow_function(name, X + step)[0]
                       - noise_probe.slow_function(name, X - step)[0]) / 2e-5
            np.testing.assert_allclose(central, G[:, j], rtol=1e-5, atol=1e-6)
