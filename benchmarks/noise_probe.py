"""The noise probe of ``GIMLPRegressor(alpha="auto")``: exact against Monte Carlo data with many inputs.

On the one-cycle path, with gradients and at least 7 inputs, the defaults
measure at 40% of the epochs the share of the training values' variance
the network leaves unexplained (``noise_probe_score_``); above 0.02 the fit
starts again with ``alpha=0.1`` (``alpha_``). Per data family and n, the
largest score over seeds for exact data and the smallest over seeds for
Monte Carlo data (Bachelier baskets of 7, 10 and 20 assets, one noisy
payoff and its pathwise derivative per path): the threshold must lie
between the two where it is to tell them apart. Exact data: the suite's
functions with 7 or more inputs (water flow, wing weight, McDonagh's 8-D
regression) and two that a network fits slowly, Styblinski-Tang and Ackley
in 10 dimensions (on ``[-5, 5]^10`` and ``[-2, 2]^10``). Each fit is the
defaults themselves, one thread, against ``alpha=0`` on the same data:
``error_vs_no_penalty`` is the median ratio of the test errors (NRMSE on
2,000 exact test points; for the baskets the price RMSE on the authors'
test spots), 1 where the probe found nothing (the fits are then equal).

Run: ``python -m benchmarks.noise_probe [--sizes 2048 4096 8192] [--seeds 3] [--n-jobs 1]``.
"""

import argparse
import os
import time
import warnings

import numpy as np

from ._report import write_results

COLUMNS = ["data", "kind", "d", "n", "seeds", "score", "penalised", "error_vs_no_penalty", "fit_cpu_s"]
EXACT = ("water_flow", "wing_weight", "mcdonagh_regression_8d", "styblinski_tang_10d", "ackley_10d")
BASKETS = (7, 10, 20)


def slow_function(name, X):
    """Values and gradients of Styblinski-Tang or Ackley in any dimension."""
    if name.startswith("styblinski_tang"):
        return 0.5 * (X**4 - 16 * X**2 + 5 * X).sum(axis=1), 0.5 * (4 * X**3 - 32 * X + 5)
    d = X.shape[1]
    r = np.sqrt((X**2).mean(axis=1))
    wave = np.exp(np.cos(2 * np.pi * X).mean(axis=1))
    y = -20 * np.exp(-0.2 * r) - wave
    dYdX = (4 * np.exp(-0.2 * r) / (d * np.maximum(r, 1e-12)))[:, None] * X
    dYdX += wave[:, None] * 2 * np.pi * np.sin(2 * np.pi * X) / d
    return y, dYdX


def _slow_exact(name, n, random_state=None):
    """Styblinski-Tang on [-5, 5]^10 or Ackley on [-2, 2]^10: exact values and gradients."""
    bound = 5.0 if name.startswith("styblinski_tang") else 2.0
    X = np.random.default_rng(random_state).uniform(-bound, bound, (n, 10))
    return (X, *slow_function(name, X))


def _data(kind, name, n, seed):
    """Training data and (test inputs, exact test values, normaliser of the error)."""
    from sklearn_gi.datasets import make_problem

    from .differential_ml import problem_data

    if kind == "monte carlo":
        X, y, dYdX, X_test, price, _ = problem_data(name, n, seed)
        return (X, y, dYdX), (X_test, price, 1.0)
    make = _slow_exact if name.endswith("_10d") else make_problem
    X, y, dYdX = make(name, n, random_state=seed)
    X_test, y_test, _ = make(name, 2000, random_state=1000 + seed)
    return (X, y, dYdX), (X_test, y_test, np.std(y_test))


def _fit(kind, name, n, seed, params):
    import torch

    from sklearn_gi.neural_network import GIMLPRegressor

    torch.set_num_threads(1)
    (X, y, dYdX), (X_test, y_test, scale) = _data(kind, name, n, seed)
    errors = {}
    for label, extra in (("defaults", {}), ("no penalty", {"alpha": 0.0})):
        model = GIMLPRegressor(random_state=seed, **extra, **params)
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y, dYdX)
        if label == "defaults":
            row = {"kind": kind, "name": name, "d": X.shape[1], "n": n, "seed": seed,
                   "score": model.noise_probe_score_, "alpha": model.alpha_,
                   "cpu": time.process_time() - cpu}
        errors[label] = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / scale
    row["error_ratio"] = float(errors["defaults"] / errors["no penalty"])
    return row


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
        scores = [r["score"] for r in mine if r["score"] is not None]
        exact = kind == "exact"
        table.append({
            "data": name if exact else f"Bachelier {name} assets",
            "kind": "exact (max)" if exact else "Monte Carlo (min)",
            "d": mine[0]["d"], "n": n, "seeds": len(mine),
            "score": (max(scores) if exact else min(scores)) if scores else "no probe",
            "penalised": f"{sum(r['alpha'] > 0 for r in mine)}/{len(mine)}",
            "error_vs_no_penalty": float(np.median([r["error_ratio"] for r in mine])),
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
        f"defaults' whole fit, probe and restart included. Run: `python -m benchmarks.noise_probe --sizes "
        f"{' '.join(map(str, args.sizes))} --seeds {args.seeds} --n-jobs {args.n_jobs}`; "
        f"{time.perf_counter() - start:.0f} s wall, load average at the end {os.getloadavg()[0]:.1f}.",
    ])
    write_results("noise_probe", "GIMLPRegressor's noise probe (alpha=\"auto\"): exact against Monte Carlo "
                  "data", table, COLUMNS, notes)
    return table


if __name__ == "__main__":
    main()
