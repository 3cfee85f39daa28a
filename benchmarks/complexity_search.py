"""GIComplexitySearchCV against an exhaustive value-only grid search over network width.

McDonagh and Chen's claim: the complexity where the with/without-gradient
gap closes (or flips) is an upper bound on the useful complexity, at or above
what an exhaustive value-only search picks. Two parts:

``authors``
    The bound rule (:func:`sklearn_gi.model_selection.gap_bound_index`, as the
    search applies it with early exit) run on the authors' published curves:
    mean test RMSE over 5-10 runs of their networks with and without
    gradients, per width ``eta`` (``tests/data/mcdonagh2021/results``,
    2-D and 8-D). Their optimum is the width of the
    smallest value-only RMSE; their notebook's bounds are listed beside ours.

``measured``
    Our networks, timed. For each problem and training size, on the same
    folds: ``GridSearchCV`` over the whole width grid without gradients (the
    exhaustive optimum and its wall time), and ``GIComplexitySearchCV`` over
    the same grid (the bound, the candidates it trained, its wall time).
    Networks: GIMLPRegressor, 4 tanh layers of ``4 * eta`` units as in the
    paper, trained as the paper trains (Adam, lr 1e-3 decayed geometrically
    by the paper's total factor 1.01**300), scaled down for two CPU cores:
    ``--epochs`` epochs (default 100, theirs 300) of at most 20 mini-batches
    (theirs: batch 10 or 100, up to 700 per epoch), 3-fold CV scored by RMSE,
    one torch thread per fit, cases run ``--workers`` at a time (one core
    each; both timings of a case come from the same worker). 2-D: their CSVs
    (or the built-in simulator, which reproduces them), n = 50..700 as in the
    paper; 8-D: the built-in simulator with gradients w.r.t. theta only (as in
    the paper), n = their sizes / 4 (n = 625..2500).

Run: ``python -m benchmarks.complexity_search [--part authors|measured|all] [--quick]``.
"""

import argparse
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed
from skorch.callbacks import LRScheduler
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_gi.datasets import make_problem
from sklearn_gi.model_selection import GIComplexitySearchCV, gap_bound_index
from sklearn_gi.neural_network import GIMLPRegressor

from . import mcdonagh_2d
from ._report import QUICK_RESULTS, set_results_dir, write_results

# their published curves, kept with the tests (source: tests/data/README.md)
RESULTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "mcdonagh2021" / "results"
# their notebook's bounds (argmin of |gap|, with the sign-flip rule), re-computed from their CSVs
PAPER_BOUNDS = {("2-D", 50): 40, ("2-D", 100): 52, ("2-D", 300): 52, ("2-D", 500): 32,
                ("2-D", 700): 24, ("8-D", 2500): 30, ("8-D", 5000): 20, ("8-D", 7500): 30,
                ("8-D", 10000): 70}
GAP_TOL, PATIENCE = 0.1, 2


# their architectures and optimiser settings (papers.md, section 1.3)
AUTHORS_SETUP = {"2D": {"layers": 4, "batch_size": 10, "n_train": 700},
                 "8D": {"layers": 10, "batch_size": 100, "n_train": 2500}}


def epoch_costs(dim, etas, epochs=3):
    """Median seconds per epoch of their network at each width, with and without gradients.

    One epoch's cost is proportional to the training size, so the ratios of
    these times hold for every size of that problem.
    """
    setup = AUTHORS_SETUP[dim]
    X, y, G = _problem("2-D" if dim == "2D" else "8-D", setup["n_train"])
    costs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for eta in etas:
            for use in (True, False):
                model = GIMLPRegressor((4 * eta,) * setup["layers"], solver="adam",
                                       batch_size=setup["batch_size"], max_iter=epochs,
                                       n_threads=1, random_state=0)
                model.fit(X, y, G if use else None)
                costs[eta, use] = float(np.median(model.net_.history[:, "dur"]))
    return costs


