"""The noise check of ``GIMLPRegressor(solver="auto")``: exact against Monte Carlo derivative data.

``sklearn_gi.utils.gradient_inconsistency`` pairs each sample with its
nearest neighbour and returns the share of the differences of their values
that the trapezoid rule ``(g_i + g_j) . (x_j - x_i) / 2`` leaves unexplained.
Per data family and n: the largest ratio over seeds for exact data (every
``make_problem`` function, first output) and the smallest over seeds for
Monte Carlo data (Bachelier baskets of 2, 3, 7 and 20 assets and the
Black-Scholes call, one noisy payoff and its pathwise derivative per path):
the rule needs a threshold above the first and below the second. Rows
``Gaussian bump, d inputs`` (exact ``exp(-|x|^2)`` on uniform ``[-1, 1]^d``)
show where exact data stop looking exact: with many inputs the nearest
neighbours are far apart.

Run: ``python -m benchmarks.gradient_noise_check [--sizes 512 1024 2048] [--seeds 3 5]``.
"""

import argparse
import time

import numpy as np

from ._report import write_results

COLUMNS = ["data", "kind", "n", "seeds", "ratio"]
BASKETS = (2, 3, 7, 20)
BUMP_DIMS = (8, 10, 20)


def _exact(name, n, seed):
    from sklearn_gi.datasets import make_problem

    X, y, dYdX = make_problem(name, n, random_state=seed)
    if y.ndim > 1:
        y, dYdX = y[:, 0], dYdX[:, 0]
    return X, y, dYdX


def _bump(d, n, seed):
    X = np.random.default_rng(seed).uniform(-1, 1, size=(n, d))
    y = np.exp(-np.sum(X**2, axis=1))
    return X, y, -2 * X * y[:, None]


def _monte_carlo(d, n, seed):
    from .differential_ml import problem_data

    X, y, dYdX = problem_data(0 if d == 1 else d, n, seed)[:3]  # 0: the Black-Scholes call
    return X, y, dYdX.reshape(n, -1)


def run(sizes=(512, 1024), exact_seeds=3, noisy_seeds=5, problems=None):
    from sklearn_gi.datasets import list_problems
    from sklearn_gi.utils import gradient_inconsistency

    rows = []
    for n in sizes:
        for name in problems or list_problems():
            ratios = [gradient_inconsistency(*_exact(name, n, s)) for s in range(exact_seeds)]
            rows.append({"data": name, "kind": "exact (max)", "n": n, "seeds": exact_seeds,
                         "ratio": float(np.max(ratios))})
        for d in BUMP_DIMS:
            ratios = [gradient_inconsistency(*_bump(d, n, s)) for s in range(exact_seeds)]
            rows.append({"data": f"Gaussian bump, {d} inputs", "kind": "exact (max)", "n": n,
                         "seeds": exact_seeds, "ratio": float(np.max(ratios))})
        for d in (1, *BASKETS):
            ratios = [gradient_inconsistency(*_monte_carlo(d, n, s)) for s in range(noisy_seeds)]
            label = "Black-Scholes call" if d == 1 else f"Bachelier {d} assets"
            rows.append({"data": label, "kind": "Monte Carlo (min)", "n": n, "seeds": noisy_seeds,
                         "ratio": float(np.min(ratios))})
        print(f"  n={n} done", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--seeds", type=int, nargs=2, default=[3, 5], metavar=("EXACT", "NOISY"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.sizes, *args.seeds)
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("Run:", 1)[0].strip(), "",
        f"Run: `python -m benchmarks.gradient_noise_check --sizes {' '.join(map(str, args.sizes))} "
        f"--seeds {args.seeds[0]} {args.seeds[1]}`; {time.perf_counter() - start:.0f} s wall.",
    ])
    write_results("gradient_noise_check", "Gradient inconsistency of exact and Monte Carlo derivative data",
                  rows, COLUMNS, notes)
    return rows


if __name__ == "__main__":
    main()
