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
