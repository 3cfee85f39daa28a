"""GIMLPRegressor with defaults on tiny data with exact derivatives (3 to 10 samples).

A battery of 1-D and 2-D cases: smooth functions sampled on grids, at random
(1-D) or on a Latin hypercube (2-D), fitted with ``fit(X, y, dYdX)`` and the
estimator's defaults, one fit per seed (the seed draws the weights and, for
the random designs, the sample). Test R^2 on a dense grid over the samples'
bounding box (interpolation: 201 points in 1-D, 41x41 in 2-D).
Run: ``python -m benchmarks.mlp_tiny_data [--seeds 3]``.
"""

import argparse
import itertools
import warnings

import numpy as np
from scipy.stats import qmc
from sklearn.exceptions import ConvergenceWarning

from sklearn_gi.neural_network import GIMLPRegressor

from ._report import write_results


def _st(x):
    """Styblinski-Tang, a quartic (per input), and its gradient."""
    return ((x**4 - 16 * x**2 + 5 * x) / 2).sum(axis=1), (4 * x**3 - 32 * x + 5) / 2


FUNCTIONS = {
    "sin(3x)": lambda x: (np.sin(3 * x[:, 0]), 3 * np.cos(3 * x)),
    "x^3 - x/2": lambda x: (x[:, 0] ** 3 - 0.5 * x[:, 0], 3 * x**2 - 0.5),
    "exp(x)": lambda x: (np.exp(x[:, 0]), np.exp(x)),
    "styblinski_tang_1d": _st,
    "x1^4 + x2^4 + x1 x2": lambda x: (
        x[:, 0] ** 4 + x[:, 1] ** 4 + x[:, 0] * x[:, 1],
        np.stack([4 * x[:, 0] ** 3 + x[:, 1], 4 * x[:, 1] ** 3 + x[:, 0]], axis=1),
    ),
    "sin(2 x1) cos(x2)": lambda x: (
        np.sin(2 * x[:, 0]) * np.cos(x[:, 1]),
        np.stack([2 * np.cos(2 * x[:, 0]) * np.cos(x[:, 1]),
                  -np.sin(2 * x[:, 0]) * np.sin(x[:, 1])], axis=1),
    ),
    "styblinski_tang_2d": _st,
}

_GRID2 = np.array(list(itertools.product([-1.0, 0.0, 1.0], repeat=2)))


def _design(name, seed):
    """Training inputs of a design; ``seed`` draws the random ones."""
    kind, _, n = name.partition(":")
    n = int(n) if n else 0
    if kind == "grid":
        return np.linspace(-1, 1, n)[:, None]
    if kind == "wide_grid":  # the quartics' own domain [-5, 5]
        return np.linspace(-5, 5, n)[:, None]
    if kind == "random":
        return np.random.RandomState(seed).uniform(-1, 1, (n, 1))
    if kind == "grid3x3":
        return _GRID2.copy()
    if kind == "wide_grid3x3":
        return 5 * _GRID2
    if kind == "lhs":
        return qmc.LatinHypercube(d=2, seed=seed).random(n) * 2 - 1
    raise ValueError(name)


CASES = (
    [(f, f"grid:{n}") for n in (3, 4, 6, 10) for f in ("sin(3x)", "x^3 - x/2", "exp(x)")]
    + [(f, f"random:{n}") for n in (4, 6) for f in ("sin(3x)", "x^3 - x/2", "exp(x)")]
    + [("styblinski_tang_1d", f"wide_grid:{n}") for n in (3, 4, 6, 10)]
    + [(f, d) for f in ("x1^4 + x2^4 + x1 x2", "sin(2 x1) cos(x2)") for d in ("grid3x3", "lhs:10")]
    + [("styblinski_tang_2d", "wide_grid3x3")]
)


def _test_grid(X):
    lo, hi = X.min(axis=0), X.max(axis=0)
    if X.shape[1] == 1:
        return np.linspace(lo, hi, 201)
    axes = [np.linspace(a, b, 41) for a, b in zip(lo, hi)]
    return np.array(list(itertools.product(*axes)))


def r2_scores(function, design, seeds, **params):
    """Test R^2 of the default network for each seed, and its L-BFGS iterations."""
    scores, iterations = [], []
    for seed in seeds:
        X = _design(design, seed)
        y, G = FUNCTIONS[function](X)
        X_test = _test_grid(X)
        y_test, _ = FUNCTIONS[function](X_test)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # defaults must converge
            model = GIMLPRegressor(random_state=seed, **params).fit(X, y, G)
        residual = model.predict(X_test) - y_test
        scores.append(1 - np.mean(residual**2) / np.var(y_test))
        iterations.append(model.n_iter_)
    return np.array(scores), np.array(iterations)


def run(seeds, cases=CASES):
    rows = []
    for function, design in cases:
        scores, iterations = r2_scores(function, design, seeds)
        rows.append({"function": function, "design": design,
                     "n_samples": len(_design(design, 0)), "min_r2": float(scores.min()),
                     "median_r2": float(np.median(scores)), "max_r2": float(scores.max()),
                     "median_n_iter": float(np.median(iterations)),
                     "pass": bool(scores.min() > 0.9)})
        print(f"  {function:22s} {design:14s} R^2 min {scores.min():7.3f} "
              f"median {np.median(scores):6.3f}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run(list(range(args.seeds)))
    passed = sum(r["pass"] for r in rows)
    write_results(
        "mlp_tiny_data",
        "GIMLPRegressor defaults on tiny data with exact derivatives",
        rows,
        list(rows[0]),
        notes=(
            f"{args.seeds} seeds per case; `pass` = test R^2 > 0.9 for every seed: "
            f"{passed} of {len(rows)} cases pass. Designs: `grid:n` n points on [-1, 1], "
            "`wide_grid:n` on [-5, 5] (Styblinski-Tang's domain), `random:n` uniform on "
            "[-1, 1] drawn by the seed, `grid3x3` / `wide_grid3x3` the 3x3 grid on [-1, 1]^2 / "
            "[-5, 5]^2, `lhs:10` a 10-point Latin hypercube drawn by the seed. Test: dense grid "
            "over the samples' bounding box."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
