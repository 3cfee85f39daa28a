"""GIRidge with gradients vs tuned Ridge, both on polynomial features, on built-in problems.

The GI model receives the gradients and the Jacobian of the polynomial features
(``dZdX``). Both are tuned the same way: ``GridSearchCV`` over 12 values of
``alpha`` (and, for GIRidge, 3 of ``gradient_weight``) with K-fold CV on value
MSE; the folds' gradients are routed to GIRidge.
Reported: median over seeds of test RMSE of values and of gradients.
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import PolynomialFeatures

from sklearn_gi.datasets import get_problem, make_problem
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.preprocessing import transform_jacobian

try:
    from ._report import write_results
except ImportError:  # run as a script
    from _report import write_results

# problem -> (options, polynomial degree)
PROBLEMS = {
    "booth": ({}, 2),
    "styblinski_tang": ({"n_features": 4}, 4),
    "rosenbrock": ({}, 4),
    "mccormick": ({}, 6),
    "runge": ({"n_features": 2}, 6),
}


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run(problems, n_trains, seeds, n_test=2000):
    rows = []
    for name in problems:
        options, degree = PROBLEMS[name]
        problem = get_problem(name, **options)
        X_test = problem.sample(n_test, random_state=12345)
        y_test, G_test = problem.value(X_test), problem.gradient(X_test)
        for n in n_trains:
            results = {"GIRidge": [], "Ridge": []}
            for seed in seeds:
                X, y, G = make_problem(name, n, random_state=seed, **options)
                poly = PolynomialFeatures(degree, include_bias=False).fit(X)
                Z, Z_test = poly.transform(X), poly.transform(X_test)
                J_test = transform_jacobian(poly, X_test)
                cv = KFold(min(5, n), shuffle=True, random_state=seed)
                grid = {"alpha": np.logspace(-8, 3, 12)}
                start = time.perf_counter()
                gi_grid = {**grid, "gradient_weight": [0.01, 0.1, 1.0]}
                gi = GridSearchCV(GIRidge(), gi_grid, cv=cv, scoring="neg_mean_squared_error")
                gi = gi.fit(Z, y, dYdX=G, dZdX=transform_jacobian(poly, X)).best_estimator_
                gi_time = time.perf_counter() - start
                start = time.perf_counter()
                ridge = GridSearchCV(Ridge(), grid, cv=cv, scoring="neg_mean_squared_error")
                ridge = ridge.fit(Z, y).best_estimator_
                ridge_time = time.perf_counter() - start
                for label, model, fit_time in (("GIRidge", gi, gi_time), ("Ridge", ridge, ridge_time)):
                    grad = np.einsum("p,npd->nd", model.coef_, J_test)
                    results[label].append(
                        (rmse(model.predict(Z_test), y_test), rmse(grad, G_test), fit_time)
                    )
            gi_med = np.median(results["GIRidge"], axis=0)
            ridge_med = np.median(results["Ridge"], axis=0)
            rows.append(
                {
                    "problem": name,
                    "d": problem.n_features,
                    "degree": degree,
                    "n_features_poly": Z.shape[1],
                    "n_train": n,
                    "rmse_Ridge": ridge_med[0],
                    "rmse_GIRidge": gi_med[0],
                    "ratio": ridge_med[0] / max(gi_med[0], 1e-300),
                    "grad_rmse_Ridge": ridge_med[1],
                    "grad_rmse_GIRidge": gi_med[1],
                    "tune_fit_s_Ridge": ridge_med[2],
                    "tune_fit_s_GIRidge": gi_med[2],
                }
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--n-train", nargs="+", type=int, default=[5, 10, 20, 50])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    rows = run(args.problems, args.n_train, range(args.seeds))
    columns = list(rows[0])
    write_results(
        "linear_sample_efficiency",
        "GIRidge (values + gradients) vs tuned Ridge (values) on polynomial features",
        rows,
        columns,
        notes=(
            f"Median over {args.seeds} seeds; test set of 2000 points from each problem's domain. "
            "`ratio` = Ridge RMSE / GIRidge RMSE (higher is better for GI). "
            "Reproduce: `python -m benchmarks.linear_sample_efficiency`."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