def authors_curves(time_epochs=3):
    """The bound rule on the authors' published mean test RMSE curves.

    With ``time_epochs``, also the search's projected cost relative to the
    exhaustive value-only grid: their curves, our measured per-epoch times of
    their networks (the same number of epochs for every fit, as they train).
    """
    import pandas as pd

    rows = []
    for dim, sizes in (("2D", (50, 100, 300, 500, 700)), ("8D", (2500, 5000, 7500, 10000))):
        costs = None
        for n in sizes:
            folder = RESULTS / dim / f"nTrain{n}"
            std = pd.read_csv(folder / "std_test_rmse.csv", index_col=0)["mean"]
            gi = pd.read_csv(folder / "grad_test_rmse.csv", index_col=0)["mean"]
            # scores are greater-is-better: negative RMSE
            gi_scores, base_scores = -gi.to_numpy(), -std.to_numpy()
            etas = [int(eta) for eta in std.index]
            optimum = int(etas[np.argmax(base_scores)])
            problem = dim[0] + "-D"
            row = {"problem": problem, "n_train": n, "optimum_eta": optimum,
                   "notebook_bound_eta": PAPER_BOUNDS[(problem, n)]}
            if time_epochs and costs is None:
                costs = epoch_costs(dim, etas, time_epochs)
            for plateau, suffix in ((False, ""), (True, "_plateau")):
                rule = {"gap_tol": GAP_TOL, "patience": PATIENCE, "perfect_score": 0.0,
                        "plateau": plateau}
                bound = gap_bound_index(gi_scores, base_scores, **rule)
                evaluated = next(
                    stop for stop in range(1, len(etas) + 1)
                    if stop == len(etas) or gap_bound_index(
                        gi_scores[:stop], base_scores[:stop], **rule, complete=False
                    ) is not None
                )
                row["bound_eta" + suffix] = etas[bound]
                row["bound_at_or_above_optimum" + suffix] = etas[bound] >= optimum
                row["candidates_evaluated" + suffix] = f"{evaluated}/{len(etas)}"
                if time_epochs:
                    search = sum(costs[eta, True] + costs[eta, False] for eta in etas[:evaluated])
                    row["projected_time_ratio" + suffix] = search / sum(
                        costs[eta, False] for eta in etas)
                    row["projected_vs_both_grids" + suffix] = search / sum(
                        costs[eta, True] + costs[eta, False] for eta in etas)
            row["grid_etas"] = f"{etas[0]}..{etas[-1]}"
            rows.append(row)
    return rows


def _problem(name, n_train):
    if name == "2-D":
        X, Y, G, *_ = mcdonagh_2d.load(n_train)
        return X, Y, G
    return make_problem("mcdonagh_regression_8d", n_train, random_state=0,
                        gradient_wrt="parameters")


def _model(n_fold, epochs, steps_per_epoch=20):
    return GIMLPRegressor(
        solver="adam", learning_rate_init=1e-3, max_iter=epochs, tol=0.0,
        n_iter_no_change=epochs + 1, batch_size=max(10, math.ceil(n_fold / steps_per_epoch)),
        callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.ExponentialLR,
                               gamma=1.01 ** (-300 / epochs))],
        n_threads=1, random_state=0,
    )


