"""HSICSearchCV against RandomizedSearchCV at the same budget of fits.

Novello et al. (2023) claim their HSIC-guided search gives networks "both
competitive and cost-effective". Three tasks, as in their paper's list
(scaled down for two CPU cores):

``runge``    GIMLPRegressor with dYdX on Runge's function in 2-D (60 training points).
``bateman``  GIMLPRegressor with dYdX on the Bateman decay chain (3 rates -> 12 amounts, 60 points).
``digits``   scikit-learn's MLPClassifier on load_digits (600 training images).

Space: width (randint 4-64), depth (1-3), activation, solver (lbfgs/adam),
learning rate and alpha (log-uniform), gradient_weight (log-uniform, GI
only) and ``dummy``, a hyperparameter that changes nothing (uniform). Both
searches get ``--n-iter`` candidates (HSICSearchCV: at most, over
``--n-rounds`` rounds), the same folds, and refit the best. Reported per
task and method, median over ``--seeds`` seeds: test error (RMSE, or
1 - accuracy), the chosen network's parameter count, its refit time, the
search's wall time and fits, and the dummy's round-0 p-value (HSICSearchCV)
or its p-value over the whole RandomizedSearchCV (``hsic_importance``).
Optuna's TPE is the optional peer (``OptunaTPE``) when optuna imports: a
study with ``TPESampler(seed=seed)`` asking ``--n-iter`` trials, each scored
by ``cross_val_score`` on the same folds, then the best refit on all the
training data (the same number of candidates and fits).

Run: ``python -m benchmarks.hsic_search [--quick] [--seeds 5] [--n-iter 36] [--n-rounds 3]
[--quantile 0.2] [--n-confirm 2]``.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier

from sklearn_gi.datasets import make_problem
from sklearn_gi.inspection import hsic_importance
from sklearn_gi.model_selection import HSICSearchCV
from sklearn_gi.neural_network import GIMLPRegressor

from . import _report


def n_parameters(n_in, width, depth, n_out):
    return n_in * width + width + (depth - 1) * (width * width + width) + width * n_out + n_out


class GINet(RegressorMixin, BaseEstimator):
    """GIMLPRegressor with width and depth as separate hyperparameters (and a dummy)."""

    def __init__(self, width=16, depth=2, activation="tanh", solver="lbfgs",
                 learning_rate_init=1e-3, alpha=0.0, gradient_weight=1.0, dummy=0.0,
                 max_iter=200, random_state=0):
        self.width, self.depth, self.activation, self.solver = width, depth, activation, solver
        self.learning_rate_init, self.alpha, self.gradient_weight = (learning_rate_init, alpha,
                                                                     gradient_weight)
        self.dummy, self.max_iter, self.random_state = dummy, max_iter, random_state

    def fit(self, X, y, dYdX=None):
        self.model_ = GIMLPRegressor(
            (self.width,) * self.depth, activation=self.activation, solver=self.solver,
            learning_rate_init=self.learning_rate_init, alpha=self.alpha,
            gradient_weight=self.gradient_weight, max_iter=self.max_iter,
            random_state=self.random_state, n_threads=1,
        ).fit(X, y, dYdX=dYdX)
        return self

    def predict(self, X):
        return self.model_.predict(X)


class Net(ClassifierMixin, BaseEstimator):
    """MLPClassifier with width and depth as separate hyperparameters (and a dummy)."""

    def __init__(self, width=16, depth=2, activation="relu", solver="adam",
                 learning_rate_init=1e-3, alpha=1e-4, dummy=0.0, max_iter=50, random_state=0):
        self.width, self.depth, self.activation, self.solver = width, depth, activation, solver
        self.learning_rate_init, self.alpha = learning_rate_init, alpha
        self.dummy, self.max_iter, self.random_state = dummy, max_iter, random_state

    def fit(self, X, y):
        self.model_ = MLPClassifier(
            (self.width,) * self.depth, activation=self.activation, solver=self.solver,
            learning_rate_init=self.learning_rate_init, alpha=self.alpha,
            max_iter=self.max_iter, random_state=self.random_state,
        ).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        return self.model_.predict(X)


def _space(gi):
    space = {"width": randint(4, 65), "depth": randint(1, 4),
             "activation": ["tanh", "relu"] if gi else ["tanh", "relu", "logistic"],
             "solver": ["lbfgs", "adam"], "learning_rate_init": loguniform(1e-4, 1e-1),
             "alpha": loguniform(1e-7, 1e-1), "dummy": uniform(0, 1)}
    if gi:
        space["gradient_weight"] = loguniform(1e-2, 1e1)
    return space


def task(name, quick):
    """Training and test data, the estimator, its scoring and folds."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        rng = np.random.default_rng(0)
        order = rng.permutation(len(X))
        n_train = 300 if quick else 600
        train, test = order[:n_train], order[n_train:]
        return dict(X=X[train], y=y[train], X_test=X[test], y_test=y[test], fit_params={},
                    estimator=Net(max_iter=10 if quick else 50), scoring="accuracy",
                    cv=StratifiedKFold(3, shuffle=True, random_state=0), n_out=10,
                    space=_space(False))
    n_train = 30 if quick else 60
    params = {"n_features": 2} if name == "runge" else {}
    X, y, G = make_problem(name, n_train, random_state=0, **params)
    X_test, y_test, _ = make_problem(name, 1000, random_state=1, **params)
    return dict(X=X, y=y, X_test=X_test, y_test=y_test, fit_params={"dYdX": G},
                estimator=GINet(max_iter=20 if quick else 200),
                scoring="neg_root_mean_squared_error",
                cv=KFold(3, shuffle=True, random_state=0), n_out=1 if y.ndim == 1 else y.shape[1],
                space=_space(True))


