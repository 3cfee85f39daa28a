"""GIMLPRegressor with and without gradients, and scikit-learn's MLPRegressor, on the
seven Sobolev test functions of Czarnecki et al. (2017), at n=20 and n=100.

Every model gets the same training sample (uniform on the function's domain)
and the same 2,000-point test sample. GIMLPRegressor runs its defaults (64-64
tanh, full-batch L-BFGS until converged, at most 5,000 iterations) with ``dYdX``
(squared and Huber gradient loss) and without it: the same network and rule.
MLPRegressor is given the same architecture and solver plus standardized X and y
(``StandardScaler`` and ``TransformedTargetRegressor``), i.e. a well-configured
value-only baseline;
its defaults (100 ReLU units, Adam, 200 epochs) are reported too.
Reported: median over seeds of test NRMSE (RMSE / std of the test values), of
the gradient NRMSE, and of the fit time.
Run: ``python -m benchmarks.mlp_sobolev_functions [--seeds 3]``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_gi.datasets import get_problem, make_problem
from sklearn_gi.datasets._sobolev_functions import SOBOLEV_FUNCTIONS
from sklearn_gi.neural_network import GIMLPRegressor

from ._report import write_results

MODELS = ["GIMLP_with_gradients", "GIMLP_huber", "GIMLP_values_only", "MLPRegressor_matched",
          "MLPRegressor_default"]


def _model(label, seed):
    if label == "GIMLP_huber":
        return GIMLPRegressor(gradient_loss="huber", random_state=seed)
    if label.startswith("GIMLP"):
        return GIMLPRegressor(random_state=seed)
    if label == "MLPRegressor_matched":
        mlp = MLPRegressor(hidden_layer_sizes=(64, 64), activation="tanh", solver="lbfgs",
                           max_iter=1000, random_state=seed)
        return TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp),
                                          transformer=StandardScaler())
    return MLPRegressor(random_state=seed)


def run(functions, n_trains, seeds, n_test=2000):
    rows = []
    for name in functions:
        problem = get_problem(name)
        X_test = problem.sample(n_test, random_state=12345)
        y_test, G_test = problem.value(X_test), problem.gradient(X_test)
        y_std, G_std = y_test.std(), G_test.std()
        for n in n_trains:
            results = {label: [] for label in MODELS}
            for seed in seeds:
                X, y, G = make_problem(name, n, random_state=seed)
                for label in MODELS:
                    model = _model(label, seed)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", ConvergenceWarning)
                        start = time.perf_counter()
                        if label in ("GIMLP_with_gradients", "GIMLP_huber"):
                            model.fit(X, y, G)
                        else:
                            model.fit(X, y)
                        fit_time = time.perf_counter() - start
                    warned = float(any(issubclass(w.category, ConvergenceWarning) for w in caught))
                    n_iter = float(getattr(model, "n_iter_", np.nan))
                    nrmse = np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / y_std
                    grad = np.nan
                    if hasattr(model, "predict_gradient"):
                        grad = np.sqrt(np.mean((model.predict_gradient(X_test) - G_test) ** 2)) / G_std
                    results[label].append((nrmse, grad, fit_time, n_iter, warned))
            med = {label: np.median(results[label], axis=0) for label in MODELS}
            warned = {label: int(np.sum(np.asarray(results[label])[:, 4])) for label in MODELS}
            gi, values_only = med["GIMLP_with_gradients"], med["GIMLP_values_only"]
            rows.append({
                "function": name,
                "n_train": n,
                "nrmse_GI": gi[0],
                "nrmse_GI_huber": med["GIMLP_huber"][0],
                "nrmse_values_only": values_only[0],
                "nrmse_MLPRegressor_matched": med["MLPRegressor_matched"][0],
                "nrmse_MLPRegressor_default": med["MLPRegressor_default"][0],
                "gain_vs_values_only": values_only[0] / gi[0],
                "gain_vs_MLPRegressor": med["MLPRegressor_matched"][0] / gi[0],
                "grad_nrmse_GI": gi[1],
                "grad_nrmse_values_only": values_only[1],
                "fit_s_GI": gi[2],
                "fit_s_values_only": values_only[2],
                "fit_s_MLPRegressor_matched": med["MLPRegressor_matched"][2],
                "n_iter_GI": gi[3],
                "n_iter_values_only": values_only[3],
                "warnings_GI": warned["GIMLP_with_gradients"],
                "warnings_values_only": warned["GIMLP_values_only"],
            })
            print(f"  {name:16s} n={n:4d}  GI {gi[0]:.3g}  values-only {values_only[0]:.3g}  "
                  f"MLPRegressor {med['MLPRegressor_matched'][0]:.3g}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", nargs="+", default=list(SOBOLEV_FUNCTIONS))
    parser.add_argument("--n-train", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    rows = run(args.functions, args.n_train, list(range(args.seeds)))
    columns = list(rows[0])
    write_results(
        "mlp_sobolev_functions",
        "GIMLPRegressor with vs without gradients vs MLPRegressor on the Sobolev test functions",
        rows,
        columns,
        notes=(
            f"Median over {args.seeds} seeds of the test NRMSE (RMSE / std of 2,000 test values; "
            "1.0 is no better than predicting the mean). `gain_*` = baseline NRMSE / GI NRMSE "
            "(above 1: gradients win). GIMLPRegressor defaults: 64-64 tanh, L-BFGS until "
            "converged (at most 5,000 iterations), X and y standardized internally; "
            "`nrmse_GI_huber`: the same with gradient_loss='huber' (epsilon=1, standardized). "
            "`n_iter_*`: median L-BFGS iterations; `warnings_*`: fits (of the seeds) that ended "
            "with a ConvergenceWarning. One torch thread (OMP_NUM_THREADS=1). "
            "MLPRegressor_matched: the same architecture and solver, standardized X and y; "
            "MLPRegressor_default: scikit-learn's defaults."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
