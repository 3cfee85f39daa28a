"""Fit time and peak extra memory: GIRidge with gradients vs sklearn Ridge without.

GIRidge never builds the ``(n (1 + d), p)`` augmented system: with raw linear
features the gradient term is a sum over samples, and the Gram matrix is
accumulated in row chunks. Peak memory is measured with ``tracemalloc`` (numpy
reports its allocations to it) and excludes the inputs themselves.
"""

import argparse

import numpy as np
from sklearn.linear_model import Ridge

from sklearn_gi.linear_model import GIRidge

try:
    from ._report import best_time, peak_mib, write_results
except ImportError:  # run as a script
    from _report import best_time, peak_mib, write_results


def run(sizes, n_features, repeat):
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        X = rng.normal(size=(n, n_features))
        coef = rng.normal(size=n_features)
        y = X @ coef + 0.1 * rng.normal(size=n)
        G = coef + 0.01 * rng.normal(size=(n, n_features))

        def fit_ridge():
            Ridge(alpha=1.0).fit(X, y)

        def fit_gi():
            GIRidge(alpha=1.0).fit(X, y, G)

        t_ridge, t_gi = best_time(fit_ridge, repeat), best_time(fit_gi, repeat)
        rows.append(
            {
                "n_samples": n,
                "n_features": n_features,
                "input_MiB": (X.nbytes + G.nbytes) / 2**20,
                "Ridge_s": t_ridge,
                "GIRidge_with_gradients_s": t_gi,
                "time_ratio": t_gi / t_ridge,
                "Ridge_peak_extra_MiB": peak_mib(fit_ridge),
                "GIRidge_peak_extra_MiB": peak_mib(fit_gi),
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", nargs="+", type=int, default=[1_000, 10_000, 200_000])
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run(args.n_train, args.n_features, args.repeat)
    write_results(
        "linear_speed",
        "Fit time: GIRidge with gradients vs Ridge without",
        rows,
        list(rows[0]),
        notes=(
            "Best of 3 fits, one run, same machine. `time_ratio` = GIRidge / Ridge. "
            "Reproduce: `python -m benchmarks.linear_speed`."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