def _optuna():
    """optuna, or None when it is not installed (the TPE peer is then left out)."""
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _suggest(trial, name, dist):
    """The optuna suggestion of one ``param_distributions`` entry (the same space)."""
    if isinstance(dist, list):
        return trial.suggest_categorical(name, dist)
    family = dist.dist.name
    lo, hi = dist.support()
    if family == "randint":
        return trial.suggest_int(name, int(lo), int(hi))
    if family in ("loguniform", "reciprocal"):
        return trial.suggest_float(name, float(lo), float(hi), log=True)
    if family == "uniform":
        return trial.suggest_float(name, float(lo), float(hi))
    raise ValueError(f"no optuna suggestion for {family!r}")


class OptunaTPESearch:
    """An ``OptunaSearchCV``-like loop: TPE over ``n_iter`` trials, then refit the best."""

    def __init__(self, estimator, space, *, n_iter, scoring, cv, random_state):
        self.estimator, self.space, self.n_iter = estimator, space, n_iter
        self.scoring, self.cv, self.random_state = scoring, cv, random_state

    def fit(self, X, y, **fit_params):
        optuna = _optuna()
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.random_state))
        scores, params = [], []

        def objective(trial):
            candidate = {name: _suggest(trial, name, dist) for name, dist in self.space.items()}
            est = clone(self.estimator).set_params(**candidate)
            score = float(np.mean(cross_val_score(est, X, y, scoring=self.scoring, cv=self.cv,
                                                  params=fit_params)))
            scores.append(score)
            params.append(candidate)
            return score

        study.optimize(objective, n_trials=self.n_iter)
        self.best_params_ = study.best_params
        self.best_score_ = float(study.best_value)
        self.cv_results_ = {"params": params, "mean_test_score": np.asarray(scores)}
        start = time.perf_counter()
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(
            X, y, **fit_params)
        self.refit_time_ = time.perf_counter() - start
        return self


def _test_error(search, data):
    pred = search.best_estimator_.predict(data["X_test"])
    if data["scoring"] == "accuracy":
        return float(np.mean(pred != data["y_test"]))
    return float(np.sqrt(np.mean((pred - data["y_test"]) ** 2)))


def run_one(name, data, method, seed, n_iter, n_rounds, n_permutations, quantile=0.2,
            n_confirm=2):
    common = dict(scoring=data["scoring"], cv=data["cv"], random_state=seed)
    if method == "HSICSearchCV":
        search = HSICSearchCV(data["estimator"], data["space"], n_iter=n_iter, n_rounds=n_rounds,
                              quantile=quantile, n_confirm=n_confirm,
                              n_permutations=n_permutations, **common)
    elif method == "OptunaTPE":
        search = OptunaTPESearch(data["estimator"], data["space"], n_iter=n_iter, **common)
    else:
        search = RandomizedSearchCV(data["estimator"], data["space"], n_iter=n_iter, **common)
    start = time.perf_counter()
    search.fit(data["X"], data["y"], **data["fit_params"])
    wall = time.perf_counter() - start
    best = search.best_params_
    if method == "HSICSearchCV":
        # the last table: every candidate of every round pooled, permuted within rounds
        dummy = search.hsic_history_[-1].set_index("param").pvalue["dummy"]
        fixed = ",".join(sorted(search.fixed_params_)) or "-"
    elif method == "OptunaTPE":
        dummy, fixed = np.nan, "-"  # TPE's trials are not an i.i.d. sample: no HSIC test
    else:
        table = hsic_importance(search, quantile=0.2, n_permutations=n_permutations,
                                random_state=seed).set_index("param")
        dummy = table.pvalue["dummy"]
        fixed = "-"
    return {
        "task": name, "method": method, "seed": seed,
        "test_error": _test_error(search, data),
        "cv_score": float(search.best_score_),
        "n_params": n_parameters(data["X"].shape[1], best["width"], best["depth"], data["n_out"]),
        "width": int(best["width"]), "depth": int(best["depth"]),
        "refit_s": float(search.refit_time_), "search_s": wall,
        "n_fits": len(search.cv_results_["params"]) * data["cv"].get_n_splits(),
        "dummy_pvalue": float(dummy), "fixed": fixed,
    }


