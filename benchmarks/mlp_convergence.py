"""GIMLPRegressor's stopping rule with defaults: does every fit converge, and how long does it take?

For each of the suite's problems at n=20 and n=100 (the suite's data and test
samples) the default network is fitted with ``dYdX`` and on values alone, and
the table records per (problem, n): L-BFGS iterations, fits that ended with a
ConvergenceWarning (of the seeds), test NRMSE and fit times. McDonagh and
Chen's 8-D simulator at n=2500 is where the old default (at most 1,000
iterations) stopped short: it is fitted with the defaults and with the issue's
long run (``max_iter=3000, tol=1e-7``) for reference.
Run: ``python -m benchmarks.mlp_convergence [--seeds 2] [--large-n 2500]``;
set ``OMP_NUM_THREADS=1`` for one torch thread.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.datasets import get_problem, make_problem
from sklearn_gi.neural_network import GIMLPRegressor

from ._report import write_results
from .suite import PROBLEMS, _problem_name


def fit_once(key, n, seed, gradients, n_test=2000, **params):
    """Fit the default network; return iterations, warning, NRMSE and fit time."""
    options = PROBLEMS[key]
    problem = get_problem(_problem_name(key), **options)
    X_test = problem.sample(n_test, random_state=12345)
    y_test = problem.value(X_test)
    X, y, G = make_problem(_problem_name(key), n, random_state=seed, **options)
    model = GIMLPRegressor(random_state=seed, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y, G if gradients else None)
        fit_s = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    rmse = float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)))
    return {"n_iter": model.n_iter_, "warned": warned, "rmse": rmse,
            "nrmse": rmse / float(np.std(y_test)), "fit_s": fit_s}


def run(problems, n_trains, seeds, progress=True):
    rows = []
    for key in problems:
        for n in n_trains:
            fits = {label: [fit_once(key, n, s, label == "GI") for s in seeds]
                    for label in ("GI", "values_only")}
            row = {"problem": key, "n_train": n}
            for label, results in fits.items():
                row[f"n_iter_{label}"] = float(np.median([r["n_iter"] for r in results]))
                row[f"warnings_{label}"] = int(sum(r["warned"] for r in results))
                row[f"nrmse_{label}"] = float(np.median([r["nrmse"] for r in results]))
                row[f"fit_s_{label}"] = float(np.median([r["fit_s"] for r in results]))
            row["time_ratio"] = row["fit_s_GI"] / row["fit_s_values_only"]
            rows.append(row)
            if progress:
                print(f"  {key:24s} n={n:4d} GI {row['n_iter_GI']:6.0f} it, "
                      f"{row['warnings_GI']} warned, {row['fit_s_GI']:.2f} s; values only "
                      f"{row['n_iter_values_only']:6.0f} it, {row['warnings_values_only']} warned, "
                      f"{row['fit_s_values_only']:.2f} s", flush=True)
    return rows


def large_run(n, seed=0):
    """The 8-D simulator at ``n``: defaults against the issue's long run."""
    rows = []
    for label, params in (("default", {}), ("long run (max_iter=3000, tol=1e-7)",
                                            {"max_iter": 3000, "tol": 1e-7})):
        result = fit_once("mcdonagh_regression_8d", n, seed, True, **params)
        rows.append({"fit": label, "n_train": n, **result})
        print(f"  8-D n={n} {label}: RMSE {result['rmse']:.4g}, {result['n_iter']} iterations, "
              f"warned {result['warned']}, {result['fit_s']:.1f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--n-train", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--large-n", type=int, default=2500, help="0 skips the 8-D large run")
    args = parser.parse_args(argv)
    rows = run(args.problems, args.n_train, list(range(args.seeds)))
    ratios = [r["time_ratio"] for r in rows]
    warned = sum(r["warnings_GI"] + r["warnings_values_only"] for r in rows)
    write_results(
        "mlp_convergence",
        "GIMLPRegressor defaults: iterations, ConvergenceWarnings and fit time on the suite",
        rows,
        list(rows[0]),
        notes=(
            f"The suite's problems and samples, {args.seeds} seeds; medians over seeds. "
            "Defaults: 64-64 tanh, L-BFGS until converged (at most 5,000 iterations). "
            f"ConvergenceWarnings over all {2 * len(rows) * args.seeds} fits: {warned}. "
            "`time_ratio` = fit_s_GI / fit_s_values_only; median over the cells "
            f"{np.median(ratios):.2f} (min {np.min(ratios):.2f}, max {np.max(ratios):.2f})."
        ),
    )
    if args.large_n:
        large = large_run(args.large_n)
        default, long = large
        write_results(
            "mlp_convergence_8d",
            f"GIMLPRegressor defaults on McDonagh and Chen's 8-D simulator, n={args.large_n}",
            large,
            list(large[0]),
            notes=(
                "Seed 0, with dYdX, test RMSE over 2,000 samples. Default RMSE / long-run RMSE "
                f"= {default['rmse'] / long['rmse']:.3f} (the issue asks for at most 1.1)."
            ),
        )
    return rows


if __name__ == "__main__":
    main()
