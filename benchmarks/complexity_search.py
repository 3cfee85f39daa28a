"""GIComplexitySearchCV against an exhaustive value-only grid search over network width.

McDonagh and Chen's claim: the complexity where the with/without-gradient
gap closes (or flips) is an upper bound on the useful complexity, at or above
what an exhaustive value-only search picks. For each problem and training
size this script runs

* ``GridSearchCV`` over the whole width grid without gradients (the
  exhaustive optimum, and its wall time), and
* ``GIComplexitySearchCV`` over the same grid and folds (the bound, the
  candidates it needed, its wall time).

Networks: GIMLPRegressor with ``layers`` tanh layers of ``4 * eta`` units
(their parametrisation), L-BFGS, scored by negative RMSE with K-fold CV.
Problems: McDonagh and Chen's 2-D simulator (their CSVs from ../shared when
present, else the built-in simulator, which reproduces them) and the
built-in 8-D regression simulator.
Run: ``python -m benchmarks.complexity_search [--quick]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_gi.datasets import make_problem
from sklearn_gi.model_selection import GIComplexitySearchCV
from sklearn_gi.neural_network import GIMLPRegressor

from . import mcdonagh_2d
from ._report import write_results


def _problem(name, n_train):
    if name == "mcdonagh_2d":
        X, Y, G, *_ = mcdonagh_2d.load(n_train)
        return X, Y, G
    X, y, G = make_problem("mcdonagh_regression_8d", n_train, random_state=0)
    return X, y, G


def run(cases, etas, layers, cv, max_iter):
    rows = []
    for name, n_train in cases:
        X, y, G = _problem(name, n_train)
        grid = {"hidden_layer_sizes": [(4 * eta,) * layers for eta in etas]}
        folds = KFold(cv, shuffle=True, random_state=0)
        model = GIMLPRegressor(max_iter=max_iter, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            exhaustive = GridSearchCV(model, grid, cv=folds, scoring="neg_root_mean_squared_error",
                                      refit=False).fit(X, y)
            exhaustive_s = time.perf_counter() - start
            start = time.perf_counter()
            search = GIComplexitySearchCV(model, grid, cv=folds, refit=False,
                                          scoring="neg_root_mean_squared_error").fit(X, y, dYdX=G)
            search_s = time.perf_counter() - start
        eta_of = {sizes: eta for sizes, eta in zip(grid["hidden_layer_sizes"], etas)}
        optimum = eta_of[exhaustive.best_params_["hidden_layer_sizes"]]
        bound = eta_of[search.upper_bound_["hidden_layer_sizes"]]
        rows.append({
            "problem": name, "n_train": n_train, "bound_eta": bound, "optimum_eta": optimum,
            "bound_at_or_above_optimum": bound >= optimum,
            "candidates_evaluated": f"{search.n_candidates_evaluated_}/{len(etas)}",
            "best_GI_eta": eta_of[search.best_params_["hidden_layer_sizes"]],
            "best_GI_cv_rmse": -search.best_score_,
            "best_value_only_cv_rmse": -exhaustive.best_score_,
            "exhaustive_s": exhaustive_s, "search_s": search_s,
            "time_ratio": search_s / exhaustive_s,
        })
        print("   gaps (GI - value-only, neg RMSE):",
              np.round(search.cv_results_["gap_test_score"], 5), flush=True)
        print(f"  {name} n={n_train}: bound eta {bound}, optimum {optimum}, "
              f"{search.n_candidates_evaluated_}/{len(etas)} candidates, "
              f"{search_s:.0f} s vs {exhaustive_s:.0f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        cases, etas, layers, cv, max_iter = [("mcdonagh_2d", 50)], [1, 2, 4, 8], 2, 3, 200
    else:
        cases = [("mcdonagh_2d", 50), ("mcdonagh_2d", 100), ("mcdonagh_8d", 500)]
        etas, layers, cv, max_iter = [1, 2, 4, 8, 16], 2, 3, 300
    rows = run(cases, etas, layers, cv, max_iter)
    write_results(
        "complexity_search",
        "GIComplexitySearchCV bound vs the exhaustive value-only optimum (network width)",
        rows, list(rows[0]),
        notes=(f"GIMLPRegressor, {layers} tanh layers of 4*eta units, L-BFGS max_iter={max_iter}, "
               f"{cv}-fold CV scored by RMSE, eta grid {etas}. The search trains each evaluated "
               "width with and without dYdX on the same folds and stops once the gap flips or "
               "closes (gap_tol=0.1, patience=2)."),
    )
    return rows


if __name__ == "__main__":
    main()
