"""What an L2 penalty on the weights (``alpha``) does to GIMLPRegressor's large-data fits on exact data.

On the Monte Carlo baskets of 7 and more assets ``GIMLPRegressor(alpha=0.1)``
is more accurate than without the penalty (``python -m benchmarks.differential_ml
--dims 7 20 --sizes 4096 8192 16384 --models 'twin net' 'GIMLP no penalty'
'GIMLP weight decay' --name differential_ml_weight_decay``), but not on the
one-input Black-Scholes call.
This benchmark measures the other side: exact values and gradients, where a
penalty can only bias the fit. Per problem of the suite (``make_problem``)
and seed, ``GIMLPRegressor(random_state=seed)`` and the same with
``alpha`` set are fitted on the same ``n`` exact samples (from 2,048 on the
defaults train with one-cycle Adam, the path the penalty is meant for);
test NRMSE (RMSE over the standard deviation of the test targets) on 2,000
test points, and CPU seconds of the fit on one thread; medians over seeds.
The defaults' ``alpha="auto"`` probes data with 7 or more inputs at 40% of
the epochs and penalises them only when more than 0.02 of the training
values' variance is left unexplained: ``defaults_alpha_`` is the penalty it
took and ``max_noise_probe_score`` the largest share its probe measured.

Run: ``python -m benchmarks.mlp_weight_decay [--n 4096] [--seeds 3] [--alpha 0.1]``.
"""

import argparse
import os
import time

import numpy as np

from ._report import write_results
from .mlp_solver_choice import fit_nrmse

PROBLEMS = ["sin", "rosenbrock", "styblinski_tang", "mcdonagh_regression_8d", "water_flow", "wing_weight"]
COLUMNS = ["problem", "d", "n", "seeds", "defaults_nrmse", "penalty_nrmse", "ratio", "defaults_cpu_s",
           "penalty_cpu_s", "solver", "defaults_alpha_", "max_noise_probe_score"]


def run(problems=PROBLEMS, n=4096, seeds=(0, 1, 2), alpha=0.1, **params):
    """Per-seed rows: the defaults and ``alpha`` on the same exact data (``params`` for tests)."""
    import torch

    from sklearn_gi.datasets import make_problem
    from sklearn_gi.neural_network import GIMLPRegressor

    torch.set_num_threads(1)
    rows = []
    for problem in problems:
        for seed in seeds:
            X, y, dYdX = make_problem(problem, n, random_state=seed)
            X_test, y_test, _ = make_problem(problem, 2000, random_state=1000 + seed)
            row = {"problem": problem, "d": X.shape[1], "n": n, "seed": seed}
            for name, penalty in (("defaults", {}), ("penalty", {"alpha": alpha})):
                model = GIMLPRegressor(random_state=seed, **penalty, **params)
                row[f"{name}_cpu_s"], row[f"{name}_nrmse"] = fit_nrmse(model, X, y, dYdX, X_test, y_test)
                if name == "defaults":  # what alpha="auto" found on these exact data
                    row["defaults_alpha_"], row["noise_probe_score_"] = model.alpha_, model.noise_probe_score_
            row["solver"] = model.solver_
            print(f"  {problem} seed {seed}: {row['defaults_nrmse']:.4g} -> {row['penalty_nrmse']:.4g}",
                  flush=True)
            rows.append(row)
    return rows


def summarize(rows):
    table = []
    for problem in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == problem]
        entry = {key: mine[0][key] for key in ("problem", "d", "n", "solver")}
        entry["seeds"] = len(mine)
        for key in ("defaults_nrmse", "penalty_nrmse", "defaults_cpu_s", "penalty_cpu_s"):
            entry[key] = float(np.median([r[key] for r in mine]))
        entry["ratio"] = entry["penalty_nrmse"] / entry["defaults_nrmse"]
        entry["defaults_alpha_"] = "/".join(f"{a:g}" for a in sorted({r["defaults_alpha_"] for r in mine}))
        scores = [r["noise_probe_score_"] for r in mine if r["noise_probe_score_"] is not None]
        entry["max_noise_probe_score"] = max(scores) if scores else "no probe"
        table.append(entry)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--alpha", type=float, default=0.1)
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    start = time.perf_counter()
    table = summarize(run(n=args.n, seeds=range(args.seeds), alpha=args.alpha))
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("Run:", 1)[0].strip(), "",
        f"`ratio`: the penalty's median NRMSE over the defaults'. Run: `python -m "
        f"benchmarks.mlp_weight_decay --n {args.n} --seeds {args.seeds} --alpha {args.alpha:g}`; "
        f"{time.perf_counter() - start:.0f} s wall, load average at the end {os.getloadavg()[0]:.1f}.",
    ])
    title = f"GIMLPRegressor: alpha={args.alpha:g} against the defaults on exact data"
    write_results("mlp_weight_decay", title, table, COLUMNS, notes)
    return table


if __name__ == "__main__":
    main()
