"""Before/after table of GIMLPRegressor's benchmark numbers (issue 14: defaults that converge).

Reads the tables committed at ``--before`` (a git revision, through ``git show``)
and the current ones in ``benchmarks/results/``: ``mlp_sobolev_functions``,
``mcdonagh_2d`` and the GIMLP / GIMLP (values only) / jenn cells of the suite
(``suite.csv`` before, ``suite_mlp.csv`` after). Ratios above 1 mean the new
number is larger (worse for errors and times).
Run: ``python -m benchmarks.mlp_before_after [--before 56391e5]``.
"""

import argparse
import csv
import io
import subprocess
from pathlib import Path

from ._report import RESULTS, markdown_table

ROOT = Path(__file__).resolve().parents[1]


def _read(text):
    return list(csv.DictReader(io.StringIO(text)))


def _before(revision, name):
    path = f"benchmarks/results/{name}.csv"
    return _read(subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout)


def _after(name):
    return _read((RESULTS / f"{name}.csv").read_text())


def _pairs(before, after, keys, columns):
    index = {tuple(r[k] for k in keys): r for r in before}
    rows = []
    for new in after:
        old = index.get(tuple(new[k] for k in keys))
        if old is None:
            continue
        row = {k: new[k] for k in keys}
        for column in columns:
            a, b = float(old[column]), float(new[column])
            row[f"{column} before"], row[f"{column} after"] = a, b
            row[f"{column} ratio"] = b / a if a else float("nan")
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", default="56391e5")
    args = parser.parse_args(argv)
    sections = []
    sobolev = _pairs(_before(args.before, "mlp_sobolev_functions"), _after("mlp_sobolev_functions"),
                     ["function", "n_train"],
                     ["nrmse_GI", "nrmse_values_only", "fit_s_GI", "fit_s_values_only"])
    for row, new in zip(sobolev, _after("mlp_sobolev_functions")):
        row["nrmse_GI_huber after"] = float(new["nrmse_GI_huber"])
    sections.append(("mlp_sobolev_functions (median of 3 seeds)", sobolev))
    sections.append(("mcdonagh_2d (mean of 5 seeds)", _pairs(
        _before(args.before, "mcdonagh_2d"), _after("mcdonagh_2d"), ["protocol", "model"],
        ["mean_test_rmse", "fit_s"])))
    models = {"GIMLP", "GIMLP (values only)", "jenn"}
    before = [r for r in _before(args.before, "suite") if r["model"] in models]
    sections.append(("suite cells (median of 2 seeds)", _pairs(
        before, _after("suite_mlp"), ["problem", "n_train", "model"], ["nrmse", "fit_s"])))
    text = ["# GIMLPRegressor before/after (issue 14)", "",
            f"Before: the tables committed at {args.before} (GIMLPRegressor with max_iter=1000, "
            "torch's L-BFGS; run with 2 torch threads, which GIMLPRegressor's small models do not "
            "use). After: the current tables (one torch thread). Times "
            "come from different runs on a shared machine: compare errors across runs, times "
            "only within a run.", ""]
    for title, rows in sections:
        text += [f"## {title}", "", markdown_table(rows, list(rows[0])), ""]
    out = RESULTS / "mlp_before_after.md"
    out.write_text("\n".join(text))
    print("\n".join(text))
    print(f"(written to {out})")


if __name__ == "__main__":
    main()