def summarise(rows, tasks, methods):
    summary = []
    for name in tasks:
        for method in methods:
            runs = [r for r in rows if r["task"] == name and r["method"] == method]
            med = {k: float(np.median([r[k] for r in runs]))
                   for k in ("test_error", "cv_score", "n_params", "refit_s", "search_s",
                             "n_fits")}
            summary.append({
                "task": name, "method": method, "seeds": len(runs), **med,
                "dummy_p_min": float(min(r["dummy_pvalue"] for r in runs)),
                "dummy_found_non_influential": ("-" if np.isnan(runs[0]["dummy_pvalue"]) else
                                                sum(r["dummy_pvalue"] > 0.05 for r in runs)),
            })
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=["runge", "bateman", "digits"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-iter", type=int, default=36)
    parser.add_argument("--n-rounds", type=int, default=3)
    parser.add_argument("--n-permutations", type=int, default=500)
    parser.add_argument("--quantile", type=float, default=0.2)
    parser.add_argument("--n-confirm", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny budgets, one seed: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.n_iter, args.n_rounds, args.n_permutations = 1, 8, 2, 50
        if _report._results_dir == _report.RESULTS:  # leave the committed table alone
            _report.set_results_dir(_report.QUICK_RESULTS)
    torch.set_num_threads(1)
    methods = ["HSICSearchCV", "RandomizedSearchCV"]
    tpe = _optuna()
    if tpe is not None:
        methods.append("OptunaTPE")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        for name in args.tasks:
            data = task(name, args.quick)
            for seed in range(args.seeds):
                for method in methods:
                    row = run_one(name, data, method, seed, args.n_iter, args.n_rounds,
                                  args.n_permutations, args.quantile, args.n_confirm)
                    rows.append(row)
                    print(f"{name} {method} seed {seed}: error {row['test_error']:.4g}, "
                          f"{row['n_params']} params, {row['search_s']:.1f} s", flush=True)
    summary = summarise(rows, args.tasks, methods)
    notes = (
        f"Budget: n_iter={args.n_iter} candidates x 3 folds per search (HSICSearchCV: "
        f"{args.n_rounds} rounds, quantile {args.quantile}, alpha_level 0.05, n_confirm "
        f"{args.n_confirm}, {args.n_permutations} permutations); median over {args.seeds} seeds "
        "(seed = the searches' random_state; the data and folds are fixed). test_error: RMSE on "
        "1000 test points (runge, bateman; bateman averages the 12 outputs) or 1 - accuracy on "
        "the 1197 other digits (one image is 0.00084). cv_score: the chosen candidate's mean CV "
        "score, what the searches maximise "
        "(negative RMSE, or accuracy). n_params: "
        "weights and biases of the chosen network; refit_s: its refit time; search_s: the "
        "whole search. dummy_p_min: smallest p-value of the dummy hyperparameter over the "
        "seeds (HSICSearchCV: its last table, all candidates pooled and permuted within rounds; "
        "RandomizedSearchCV: hsic_importance of all its candidates, quantile 0.2; OptunaTPE: "
        "none, its trials are not an i.i.d. sample). Per-seed rows: `hsic_search_runs.csv` "
        "(`fixed`: the hyperparameters HSICSearchCV fixed). "
        + (f"OptunaTPE: optuna {tpe.__version__}, TPESampler(seed=seed), default settings. "
           if tpe is not None else "Optuna (TPE) is not installed, so not compared. ")
        + "Threads: OMP_NUM_THREADS=1 and torch.set_num_threads(1). "
        "Reproduce: `OMP_NUM_THREADS=1 python -m benchmarks.hsic_search`."
    )
    _report.write_results("hsic_search_runs", "HSICSearchCV vs RandomizedSearchCV (and TPE): every run",
                          rows, list(rows[0]), notes=notes)
    _report.write_results("hsic_search", "HSICSearchCV vs RandomizedSearchCV (and TPE) at equal budget",
                          summary, list(summary[0]), notes=notes)
    return summary


if __name__ == "__main__":
    main()
