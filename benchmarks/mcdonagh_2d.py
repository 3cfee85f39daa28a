"""McDonagh and Chen's 2-D dynamic simulator: GI vs no-GI networks at n=50, eta=36.

Their setting: 4 tanh hidden layers of 4*eta = 144 units, the first 50 rows of
their 1,000-sample training pool, the 1,000-sample test pool; test RMSE over
samples and the 10 time steps. Their mean over 10 runs: GI 0.0159, no-GI
0.0198 (``results/2D/nTrain50`` of their repository, row eta=36).

Two training protocols, each with and without ``dYdX`` (same network, seeds
and budget):

* ``paper``: their optimiser (Adam, lr 1e-3 decayed by 1/1.01 per epoch
  through a skorch ``LRScheduler`` callback, batch size 10, 300 epochs);
* ``default``: GIMLPRegressor's defaults (full-batch L-BFGS until it has
  converged, at most 5,000 iterations).

One multi-output network maps theta to the 10 time steps (Jacobian
``(n, 10, 2)``); theirs was one network per time step fed the previous output.

Data: their CSVs from ``../shared/reference/mcdonagh2021/data2d`` when present
(exact replication), otherwise the same amount drawn from the built-in
simulator ``mcdonagh_dynamic_2d``, which reproduces their data to 1e-12.
Run: ``python -m benchmarks.mcdonagh_2d [--seeds 5]``.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.datasets import get_problem
from sklearn_gi.neural_network import GIMLPRegressor

from ._report import write_results

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mcdonagh2021" / "data2d"
PAPER_RMSE = {"GI": 0.0159, "no-GI": 0.0198}


def load(n_train):
    """Training rows, test pool and the data's origin."""
    if (SHARED / "x_train.csv").exists():
        import pandas as pd

        def read(name, **kw):
            return pd.read_csv(SHARED / name, index_col=0, **kw).to_numpy()

        X, Y = read("x_train.csv")[:n_train], read("y_train.csv")[:n_train]
        G = read("y_train_grad.csv", header=[0, 1])[:n_train].reshape(n_train, 10, 2)
        return X, Y, G, read("x_test.csv"), read("y_test.csv"), "the authors' CSVs"
    problem = get_problem("mcdonagh_dynamic_2d")
    X, X_test = problem.sample(n_train, random_state=0), problem.sample(1000, random_state=1)
    return (X, problem.value(X), problem.gradient(X), X_test, problem.value(X_test),
            "the built-in simulator (../shared not found)")


def model(protocol, seed, eta=36):
    hidden = (4 * eta,) * 4
    if protocol == "paper":
        return GIMLPRegressor(
            hidden, solver="adam", learning_rate_init=1e-3, batch_size=10, max_iter=300,
            tol=0.0, n_iter_no_change=300, random_state=seed,
            callbacks=[LRScheduler(policy=torch.optim.lr_scheduler.ExponentialLR, gamma=1 / 1.01)],
        )
    return GIMLPRegressor(hidden, random_state=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-train", type=int, default=50)
    parser.add_argument("--protocols", nargs="+", default=["paper", "default"])
    args = parser.parse_args(argv)
    X, Y, G, X_test, Y_test, origin = load(args.n_train)
    rows = []
    for protocol in args.protocols:
        for label, gradients in (("GI", G), ("no-GI", None)):
            rmses, times, iterations, warned = [], [], [], 0
            for seed in range(args.seeds):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    fitted = model(protocol, seed).fit(X, Y, gradients)
                    times.append(time.perf_counter() - start)
                warned += any(issubclass(w.category, ConvergenceWarning) for w in caught)
                iterations.append(fitted.n_iter_)
                rmses.append(float(np.sqrt(np.mean((fitted.predict(X_test) - Y_test) ** 2))))
            rows.append({
                "protocol": protocol, "model": label, "n_train": args.n_train,
                "mean_test_rmse": float(np.mean(rmses)), "std_test_rmse": float(np.std(rmses)),
                "min": float(np.min(rmses)), "max": float(np.max(rmses)),
                "paper_mean_rmse": PAPER_RMSE[label], "fit_s": float(np.mean(times)),
                "mean_n_iter": float(np.mean(iterations)), "convergence_warnings": warned,
            })
            print(f"  {protocol:8s} {label:6s} RMSE {np.mean(rmses):.4g} ± {np.std(rmses):.2g} "
                  f"(paper {PAPER_RMSE[label]})", flush=True)
    write_results(
        "mcdonagh_2d",
        f"McDonagh and Chen's 2-D simulator, n={args.n_train}, 4x144 tanh",
        rows,
        list(rows[0]),
        notes=(
            f"Data: {origin}. {args.seeds} seeds (weights and batch order); test RMSE over the "
            "1,000 test samples and 10 time steps. `paper` = Adam lr 1e-3 x 1.01^-epoch, batch 10, "
            "300 epochs; `default` = GIMLPRegressor's defaults (L-BFGS until converged, at most "
            "5,000 iterations). `mean_n_iter`: epochs (paper) or L-BFGS iterations (default); "
            "`convergence_warnings`: fits (of the seeds) that ended with a ConvergenceWarning "
            "(the paper protocol's fixed 300 epochs always do)."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
