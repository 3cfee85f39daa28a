"""How far GIMLPRegressor's defaults are from the best of its settings on noisy Monte Carlo data.

Issue 23 asks for ``GIMLPRegressor()`` on the 20-asset Bachelier basket with
m = 8192 paths (Huge and Savine's problem, ``benchmarks.differential_ml``) to
be within 20% of the error of the best setting, in one minute of one thread.
This benchmark fits the defaults and a grid of one-parameter changes around
them (peak learning rate, whose default is ``0.1 / sqrt(n_features)``,
0.022 for 20 assets; epochs; batch size; width; depth; early stopping; the L2
penalty ``alpha``, whose default "auto" takes 0.1 on these data after its
noise probe, and without which the defaults are ``alpha=0``) on the same
paths and seeds, and reports per setting the
medians over seeds of the RMSE x 100 of the prices and of the delta to asset
1 against the exact ones (on the authors' test spots), the CPU seconds of the
fit (one thread) and the ratio of the defaults' errors to the best setting's.

Run: ``python -m benchmarks.mlp_noisy_settings [--dims 20] [--size 8192] [--seeds 5] [--n-jobs 1]``.
"""

import argparse
import os
import time
import warnings

import numpy as np

from ._report import write_results

SETTINGS = {
    "defaults": {},
    "peak rate 0.01": {"learning_rate_init": 0.01},
    "peak rate 0.03": {"learning_rate_init": 0.03},
    "peak rate 0.05": {"learning_rate_init": 0.05},
    "peak rate 0.1 (twin net's)": {"learning_rate_init": 0.1},
    "60 epochs": {"max_iter": 60},
    "150 epochs": {"max_iter": 150},
    "batch 256": {"batch_size": 256},
    "128-128": {"hidden_layer_sizes": (128, 128)},
    "64-64-64": {"hidden_layer_sizes": (64, 64, 64)},
    "early stopping": {"early_stopping": True},
    "alpha=0.1 (no probe)": {"alpha": 0.1},
    "alpha=0 (no penalty)": {"alpha": 0.0},
    "alpha=0.05": {"alpha": 0.05},
    "alpha=0.2": {"alpha": 0.2},
    "128-128, alpha=0": {"hidden_layer_sizes": (128, 128), "alpha": 0.0},
}
COLUMNS = ["setting", "seeds", "value_rmse_x100", "delta_rmse_x100", "value_vs_best", "delta_vs_best",
           "alpha_", "fit_cpu_s"]


def run(d, m, seeds, settings=SETTINGS, n_jobs=1):
    from joblib import Parallel, delayed

    per_seed = Parallel(n_jobs=n_jobs)(delayed(_run_seed)(d, m, seed, settings) for seed in seeds)
    return [run for runs in per_seed for run in runs]


def _run_seed(d, m, seed, settings):
    import torch

    from sklearn_gi.neural_network import GIMLPRegressor

    from .differential_ml import problem_data

    torch.set_num_threads(1)
    runs = []
    X, y, dYdX, X_test, price, delta = problem_data(d, m, seed)
    for name, params in settings.items():
        model = GIMLPRegressor(random_state=seed, **params)
        cpu = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y, dYdX)
        cpu = time.process_time() - cpu
        value = 100 * np.sqrt(np.mean((model.predict(X_test) - price) ** 2))
        grad = model.predict_gradient(X_test)[:, 0]
        runs.append({"setting": name, "seed": seed, "value": float(value), "cpu": cpu,
                     "delta": float(100 * np.sqrt(np.mean((grad - delta[:, 0]) ** 2))),
                     "alpha": model.alpha_})
        print(f"  seed {seed} {name}: {value:.4f} / {runs[-1]['delta']:.4f} ({cpu:.1f} s, "
              f"alpha_={model.alpha_:g})", flush=True)
    return runs


def summarize(runs):
    table = []
    for name in dict.fromkeys(r["setting"] for r in runs):
        mine = [r for r in runs if r["setting"] == name]
        table.append({"setting": name, "seeds": len(mine),
                      "value_rmse_x100": float(np.median([r["value"] for r in mine])),
                      "delta_rmse_x100": float(np.median([r["delta"] for r in mine])),
                      "fit_cpu_s": float(np.median([r["cpu"] for r in mine])),
                      "alpha_": "/".join(f"{a:g}" for a in sorted({r["alpha"] for r in mine}))})
    best_value = min(r["value_rmse_x100"] for r in table)
    best_delta = min(r["delta_rmse_x100"] for r in table)
    for r in table:
        r["value_vs_best"] = r["value_rmse_x100"] / best_value
        r["delta_vs_best"] = r["delta_rmse_x100"] / best_delta
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, default=20)
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--n-jobs", type=int, default=1, help="seeds fitted in parallel (one thread each)")
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    start = time.perf_counter()
    table = summarize(run(args.dims, args.size, range(args.seeds), n_jobs=args.n_jobs))
    defaults = table[0]
    best_value = min(table, key=lambda r: r["value_rmse_x100"])
    best_delta = min(table, key=lambda r: r["delta_rmse_x100"])
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("Run:", 1)[0].strip(), "",
        f"Bachelier basket, {args.dims} assets, m = {args.size} paths, medians over seeds 0-{args.seeds - 1} "
        f"(the seed draws the market, the paths, the test spots and the weights). Run: `python -m "
        f"benchmarks.mlp_noisy_settings --dims {args.dims} --size {args.size} --seeds {args.seeds} "
        f"--n-jobs {args.n_jobs}`; "
        f"{time.perf_counter() - start:.0f} s wall, load average at the end {os.getloadavg()[0]:.1f}.", "",
        f"Defaults: {defaults['value_rmse_x100']:.4g} / {defaults['delta_rmse_x100']:.4g} in "
        f"{defaults['fit_cpu_s']:.1f} s CPU; best values: {best_value['setting']} "
        f"({best_value['value_rmse_x100']:.4g}), best deltas: {best_delta['setting']} "
        f"({best_delta['delta_rmse_x100']:.4g}); the defaults' errors are {defaults['value_vs_best']:.2f}x "
        f"and {defaults['delta_vs_best']:.2f}x the best (the issue's bar: within 20%, i.e. <= 1.2x).",
    ])
    write_results(f"mlp_noisy_settings_{args.dims}d_{args.size}", "GIMLPRegressor's defaults against its "
                  "best setting on noisy Monte Carlo data", table, COLUMNS, notes)
    return table


if __name__ == "__main__":
    main()
