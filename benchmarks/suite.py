"""The comparison suite: GI estimators against standard regressors and GI peers.

Every model gets the same training sample, seed and test set (2,000 points
drawn from the problem's domain). Models:

* ours, each with and without gradients: ``GIRidge`` on standardized
  polynomial features through ``make_gi_pipeline`` (degree by input count),
  ``GIMLPRegressor`` (defaults: 64-64 tanh, L-BFGS) and
  ``GIGaussianProcessRegressor`` (defaults: ARD squared-exponential, maximum
  likelihood); ``GIKernelRidge`` with gradients (RBF on standardized X,
  standardized y, alpha and gamma by 3-fold grid search with ``dYdX`` routed);
* scikit-learn: ``Ridge`` on the same polynomial features (alpha by
  ``RidgeCV``), ``MLPRegressor`` (64-64 tanh, L-BFGS, standardized X and y),
  ``GaussianProcessRegressor`` (anisotropic RBF + white noise, normalized y),
  ``HistGradientBoostingRegressor``;
* gradient-enhanced peers, when installed (``pip install .[peers]``; skipped
  with a message otherwise): jenn's ``NeuralNet`` (the same 64-64 tanh, with
  gradients) and SMT's ``GEKPLS`` (gradient-enhanced kriging, 1-output
  problems).

Metrics: test RMSE and NRMSE (RMSE / std of the test values), gradient RMSE
for models that predict gradients, fit and predict time, peak traced memory
of the fit with ``--memory`` (numpy/Python allocations, in a second untimed fit;
torch's CPU allocator is not traced).
Median and min-max over seeds. Writes ``suite.md`` / ``suite.csv`` and PNG
plots (error against training size; parity plots).
Run: ``python -m benchmarks.suite --problems booth runge --n-train 20 100``.
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.compose import GITransformedTargetRegressor
from sklearn_gi.datasets import get_problem, make_problem
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.pipeline import make_gi_pipeline

from . import _report

# name -> (make_problem options)
PROBLEMS = {
    "ackley": {}, "beale": {}, "booth": {}, "bukin_n6": {}, "mccormick": {}, "rosenbrock": {},
    "styblinski_tang": {}, "runge": {"n_features": 2},
    "mcdonagh_dynamic_2d": {}, "mcdonagh_regression_8d": {},
    "styblinski_tang_6d": {"n_features": 6}, "runge_8d": {"n_features": 8}, "wing_weight": {},
}
QUICK_PROBLEMS = ["rosenbrock", "runge", "styblinski_tang_6d", "wing_weight"]


def _problem_name(key):
    return {"styblinski_tang_6d": "styblinski_tang", "runge_8d": "runge"}.get(key, key)


def _degree(n_features):
    # quartic terms for up to 6 inputs (Styblinski-Tang and Rosenbrock are quartics)
    return 4 if n_features <= 6 else 2


# --------------------------------------------------------------------- models
class Model:
    """A benchmark entry: how to build, fit and query one regressor."""

    uses_gradients = False
    multi_output = True

    def __init__(self, name):
        self.name = name

    def available(self):
        return True, ""

    def fit(self, X, y, G, seed):
        raise NotImplementedError

    def predict(self, X):
        return self.estimator.predict(X)

    def predict_gradient(self, X):
        return None


class SklearnModel(Model):
    def __init__(self, name, build, uses_gradients=False, gradients=False, multi_output=True):
        super().__init__(name)
        self.build = build
        self.uses_gradients = uses_gradients
        self.has_gradients = gradients
        self.multi_output = multi_output

    def fit(self, X, y, G, seed):
        self.estimator = self.build(X.shape[1], seed)
        if self.uses_gradients:
            self.estimator.fit(X, y, dYdX=G)
        else:
            self.estimator.fit(X, y)

    def predict_gradient(self, X):
        return self.estimator.predict_gradient(X) if self.has_gradients else None


class JennModel(Model):
    uses_gradients = True

    def available(self):
        try:
            import jenn  # noqa: F401
        except ImportError:
            return False, "jenn is not installed (pip install .[peers])"
        return True, ""

    def fit(self, X, y, G, seed):
        import jenn

        Y = y.reshape(len(X), -1)
        Gk = G.reshape(len(X), Y.shape[1], X.shape[1])
        self.single = y.ndim == 1
        self.estimator = jenn.NeuralNet([X.shape[1], 64, 64, Y.shape[1]])
        self.estimator.fit(X.T, Y.T, np.transpose(Gk, (1, 2, 0)), is_normalize=True,
                           max_iter=1000, random_state=seed)

    def predict(self, X):
        out = self.estimator.predict(X.T).T
        return out[:, 0] if self.single else out

    def predict_gradient(self, X):
        partials = np.transpose(self.estimator.predict_partials(X.T), (2, 0, 1))
        return partials[:, 0, :] if self.single else partials


class GEKPLSModel(Model):
    uses_gradients = True
    multi_output = False

    def available(self):
        try:
            from smt.surrogate_models import GEKPLS  # noqa: F401
        except ImportError:
            return False, "smt is not installed (pip install .[peers])"
        return True, ""

    def fit(self, X, y, G, seed):
        from smt.surrogate_models import GEKPLS

        bounds = np.column_stack([X.min(axis=0), X.max(axis=0)])
        d = X.shape[1]
        self.estimator = GEKPLS(theta0=[1e-2] * min(2, d), xlimits=bounds, extra_points=1,
                                n_comp=min(2, d), print_global=False)
        self.estimator.set_training_values(X, y)
        for m in range(d):
            self.estimator.set_training_derivatives(X, G[:, m], m)
        self.estimator.train()

    def predict(self, X):
        return self.estimator.predict_values(X)[:, 0]

    def predict_gradient(self, X):
        return np.column_stack([self.estimator.predict_derivatives(X, m)[:, 0]
                                for m in range(X.shape[1])])


def _gi_ridge(d, seed):
    return make_gi_pipeline(StandardScaler(), PolynomialFeatures(_degree(d)), GIRidge(alpha=1e-6))


def _ridge(d, seed):
    return make_pipeline(StandardScaler(), PolynomialFeatures(_degree(d)),
                         RidgeCV(alphas=np.logspace(-8, 2, 11)))


def _mlp(d, seed):
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), activation="tanh", solver="lbfgs",
                       max_iter=1000, random_state=seed)
    return TransformedTargetRegressor(make_pipeline(StandardScaler(), mlp),
                                      transformer=StandardScaler())


def _gp(d, seed):
    kernel = ConstantKernel() * RBF(np.ones(d), (1e-2, 1e3)) + WhiteKernel(1e-6, (1e-10, 1e-1))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=2,
                                  random_state=seed)
    return make_pipeline(StandardScaler(), gp)


def _gi_gp(d, seed):
    return GIGaussianProcessRegressor(random_state=seed)


class _GIKernelRidge(SklearnModel):
    """RBF kernel ridge on values and gradients, alpha and gamma tuned by grid search."""

    def fit(self, X, y, G, seed):
        d = X.shape[1]
        model = GITransformedTargetRegressor(
            make_gi_pipeline(StandardScaler(), GIKernelRidge(kernel="rbf")),
            transformer=StandardScaler())
        grid = {"regressor__gikernelridge__alpha": [1e-8, 1e-6, 1e-4, 1e-2],
                "regressor__gikernelridge__gamma": [g / d for g in (0.03, 0.1, 0.3, 1.0)]}
        search = GridSearchCV(model, grid, cv=KFold(3, shuffle=True, random_state=seed),
                              scoring="neg_mean_squared_error")
        search.fit(X, y, dYdX=G)  # dYdX is sliced to each fold with the rows
        self.estimator = search.best_estimator_


class _HistGradientBoosting(SklearnModel):
    """One booster per output when there are several."""

    def fit(self, X, y, G, seed):
        booster = HistGradientBoostingRegressor(random_state=seed)
        self.estimator = MultiOutputRegressor(booster) if y.ndim > 1 else booster
        self.estimator.fit(X, y)


MODELS = {
    "GIRidge-poly": lambda: SklearnModel("GIRidge-poly", _gi_ridge, True, True),
    "GIRidge-poly (values only)": lambda: SklearnModel("GIRidge-poly (values only)", _gi_ridge,
                                                       False, True),
    "GIMLP": lambda: SklearnModel("GIMLP", lambda d, s: GIMLPRegressor(random_state=s), True, True),
    "GIMLP (values only)": lambda: SklearnModel(
        "GIMLP (values only)", lambda d, s: GIMLPRegressor(random_state=s), False, True),
    "GIGP": lambda: SklearnModel("GIGP", _gi_gp, True, True),
    "GIGP (values only)": lambda: SklearnModel("GIGP (values only)", _gi_gp, False, True),
    "GIKernelRidge": lambda: _GIKernelRidge("GIKernelRidge", None, True, True),
    "Ridge-poly": lambda: SklearnModel("Ridge-poly", _ridge),
    "MLPRegressor": lambda: SklearnModel("MLPRegressor", _mlp),
    "GaussianProcess": lambda: SklearnModel("GaussianProcess", _gp),
    "HistGradientBoosting": lambda: _HistGradientBoosting("HistGradientBoosting", None),
    "jenn": lambda: JennModel("jenn"),
    "SMT-GEKPLS": lambda: GEKPLSModel("SMT-GEKPLS"),
}


# -------------------------------------------------------------------- running
def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run(problems, models, n_trains, seeds, n_test=2000, progress=True, memory=False):
    """Return one row per (problem, n, model, seed) and the parity data.

    With ``memory``, each model is fitted a second time under ``tracemalloc``
    for its peak memory, so that tracing does not slow the timed fit.
    """
    entries = [MODELS[name]() for name in models]
    active = []
    for entry in entries:
        ok, why = entry.available()
        if ok:
            active.append(entry)
        else:
            print(f"  skipping {entry.name}: {why}")
    jobs = [(p, n, s) for p in problems for n in n_trains for s in seeds]
    bar = _progress(len(jobs) * len(active), progress)
    rows, parity = [], {}
    for key, n, seed in jobs:
        options = PROBLEMS[key]
        problem = get_problem(_problem_name(key), **options)
        X_test = problem.sample(n_test, random_state=12345)
        y_test, G_test = problem.value(X_test), problem.gradient(X_test)
        X, y, G = make_problem(_problem_name(key), n, random_state=seed, **options)
        for entry in active:
            bar.set_postfix_str(f"{key} n={n} {entry.name}"[:40])
            row = {"problem": key, "n_features": X.shape[1], "n_train": n, "seed": seed,
                   "model": entry.name}
            if y.ndim > 1 and not entry.multi_output:
                bar.update()
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    warnings.simplefilter("ignore", UserWarning)
                    row["fit_peak_MiB"] = np.nan
                    if memory:
                        tracemalloc.start()
                        entry.fit(X, y, G, seed)
                        row["fit_peak_MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
                        tracemalloc.stop()
                    start = time.perf_counter()
                    entry.fit(X, y, G, seed)
                    row["fit_s"] = time.perf_counter() - start
                    start = time.perf_counter()
                    pred = entry.predict(X_test)
                    row["predict_s"] = time.perf_counter() - start
                    grad = entry.predict_gradient(X_test)
            except Exception as exc:  # a peer failing on a problem is a result, not a crash
                if tracemalloc.is_tracing():
                    tracemalloc.stop()
                print(f"  {entry.name} failed on {key} n={n}: {type(exc).__name__}: {exc}")
                bar.update()
                continue
            row["rmse"] = _rmse(pred, y_test)
            row["nrmse"] = row["rmse"] / float(np.std(y_test))
            row["grad_rmse"] = np.nan if grad is None else _rmse(grad, G_test)
            rows.append(row)
            if seed == seeds[0]:
                parity[(key, n, entry.name)] = (np.ravel(y_test)[:500], np.ravel(pred)[:500])
            bar.update()
    bar.close()
    return rows, parity


def _progress(total, enabled):
    try:
        from tqdm import tqdm

        return tqdm(total=total, disable=not enabled, unit="fit", dynamic_ncols=True)
    except ImportError:  # the bench extra installs tqdm; without it, no bar
        class _Silent:
            def update(self, *a):
                pass

            def set_postfix_str(self, *a):
                pass

            def close(self):
                pass

        return _Silent()


def summarize(rows):
    """Median and min-max over seeds, one row per (problem, n, model)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["problem"], row["n_train"], row["model"]), []).append(row)
    table = []
    for (problem, n, model), items in groups.items():
        out = {"problem": problem, "d": items[0]["n_features"], "n_train": n, "model": model,
               "seeds": len(items)}
        for key in ("nrmse", "rmse", "grad_rmse", "fit_s", "predict_s", "fit_peak_MiB"):
            values = np.array([r[key] for r in items], dtype=float)
            out[key] = float(np.median(values))
            if key == "nrmse":
                out["nrmse_min"], out["nrmse_max"] = float(values.min()), float(values.max())
        table.append(out)
    return table


