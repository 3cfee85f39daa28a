"""The benchmark scripts run and measure what they claim, on tiny sizes."""

import numpy as np

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
