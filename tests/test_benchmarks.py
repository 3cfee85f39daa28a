"""The benchmark scripts run and measure what they claim, on tiny sizes."""

import numpy as np
import pytest

from benchmarks import _report, linear_sample_efficiency, linear_speed


def test_sample_efficiency_rows_show_gradients_identify_booth():
    (row,) = linear_sample_efficiency.run(["booth"], [5], [0])
    # 5 samples, 5 polynomial coefficients + intercept: values alone are underdetermined
    assert row["rmse_GIRidge"] < 1e-4
    assert row["rmse_Ridge"] > 1.0
    assert row["ratio"] > 1e4


def test_speed_rows_and_tables(tmp_path):
    rows = linear_speed.run([2000], n_features=5, repeat=1)
    assert rows[0]["time_ratio"] > 0 and rows[0]["GIRidge_peak_extra_MiB"] > 0
    _report.set_results_dir(tmp_path)
    try:
        _report.write_results("speed", "title", rows, list(rows[0]))
    finally:
        _report.set_results_dir(_report.RESULTS)
    text = (tmp_path / "speed.md").read_text()
    assert "Machine:" in text and "| n_samples |" in text
    lines = (tmp_path / "speed.csv").read_text().splitlines()
    assert lines[0].startswith("n_samples,") and len(lines) == 2
    assert np.isfinite(float(lines[1].split(",")[3]))


def test_sobolev_function_rows_show_gradients_winning_on_booth():
    from benchmarks import mlp_sobolev_functions

    (row,) = mlp_sobolev_functions.run(["booth"], [20], [0], n_test=500)
    # measured 6.1x lower NRMSE than the same network on values alone (NRMSE 0.0078)
    assert row["gain_vs_values_only"] > 2.0 and row["nrmse_GI"] < 0.02
    assert np.isnan(row["grad_nrmse_GI"]) is np.False_ and row["grad_nrmse_GI"] < 0.05


def test_overhead_benchmark_compares_identical_work():
    """The plain loop and the estimator start from the same weights and take the same steps."""
    import torch

    from benchmarks import mlp_overhead

    X, y, G = mlp_overhead._data(50, 2)
    for solver, epochs in (("adam", 10), ("lbfgs", 2)):
        plain_loss, _ = mlp_overhead.plain_loop(X, y, G, (8, 8), epochs, solver, "auto",
                                                torch.float64)
        estimator_loss, _ = mlp_overhead.estimator(X, y, G, (8, 8), epochs, solver, np.float64)
        assert estimator_loss == pytest.approx(plain_loss, rel=1e-6)


def test_mcdonagh_benchmark_loads_the_papers_setting():
    from benchmarks import mcdonagh_2d

    X, Y, G, X_test, Y_test, origin = mcdonagh_2d.load(50)
    assert X.shape == (50, 2) and Y.shape == (50, 10) and G.shape == (50, 10, 2)
    assert X_test.shape == (1000, 2) and Y_test.shape == (1000, 10)
    assert mcdonagh_2d.model("paper", 0).get_params()["hidden_layer_sizes"] == (144,) * 4


def test_suite_rows_summary_and_plots(tmp_path):
    import importlib.util

    from benchmarks import suite

    models = ["GIRidge-poly", "GIRidge-poly (values only)", "Ridge-poly", "HistGradientBoosting",
              "jenn"]
    rows, parity = suite.run(["booth"], models, [8], [0, 1], n_test=200, progress=False)
    table = {r["model"]: r for r in suite.summarize(rows)}
    # 8 samples of booth, degree-4 features (15): values alone cannot fit them, gradients can
    # (measured NRMSE 7e-5 vs 16.5)
    assert table["GIRidge-poly"]["nrmse"] < 1e-3
    assert table["GIRidge-poly (values only)"]["nrmse"] > 100 * table["GIRidge-poly"]["nrmse"]
    assert table["GIRidge-poly"]["seeds"] == 2 and table["GIRidge-poly"]["grad_rmse"] < 0.05
    assert np.isnan(table["HistGradientBoosting"]["grad_rmse"])
    # a peer that is not installed is skipped with a message, never a crash
    assert ("jenn" in table) == (importlib.util.find_spec("jenn") is not None)
    paths = suite.plot(suite.summarize(rows), parity, tmp_path)
    assert [p.name for p in paths] == ["suite_error_vs_n.png", "suite_parity.png"]
    assert all(p.stat().st_size > 5000 for p in paths)
    assert "booth n=8: best GI = GIRidge-poly" in suite.headline(suite.summarize(rows))


def test_complexity_search_benchmark_rows(mcdonagh_reference):
    from benchmarks import complexity_search

    rows = complexity_search.authors_curves(time_epochs=0)
    assert len(rows) == 9
    assert all(row["bound_at_or_above_optimum"] and row["bound_at_or_above_optimum_plateau"]
               for row in rows)
    by_case = {(row["problem"], row["n_train"]): row for row in rows}
    # the notebook's bounds, re-computed from their CSVs in ../shared/design/papers.md
    assert by_case["2-D", 300]["notebook_bound_eta"] == 52
    assert by_case["2-D", 700]["candidates_evaluated"] == "6/16"
    assert by_case["8-D", 10000]["candidates_evaluated_plateau"] == "4/9"
    row = complexity_search.measured_case("2-D", 30, [1, 2], epochs=3, cv=3)
    assert row["bound_eta"] in (1, 2) and row["optimum_eta"] in (1, 2)
    assert row["candidates_evaluated"] in ("1/2", "2/2")
    assert row["exhaustive_s"] > 0 and row["search_s"] > 0
    assert len(row["relative_gaps"].split()) == int(row["candidates_evaluated"][0])


def test_kernel_scaling_rows_show_gradients_helping_random_features():
    from benchmarks import kernel_scaling

    rows, _ = kernel_scaling.run([300], n_components=300, gp_max_n=0, n_test=500)
    by_model = {row["model"]: row for row in rows}
    with_gradients = by_model["RFF + GIRidge (gradients)"]
    # measured: NRMSE 0.70 with gradients, 1.67 on values alone (styblinski_tang, 6 inputs)
    assert with_gradients["nrmse"] < 0.6 * by_model["RFF + GIRidge (values only)"]["nrmse"]
    assert with_gradients["fit_s"] > 0 and with_gradients["peak_MiB"] > 0
    assert "exact GP (gradients)" not in by_model  # gp_max_n=0 leaves it out