def plot(table, parity, out_dir, prefix="suite"):
    """Error against training size per problem, and parity plots; returns the PNG paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  matplotlib missing: no plots (pip install .[bench])")
        return []
    problems = sorted({r["problem"] for r in table})
    paths = []
    fig, axes = plt.subplots(1, len(problems), figsize=(4 * len(problems), 3.5), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for model in sorted({r["model"] for r in table if r["problem"] == problem}):
            pts = sorted((r["n_train"], r["nrmse"]) for r in table
                         if r["problem"] == problem and r["model"] == model)
            style = "-" if "values only" not in model else "--"
            ax.plot(*zip(*pts), style, marker="o", label=model)
        ax.set(xscale="log", yscale="log", title=problem, xlabel="n_train", ylabel="test NRMSE")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    paths.append(out_dir / f"{prefix}_error_vs_n.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)
    keys = sorted(parity)
    if keys:
        largest_n = max(k[1] for k in keys)
        keys = [k for k in keys if k[1] == largest_n]
        models = sorted({k[2] for k in keys})
        fig, axes = plt.subplots(len(problems), len(models), squeeze=False,
                                 figsize=(2.2 * len(models), 2.2 * len(problems)))
        for i, problem in enumerate(problems):
            for j, model in enumerate(models):
                ax = axes[i][j]
                if (problem, largest_n, model) in parity:
                    truth, pred = parity[(problem, largest_n, model)]
                    ax.scatter(truth, pred, s=2)
                    lims = [truth.min(), truth.max()]
                    ax.plot(lims, lims, "k-", lw=0.5)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(model, fontsize=7)
                if j == 0:
                    ax.set_ylabel(problem, fontsize=7)
        fig.suptitle(f"parity (truth vs prediction), n={largest_n}")
        fig.tight_layout()
        paths.append(out_dir / f"{prefix}_parity.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths


# sklearn-gi models fitted with gradients
GI_MODELS = ("GIRidge-poly", "GIMLP", "GIGP", "GIKernelRidge")


def headline(table):
    """Per problem and n: NRMSE of each model relative to the best GI model."""
    lines = []
    for problem, n in sorted({(r["problem"], r["n_train"]) for r in table}):
        rows = {r["model"]: r["nrmse"] for r in table if r["problem"] == problem and r["n_train"] == n}
        ours = {k: v for k, v in rows.items() if k in GI_MODELS}
        if not ours:
            continue
        best_name = min(ours, key=ours.get)
        others = ", ".join(f"{k} {v / ours[best_name]:.2g}x" for k, v in sorted(rows.items())
                           if k not in ours)
        lines.append(f"- {problem} n={n}: best GI = {best_name} (NRMSE {ours[best_name]:.3g}); "
                     f"others' NRMSE relative to it: {others}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS))
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--n-train", nargs="+", type=int)
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--quick", action="store_true", help="small default (a minute or two)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--name", default="suite", help="file name of the table and plots")
    parser.add_argument("--memory", action="store_true",
                        help="also trace each fit's peak memory (a second, untimed fit)")
    args = parser.parse_args(argv)
    problems = args.problems or (QUICK_PROBLEMS if args.quick else list(PROBLEMS))
    models = args.models or list(MODELS)
    n_trains = args.n_train or [20, 100]
    seeds = list(range(args.seeds or (1 if args.quick else 2)))
    rows, parity = run(problems, models, n_trains, seeds, progress=not args.no_progress,
                       memory=args.memory)
    table = summarize(rows)
    columns = ["problem", "d", "n_train", "model", "seeds", "nrmse", "nrmse_min", "nrmse_max",
               "rmse", "grad_rmse", "fit_s", "predict_s", "fit_peak_MiB"]
    out_dir = _report._results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = plot(table, parity, out_dir, prefix=args.name)
    notes = (
        f"Median over {len(seeds)} seed(s) (min-max of NRMSE beside it); NRMSE = test RMSE / "
        "std of 2,000 test values (1.0 = predicting the mean). grad_rmse only for models that "
        "predict gradients. fit_peak_MiB (with --memory) traces numpy/Python allocations in a "
        "second, untimed fit (not torch's allocator).\n\n"
        + headline(table)
        + ("\n\nPlots: " + ", ".join(p.name for p in paths) if paths else "")
    )
    _report.write_results(args.name, "GI estimators vs standard regressors and GI peers", table,
                          columns, notes=notes)
    print("\nHeadline (NRMSE of each model relative to the best GI model):\n" + headline(table))
    return table


if __name__ == "__main__":
    main()
