"""The noise probe of ``GIMLPRegressor(alpha="auto")``: exact against Monte Carlo data with many inputs.

On the one-cycle path, with gradients and at least 7 inputs, the defaults
measure at 40% of the epochs the share of the training values' variance
the network leaves unexplained (``noise_probe_score_``); above 0.02 the fit
starts again with ``alpha=0.1`` (``alpha_``). Per data family and n, the
largest score over seeds for exact data (the suite's functions with 7 or
more inputs) and the smallest over seeds for Monte Carlo data (Bachelier
baskets of 7, 10 and 20 assets, one noisy payoff and its pathwise
derivative per path): the threshold must lie between the two. The fits
are the defaults themselves, one thread.

Run: ``python -m benchmarks.noise_probe [--sizes 2048 4096 8192] [--seeds 3] [--n-jobs 1]``.
"""

import argparse
import os
import time
import warnings

import numpy as np

from ._report import write_results

COLUMNS = ["data", "kind", "d", "n", "seeds", "score", "penalised", "fit_cpu_s"]
EXACT = ("water_flow", "wing_weight", "mcdonagh_regression_8d")
BASKETS = (7, 10, 20)


def _fit(kind, name, n, seed, params):
    import torch

    from sklearn_gi.datasets import make_problem
    from sklearn_gi.neural_network import GIMLPRegressor

    from .differential_ml import problem_data

    torch.set_num_threads(1)
    if kind == "exact":
        X, y, dYdX = make_problem(name, n, random_state=seed)
    else:
        X, y, dYdX = problem_data(name, n, seed)[:3]
    model = GIMLPRegressor(random_state=seed, **params)
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, dYdX)
    cpu = time.process_time() - cpu
    return {"kind": kind, "name": name, "d": X.shape[1], "n": n, "seed": seed,
            "score": model.noise_probe_score_, "alpha": model.alpha_, "cpu": cpu}


def run(sizes=(2048, 4096, 8192), seeds=(0, 1, 2), exact=EXACT, baskets=BASKETS, n_jobs=1, **params):
    """Per-fit rows: the probe's score and the penalty the defaults took (``params`` for tests)."""
    from joblib import Parallel, delayed

    jobs = [("exact", name, n, s) for n in sizes for name in exact for s in seeds]
    jobs += [("monte carlo", d, n, s) for n in sizes for d in baskets for s in seeds]
    return Parallel(n_jobs=n_jobs)(delayed(_fit)(*job, params) for job in jobs)


def summarize(runs):
    table = []
    for key in dict.fromkeys((r["kind"], r["name"], r["n"]) for r in runs):
        mine = [r for r in runs if (r["kind"], r["name"], r["n"]) == key]
        kind, name, n = key
        scores = [r["score"] for r in mine]
        exact = kind == "exact"
        table.append({
            "data": name if exact else f"Bachelier {name} assets",
            "kind": "exact (max)" if exact else "Monte Carlo (min)",
            "d": mine[0]["d"], "n": n, "seeds": len(mine),
            "score": max(scores) if exact else min(scores),
            "penalised": f"{sum(r['alpha'] > 0 for r in mine)}/{len(mine)}",
            "fit_cpu_s": float(np.median([r["cpu"] for r in mine])),
        })
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    parser.add_argument("--n-jobs", type=int, default=1, help="fits in parallel (one thread each)")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    start = time.perf_counter()
    table = summarize(run(args.sizes, range(args.seeds), n_jobs=args.n_jobs))
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("Run:", 1)[0].strip(), "",
        f"`score`: the probe's share (largest over seeds for exact data, smallest for Monte Carlo); "
        f"`penalised`: fits that restarted with the penalty; `fit_cpu_s`: median CPU seconds of the "
        f"whole fit, probe and restart included. Run: `python -m benchmarks.noise_probe --sizes "
        f"{' '.join(map(str, args.sizes))} --seeds {args.seeds} --n-jobs {args.n_jobs}`; "
        f"{time.perf_counter() - start:.0f} s wall, load average at the end {os.getloadavg()[0]:.1f}.",
    ])
    write_results("noise_probe", "GIMLPRegressor's noise probe (alpha=\"auto\"): exact against Monte Carlo "
                  "data", table, COLUMNS, notes)
    return table


if __name__ == "__main__":
    main()
