"""What a gradient fit of GIMLPRegressor would give if it had to stop at a time budget.

Issue 14 asks for gradient fits no slower than twice the values-only fit of the
same network, and no slower than jenn. This benchmark measures what those
budgets cost in accuracy. Per suite problem, n and seed (the suite's samples
and test sets, one torch thread, all fits in one run):

* ``values_only``: the default network on values alone (time ``T_v``);
* ``GI``: the default gradient fit, run to its stopping rule (time ``T_g``,
  ``n_iter`` L-BFGS iterations);
* ``jenn``: the suite's jenn peer (64-64 tanh, 1,000 iterations, time ``T_j``);
* ``GI at 2 T_v`` and ``GI at T_j``: the same gradient fit stopped after the
  number of iterations it completes in that time (``max_iter = budget / (T_g /
  n_iter)``, a multiple of 20 and at least 20; the first iterations of a fit
  are the same whatever its ``max_iter``, so this is the default fit cut short).

Reported: NRMSE of each (median over seeds) and, over the cells, how often the
cut fit is within 10% of the full one and how often it still beats jenn and the
values-only fit. Run: ``python -m benchmarks.mlp_time_budget [--seeds 2]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.datasets import get_problem, make_problem
from sklearn_gi.neural_network import GIMLPRegressor

from ._report import write_results
from .suite import PROBLEMS, JennModel, _problem_name

EPOCH = 20  # GIMLPRegressor's L-BFGS iterations per epoch


def _nrmse(model, X_test, y_test):
    return float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / np.std(y_test))


def _timed_fit(model, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(*args)
        return time.perf_counter() - start


def _budget_iterations(budget_s, seconds_per_iteration):
    return max(EPOCH, int(budget_s / seconds_per_iteration) // EPOCH * EPOCH)


def cell(key, n, seed, n_test=2000):
    """One (problem, n, seed): NRMSE and times of the five fits."""
    options = PROBLEMS[key]
    problem = get_problem(_problem_name(key), **options)
    X_test = problem.sample(n_test, random_state=12345)
    y_test = problem.value(X_test)
    X, y, G = make_problem(_problem_name(key), n, random_state=seed, **options)
    out = {}
    values_only = GIMLPRegressor(random_state=seed)
    out["fit_s_values_only"] = _timed_fit(values_only, X, y)
    out["nrmse_values_only"] = _nrmse(values_only, X_test, y_test)
    full = GIMLPRegressor(random_state=seed)
    out["fit_s_GI"] = _timed_fit(full, X, y, G)
    out["nrmse_GI"] = _nrmse(full, X_test, y_test)
    out["n_iter_GI"] = full.n_iter_
    jenn = JennModel("jenn")
    start = time.perf_counter()
    jenn.fit(X, y, G, seed)
    out["fit_s_jenn"] = time.perf_counter() - start
    out["nrmse_jenn"] = float(np.sqrt(np.mean((jenn.predict(X_test) - y_test) ** 2)) / np.std(y_test))
    per_iteration = out["fit_s_GI"] / max(full.n_iter_, 1)
    for label, budget in (("2Tv", 2 * out["fit_s_values_only"]), ("Tj", out["fit_s_jenn"])):
        iterations = _budget_iterations(budget, per_iteration)
        if iterations >= full.n_iter_:  # the full fit fits in the budget
            out[f"n_iter_GI_at_{label}"], out[f"nrmse_GI_at_{label}"] = full.n_iter_, out["nrmse_GI"]
            continue
        cut = GIMLPRegressor(random_state=seed, max_iter=iterations)
        _timed_fit(cut, X, y, G)
        out[f"n_iter_GI_at_{label}"] = cut.n_iter_
        out[f"nrmse_GI_at_{label}"] = _nrmse(cut, X_test, y_test)
    return out


def run(problems, n_trains, seeds):
    X, y, G = make_problem("booth", 20, random_state=0)
    GIMLPRegressor(max_iter=40, random_state=0).fit(X, y, G)  # warm-up, not timed
    rows = []
    for key in problems:
        for n in n_trains:
            fits = [cell(key, n, s) for s in seeds]
            row = {"problem": key, "n_train": n}
            for column in fits[0]:
                row[column] = float(np.median([f[column] for f in fits]))
            rows.append(row)
            print(f"  {key:24s} n={n:4d} values {row['nrmse_values_only']:.3g} "
                  f"({row['fit_s_values_only']:.2f} s), GI {row['nrmse_GI']:.3g} "
                  f"({row['fit_s_GI']:.2f} s, {row['n_iter_GI']:.0f} it), jenn {row['nrmse_jenn']:.3g} "
                  f"({row['fit_s_jenn']:.2f} s); GI at 2 T_v {row['nrmse_GI_at_2Tv']:.3g}, "
                  f"at T_j {row['nrmse_GI_at_Tj']:.3g}", flush=True)
    return rows


def summary(rows):
    def count(condition):
        return int(sum(bool(condition(r)) for r in rows))

    cells = len(rows)
    within = {b: count(lambda r: r[f"nrmse_GI_at_{b}"] <= 1.1 * r["nrmse_GI"]) for b in ("2Tv", "Tj")}
    ratio_v = float(np.median([r["fit_s_GI"] / r["fit_s_values_only"] for r in rows]))
    ratio_j = float(np.median([r["fit_s_GI"] / r["fit_s_jenn"] for r in rows]))
    loss = {b: float(np.median([r[f"nrmse_GI_at_{b}"] / r["nrmse_GI"] for r in rows]))
            for b in ("2Tv", "Tj")}
    return (
        f"{cells} cells (problem, n), medians over seeds. Full gradient fit / values-only fit "
        f"time, median over cells: {ratio_v:.2f}; / jenn's: {ratio_j:.2f}. Cut at 2 T_v, the "
        f"gradient fit is within 10% of its full accuracy in {within['2Tv']} of {cells} cells "
        f"(median NRMSE ratio cut / full {loss['2Tv']:.2f}), still better than the values-only fit "
        f"in {count(lambda r: r['nrmse_GI_at_2Tv'] < r['nrmse_values_only'])}; cut at T_j, within "
        f"10% in {within['Tj']} (median ratio {loss['Tj']:.2f}), better than jenn in "
        f"{count(lambda r: r['nrmse_GI_at_Tj'] < r['nrmse_jenn'])} (the full fit: "
        f"{count(lambda r: r['nrmse_GI'] < r['nrmse_jenn'])})."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    parser.add_argument("--n-train", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    rows = run(args.problems, args.n_train, list(range(args.seeds)))
    columns = ["problem", "n_train", "nrmse_values_only", "nrmse_GI", "nrmse_GI_at_2Tv",
               "nrmse_GI_at_Tj", "nrmse_jenn", "n_iter_GI", "n_iter_GI_at_2Tv", "n_iter_GI_at_Tj",
               "fit_s_values_only", "fit_s_GI", "fit_s_jenn"]
    note = summary(rows)
    print(note)
    write_results("mlp_time_budget", "GIMLPRegressor gradient fits cut at the values-only and jenn "
                  "time budgets", rows, columns, notes=__doc__.split("\n\n")[1].replace("\n", " ")
                  + "\n\n" + note)
    return rows


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    main()