def measured_case(name, n_train, etas, epochs, cv, layers=4):
    torch.set_num_threads(1)
    X, y, G = _problem(name, n_train)
    grid = {"hidden_layer_sizes": [(4 * eta,) * layers for eta in etas]}
    folds = KFold(cv, shuffle=True, random_state=0)
    model = _model(n_train * (cv - 1) // cv, epochs)
    scoring = "neg_root_mean_squared_error"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # torch's one-off start-up costs would otherwise land on whichever search runs first
        _model(n_train, 1).set_params(hidden_layer_sizes=grid["hidden_layer_sizes"][0]).fit(X, y, G)
        start = time.perf_counter()
        exhaustive = GridSearchCV(model, grid, cv=folds, scoring=scoring, refit=False).fit(X, y)
        exhaustive_s = time.perf_counter() - start
        start = time.perf_counter()
        search = GIComplexitySearchCV(model, grid, cv=folds, refit=False, scoring=scoring,
                                      gap_tol=GAP_TOL, patience=PATIENCE).fit(X, y, dYdX=G)
        search_s = time.perf_counter() - start
    eta_of = dict(zip(grid["hidden_layer_sizes"], etas))
    optimum = eta_of[exhaustive.best_params_["hidden_layer_sizes"]]
    bound = eta_of[search.upper_bound_["hidden_layer_sizes"]]
    results = search.cv_results_
    relative_gaps = results["gap_test_score"] / -results["mean_test_score_without_gradients"]
    return {
        "problem": name, "n_train": n_train, "bound_eta": bound, "optimum_eta": optimum,
        "bound_at_or_above_optimum": bound >= optimum,
        "candidates_evaluated": f"{search.n_candidates_evaluated_}/{len(etas)}",
        "best_GI_eta": eta_of[search.best_params_["hidden_layer_sizes"]],
        "best_GI_cv_rmse": -search.best_score_,
        "best_value_only_cv_rmse": -exhaustive.best_score_,
        "relative_gaps": " ".join(f"{g:.2f}" for g in relative_gaps),
        "exhaustive_s": exhaustive_s, "search_s": search_s,
        "time_ratio": search_s / exhaustive_s,
    }


def measured(cases, etas_of, epochs, cv, workers):
    jobs = [delayed(measured_case)(name, n, etas_of[name], epochs, cv) for name, n in cases]
    rows = Parallel(n_jobs=workers, verbose=10)(jobs)
    for row in rows:
        print(f"  {row['problem']} n={row['n_train']}: bound eta {row['bound_eta']}, optimum "
              f"{row['optimum_eta']}, {row['candidates_evaluated']} candidates, "
              f"{row['search_s']:.0f} s vs {row['exhaustive_s']:.0f} s", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["authors", "measured", "all"], default="all")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:  # leave the committed full-size tables alone
        set_results_dir(QUICK_RESULTS)
    rule = (f"Bound rule (the default): relative gap (GI - value-only) / value-only RMSE; flip "
            f"or closed (gap_tol={GAP_TOL} of its peak), patience={PATIENCE}.")
    plateau = (" The _plateau columns add the opt-in plateau rule (neither model improves for "
               "patience widths).")
    rows = {}
    if args.part in ("authors", "all") and not args.quick:
        if RESULTS.exists():
            rows["authors"] = authors_curves()
            write_results(
                "complexity_search_authors_curves",
                "The bound rule on McDonagh and Chen's published curves",
                rows["authors"], list(rows["authors"][0]),
                notes=("Their mean test RMSE per width eta, 4 tanh layers (2-D) or 10 (8-D) of "
                       "4*eta units, with and without gradients; optimum = their best value-only "
                       "width; notebook_bound_eta = their notebook's bound; candidates_evaluated "
                       "= widths the search would train before its bound is established. "
                       "projected_time_ratio = the search's cost over the exhaustive value-only "
                       "grid's (projected_vs_both_grids: over exhaustive grids with and without "
                       "gradients, as the paper trained them), from our measured per-epoch "
                       "times of their networks (Adam, batch 10 on 2-D n=700 and 100 on 8-D "
                       "n=2500, median of 3 epochs, one thread; with and without dYdX) and "
                       "the widths each trains; one-fold costs, as both train every candidate "
                       "on the same folds. " + rule
                       + plateau),
            )
        else:
            print(f"{RESULTS} not found: the authors' curves are skipped.")
    if args.part in ("measured", "all"):
        if args.quick:
            cases, etas_of, epochs = [("2-D", 50)], {"2-D": [1, 2, 4, 8]}, 10
        else:
            cases = [("2-D", n) for n in (50, 100, 300, 500, 700)]
            cases += [("8-D", n) for n in (625, 1250, 1875, 2500)]
            etas_of = {"2-D": [1, 2, 4, 8, 16, 32, 64], "8-D": [1, 2, 4, 8, 16, 32]}
            epochs = args.epochs
        # the most expensive cases first, so that the workers finish together
        cases.sort(key=lambda case: -case[1] * (4 if case[0] == "8-D" else 1))
        rows["measured"] = sorted(measured(cases, etas_of, epochs, 3, args.workers),
                                  key=lambda row: (row["problem"], row["n_train"]))
        write_results(
            "complexity_search",
            "GIComplexitySearchCV bound vs the exhaustive value-only optimum (network width)",
            rows["measured"], list(rows["measured"][0]),
            notes=(f"GIMLPRegressor, 4 tanh layers of 4*eta units, Adam lr 1e-3 decayed by "
                   f"1.01**-300 over {epochs} epochs of at most 20 mini-batches, 3-fold CV "
                   f"scored by RMSE, one torch thread per fit, {args.workers} cases at a time. "
                   f"eta grids: {etas_of}. exhaustive = GridSearchCV without gradients over the "
                   "whole grid; search = GIComplexitySearchCV (each width it reaches trained "
                   "with and without dYdX on the same folds). relative_gaps = (value-only RMSE - "
                   "GI RMSE) / value-only RMSE per evaluated width. " + rule),
        )
    return rows


if __name__ == "__main__":
    main()
