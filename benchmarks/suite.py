"""The comparison suite: GI estimators against standard regressors and GI peers.

Every model gets the same training sample, seed and test set (2,000 points
drawn from the problem's domain). Models:

* ours, each with and without gradients: ``GIRidge`` on standardized
  polynomial features through ``make_gi_pipeline`` (degree by input count),
  ``GIMLPRegressor`` (defaults: 64-64 tanh, L-BFGS) and
  ``GIGaussianProcessRegressor`` (defaults: sum of a long- and a short-scale ARD
  squared-exponential, maximum likelihood); ``GIKernelRidge`` with gradients (RBF on standardized X,
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
plots (error against training size; parity plots). The report defines NRMSE,
names the winner of each (problem, n) and where gradients help or hurt, caps
ratios at a noise floor (``NOISE_FLOOR``: below it, errors are rounding), drops
empty columns and lists each model's configuration.
Run: ``python -m benchmarks.suite --problems booth runge --n-train 20 100``.
``--from-csv benchmarks/results/suite.csv`` runs nothing and rebuilds the
Markdown and the error plot from the committed rows (the parity plot needs the
predictions of a run, so the committed ``suite_parity.png`` is kept as it was).
"""

import argparse
import time
from pathlib import Path
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


# NRMSE below this is rounding level (float64 solves of these sizes): two such errors are
# both "exact", and ratios between them are capped at it
NOISE_FLOOR = 1e-6
# gradients help (hurt) a model when its NRMSE with dYdX is this factor lower (higher) than
# without, and the two min-max ranges over seeds do not overlap
HELP_FACTOR = 1.1
# NRMSE of predicting the test mean: a model at or above it has not "been helped" by anything
MEAN_NRMSE = 1.0

# sklearn-gi models fitted with gradients, and their values-only twins
GI_MODELS = ("GIRidge-poly", "GIMLP", "GIGP", "GIKernelRidge")
VALUES_ONLY = {m: f"{m} (values only)" for m in ("GIRidge-poly", "GIMLP", "GIGP")}

CONFIGURATIONS = {
    "GIRidge-poly": "StandardScaler -> PolynomialFeatures(degree 4 for d<=6 else 2) -> "
                    "GIRidge(alpha=1e-6), fixed (make_gi_pipeline), with dYdX",
    "GIRidge-poly (values only)": "the same pipeline, fit(X, y) without dYdX",
    "GIMLP": "GIMLPRegressor defaults: 64-64 tanh, full-batch L-BFGS, standardized X, y and "
             "dYdX, with dYdX",
    "GIMLP (values only)": "the same network, fit(X, y) without dYdX",
    "GIGP": "GIGaussianProcessRegressor defaults: long- plus short-scale ARD squared-exponential, "
            "hyperparameters by "
            "maximum likelihood, with dYdX",
    "GIGP (values only)": "the same GP, fit(X, y) without dYdX",
    "GIKernelRidge": "StandardScaler -> GIKernelRidge(rbf), standardized y, alpha in {1e-8..1e-2} "
                     "and gamma in {0.03..1}/d by 3-fold GridSearchCV, with dYdX",
    "Ridge-poly": "StandardScaler -> PolynomialFeatures(as GIRidge-poly) -> "
                  "RidgeCV(alphas 1e-8..1e2), values only",
    "MLPRegressor": "scikit-learn MLPRegressor 64-64 tanh, L-BFGS, max_iter=1000, standardized "
                    "X and y, values only",
    "GaussianProcess": "scikit-learn GaussianProcessRegressor, Constant * anisotropic RBF + "
                       "White, normalize_y, 2 restarts, standardized X, values only",
    "HistGradientBoosting": "scikit-learn HistGradientBoostingRegressor defaults (one per "
                            "output), values only",
    "jenn": "jenn NeuralNet 64-64 tanh, normalized, max_iter=1000, with dYdX",
    "SMT-GEKPLS": "SMT GEKPLS, 2 PLS components, extra_points=1, theta0=1e-2, with dYdX "
                  "(1-output problems only)",
}

COLUMNS = ["problem", "d", "n_train", "model", "seeds", "nrmse", "nrmse_min", "nrmse_max",
           "rmse", "grad_rmse", "fit_s", "predict_s", "fit_peak_MiB"]
TITLE = "GI estimators vs standard regressors and GI peers"

# 13 distinct colours (tab10 + 3) and markers; a model keeps its style in every panel
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8", "#98df8a"]
_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p", "d"]


def _style(model, models):
    # by the model's place in MODELS, so that it keeps its style in every plot
    names = list(MODELS) + [m for m in models if m not in MODELS]
    i = names.index(model) % len(_COLOURS)
    return {"color": _COLOURS[i], "marker": _MARKERS[i],
            "linestyle": "--" if "values only" in model else "-"}


def _model_order(table):
    known = [m for m in MODELS if any(r["model"] == m for r in table)]
    return known + sorted({r["model"] for r in table} - set(known))


def plot(table, parity, out_dir, prefix="suite"):
    """Error against training size per problem, and parity plots; returns the PNG paths.

    ``parity`` (from :func:`run`) may be None: the plots that need only the
    summary table are drawn from it (e.g. from a committed CSV)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    except ImportError:
        print("  matplotlib missing: no plots (pip install .[bench])")
        return []
    out_dir = Path(out_dir)
    problems = sorted({r["problem"] for r in table})
    models = _model_order(table)
    n_values = sorted({r["n_train"] for r in table})
    paths = []
    ncols = min(4, len(problems))
    nrows = -(-len(problems) // ncols)
    width = max(3.6 * ncols, 9.0)  # room for the title and the legend with few panels
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 3.0 * nrows + 1.0), squeeze=False)
    offsets = np.linspace(-0.12, 0.12, len(models))  # spread the markers at each n
    for ax, problem in zip(axes.flat, problems):
        low, high = np.inf, 0.0
        for k, model in enumerate(models):
            rows = sorted((r for r in table if r["problem"] == problem and r["model"] == model),
                          key=lambda r: r["n_train"])
            if not rows:
                continue
            x = np.array([r["n_train"] for r in rows], float) * np.exp(offsets[k])
            # below the floor an error is rounding: drawn at half the floor
            y = np.maximum([r["nrmse"] for r in rows], NOISE_FLOOR / 2)
            lo = np.maximum([r.get("nrmse_min", r["nrmse"]) for r in rows], NOISE_FLOOR / 2)
            hi = np.maximum([r.get("nrmse_max", r["nrmse"]) for r in rows], NOISE_FLOOR / 2)
            low, high = min(low, lo.min()), max(high, hi.max())
            style = _style(model, models)
            ax.plot(x, y, markersize=5, lw=1.2, **style)
            if np.any(hi > lo):
                ax.fill_between(x, lo, hi, color=style["color"], alpha=0.12, lw=0)
                ax.vlines(x, lo, hi, color=style["color"], lw=0.8)
        if low < 10 * NOISE_FLOOR:
            ax.axhline(NOISE_FLOOR, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(low / 2.5, high * 2.5)
        if high / low < 30:  # under ~1.5 decades: label 2 and 5 times the powers of ten too
            ax.yaxis.set_minor_formatter(FuncFormatter(
                lambda v, _: f"{v:g}" if round(v / 10 ** np.floor(np.log10(v))) in (2, 5) else ""))
        ax.xaxis.set_major_locator(FixedLocator(n_values))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(n) for n in n_values])
        ax.set_xlim(n_values[0] / 1.5, n_values[-1] * 1.5)
        d = next(r["d"] for r in table if r["problem"] == problem)
        ax.set_title(f"{problem} (d={d})", fontsize=10)
        ax.grid(True, which="major", axis="y", alpha=0.3)
        ax.set_xlabel("training samples n")
        ax.set_ylabel("test NRMSE (log)")
    empty = list(axes.flat)[len(problems):]
    for ax in empty:
        ax.set_visible(False)
    handles = [Line2D([], [], markersize=6, lw=1.2, **_style(m, models)) for m in models]
    handles.append(Line2D([], [], color="0.5", lw=0.8, ls=":"))
    labels = models + [f"noise floor {NOISE_FLOOR:g}:\nbelow it = exact, drawn at {NOISE_FLOOR / 2:g}"]
    seeds = max(int(r["seeds"]) for r in table)
    fig.suptitle(f"Test NRMSE (RMSE / std of the test values; 1 = predicting the mean) against n\n"
                 f"median of {seeds} seed(s)" + (", bars and bands min-max" if seeds > 1 else "")
                 + "; dashed = values only", fontsize=11)
    if empty:  # the legend fills the unused panels, away from the data
        fig.tight_layout(rect=(0, 0, 1, 0.96))
        boxes = [ax.get_position() for ax in empty]
        x0, x1 = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
        y0, y1 = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
        fig.legend(handles, labels, loc="center", bbox_to_anchor=((x0 + x1) / 2, (y0 + y1) / 2),
                   ncol=max(1, min(3, len(empty))), fontsize=9, frameon=False)
    else:
        ncol = min(len(labels), max(2, int(width / 2.2)))
        fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
        legend_rows = -(-len(labels) // ncol)
        fig.tight_layout(rect=(0, 0.02 + 0.3 * legend_rows / (3.0 * nrows + 1.0), 1, 0.95))
    paths.append(out_dir / f"{prefix}_error_vs_n.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    keys = sorted(parity or {})
    if keys:
        largest_n = max(k[1] for k in keys)
        keys = [k for k in keys if k[1] == largest_n]
        pmodels = [m for m in models if any(k[2] == m for k in keys)]
        fig, axes = plt.subplots(len(problems), len(pmodels), squeeze=False,
                                 figsize=(1.9 * len(pmodels) + 0.6, 1.9 * len(problems) + 0.8))
        for i, problem in enumerate(problems):
            for j, model in enumerate(pmodels):
                ax = axes[i][j]
                if (problem, largest_n, model) in parity:
                    truth, pred = parity[(problem, largest_n, model)]
                    ax.scatter(truth, pred, s=2, color=_style(model, models)["color"])
                    lims = [truth.min(), truth.max()]
                    ax.plot(lims, lims, "k-", lw=0.5)
                    ax.set_xlim(lims)
                    ax.set_ylim(lims[0] - 0.1 * np.ptp(lims), lims[1] + 0.1 * np.ptp(lims))
                    # every panel of a row spans the same true range: label its two ends
                    ax.set_xticks(lims, [f"{v:.3g}" for v in lims], fontsize=6)
                    ax.set_yticks(lims, [f"{v:.3g}" for v in lims] if j == 0 else [], fontsize=6)
                else:
                    ax.set_xticks([])
                    ax.set_yticks([])
                if i == 0:
                    ax.set_title(model, fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{problem}\npredicted", fontsize=7)
                if i == len(problems) - 1:
                    ax.set_xlabel("true value", fontsize=7)
        fig.suptitle(f"parity: prediction (vertical) against truth (horizontal) on test points, "
                     f"n={largest_n}, first seed\nblack line = exact; ticks at the ends of the true range",
                     fontsize=9)
        # leave room for the two-line title above the panel titles
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (1.9 * len(problems) + 0.8)))
        paths.append(out_dir / f"{prefix}_parity.png")
        fig.savefig(paths[-1], dpi=90)
        plt.close(fig)
    return paths


def _capped(v):
    return max(float(v), NOISE_FLOOR)


def _ratio(a, b):
    """a / b with both capped at the noise floor, formatted."""
    r = _capped(a) / _capped(b)
    return f"{r:.2g}x"


def _gradient_effect(cells):
    """(helps, hurts, worse_than_mean): "model factor" strings, each GI model against its values-only twin.

    A model whose error the gradients lower but which still does no better than
    predicting the mean (NRMSE >= ``MEAN_NRMSE``) is not helped: it is listed in
    ``worse_than_mean``."""
    def lo(r):
        return _capped(r.get("nrmse_min", r["nrmse"]))

    def hi(r):
        return _capped(r.get("nrmse_max", r["nrmse"]))

    helps, hurts, worse_than_mean = [], [], []
    for gi, plain in VALUES_ONLY.items():
        if gi in cells and plain in cells:
            a, b = cells[gi], cells[plain]
            gain = _capped(b["nrmse"]) / _capped(a["nrmse"])
            apart = hi(a) < lo(b) or hi(b) < lo(a)
            if gain >= HELP_FACTOR and apart and a["nrmse"] >= MEAN_NRMSE:
                worse_than_mean.append(f"{gi} (NRMSE {a['nrmse']:.3g} with, {b['nrmse']:.3g} without)")
            elif gain >= HELP_FACTOR and apart:
                helps.append(f"{gi} {gain:.2g}x")
            elif gain <= 1 / HELP_FACTOR and apart:
                hurts.append(f"{gi} {1 / gain:.2g}x worse")
    return helps, hurts, worse_than_mean


def _cells(table):
    out = {}
    for r in table:
        if np.isfinite(r["nrmse"]):
            out.setdefault((r["problem"], r["n_train"]), {})[r["model"]] = r
    return dict(sorted(out.items()))


def hurts_summary(table):
    """Where fitting the gradients made a model worse, one entry per (problem, n)."""
    items = []
    for (problem, n), cells in _cells(table).items():
        hurts = _gradient_effect(cells)[1]
        if hurts:
            items.append(f"{problem} n={n} ({', '.join(hurts)})")
    return "; ".join(items) if items else "nowhere"


def headline(table):
    """Per problem and n: the overall winner, the best GI model, and where gradients help or hurt.

    NRMSE at or below ``NOISE_FLOOR`` counts as the floor: models there tie
    (exact), and no ratio exceeds what the floor allows."""
    lines = []
    for problem, n in sorted({(r["problem"], r["n_train"]) for r in table}):
        cells = {r["model"]: r for r in table if r["problem"] == problem and r["n_train"] == n
                 and np.isfinite(r["nrmse"])}
        rows = {k: r["nrmse"] for k, r in cells.items()}
        if not rows:
            continue
        ranked = sorted(rows, key=rows.get)
        winner = ranked[0]
        exact = [m for m in ranked if rows[m] <= NOISE_FLOOR]
        if len(exact) > 1:
            win = f"exact (NRMSE <= {NOISE_FLOOR:g}): " + ", ".join(exact)
        else:
            runners = ", ".join(f"{m} {_ratio(rows[m], rows[winner])}" for m in ranked[1:3])
            win = f"winner {winner} (NRMSE {rows[winner]:.3g}); next: {runners}"
        ours = [m for m in ranked if m in GI_MODELS]
        if ours and ours[0] != winner and ours[0] not in exact:
            win += f"; best GI {ours[0]} at {_ratio(rows[ours[0]], rows[winner])}"
        helps, hurts, worse_than_mean = _gradient_effect(cells)
        effect = "; gradients help " + (", ".join(helps) if helps else "none")
        if hurts:
            effect += "; gradients HURT " + ", ".join(hurts)
        if worse_than_mean:
            effect += ("; lower error with gradients but still worse than the mean: "
                       + ", ".join(worse_than_mean))
        lines.append(f"- {problem} n={n}: {win}{effect}")
    return "\n".join(lines)


def wins(table):
    """How often each model is the overall winner or tied exact, over (problem, n)."""
    counts = {}
    for problem, n in sorted({(r["problem"], r["n_train"]) for r in table}):
        rows = {r["model"]: _capped(r["nrmse"]) for r in table
                if r["problem"] == problem and r["n_train"] == n and np.isfinite(r["nrmse"])}
        if rows:
            best = min(rows.values())
            for m, v in rows.items():
                if v == best:
                    counts[m] = counts.get(m, 0) + 1
    return ", ".join(f"{m} {c}" for m, c in sorted(counts.items(), key=lambda kv: -kv[1]))


def notes(table, plot_names=(), parity_note=""):
    """The explanation printed above the table and written into the Markdown."""
    seeds = sorted({int(r["seeds"]) for r in table})
    seed_text = "/".join(map(str, seeds))
    models = _model_order(table)
    text = [
        "Metric: NRMSE = test RMSE / standard deviation of the 2,000 test values (0 = exact, "
        "1.0 = no better than predicting the mean); lower is better. "
        f"nrmse is the median over {seed_text} seed(s)"
        + (", nrmse_min/nrmse_max the range over seeds" if max(seeds) > 1 else "")
        + ". rmse is in the target's units; grad_rmse is the RMSE of predicted gradients "
        "(models that predict them); fit_s and predict_s are wall seconds"
        + (" and fit_peak_MiB the traced numpy/Python peak of a second, untimed fit (not "
           "torch's allocator)" if any(np.isfinite(r.get("fit_peak_MiB", np.nan)) for r in table)
           else "") + ".",
        f"Noise floor: NRMSE at or below {NOISE_FLOOR:g} is rounding level (exact); such models "
        "tie, and ratios are computed with both errors raised to the floor. Gradients help (or "
        f"hurt) when a model's NRMSE with dYdX is at least {HELP_FACTOR:g}x lower (higher) than "
        "the same model's without"
        + (" and their min-max ranges over seeds do not overlap" if max(seeds) > 1 else "")
        + "; 'gradients HURT' marks where fitting the gradients made a model worse. A model "
        f"at or above NRMSE {MEAN_NRMSE:g} (no better than the mean) is never counted as helped.",
        "Wins (best NRMSE or tied exact, per problem and n): " + wins(table) + ".",
        "Gradients hurt: " + hurts_summary(table) + ".",
        "Models:\n" + "\n".join(f"- {m}: {CONFIGURATIONS.get(m, '?')}" for m in models),
        "Per problem and n:\n" + headline(table),
    ]
    if plot_names:
        text.append("Plots: " + ", ".join(plot_names) + (f" ({parity_note})" if parity_note else ""))
    return "\n\n".join(text)


def shown_columns(table):
    """COLUMNS less those with no information: all-NaN ones, and min/max with one seed."""
    cols = []
    for c in COLUMNS:
        values = [r.get(c) for r in table]
        if all(isinstance(v, float) and np.isnan(v) for v in values):
            continue
        if c in ("nrmse_min", "nrmse_max", "seeds") and all(int(r["seeds"]) == 1 for r in table):
            continue
        cols.append(c)
    return cols


def read_table(path):
    """Summary rows from a suite CSV (numbers typed back)."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        for key, value in row.items():
            if key in ("problem", "model"):
                continue
            row[key] = int(value) if key in ("d", "n_train", "seeds") else float(value)
    return rows


def report(table, out_dir, name="suite", parity=None, machine_text=None, write_csv=True,
           parity_note=""):
    """Write ``name.md`` (and ``name.csv``) and the PNGs from summary rows; print the report.

    The same function serves a fresh run and the regeneration from a committed
    CSV (``--from-csv``), where there is no parity data."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = plot(table, parity, out_dir, prefix=name)
    names = [p.name for p in paths]
    if parity is None and (out_dir / f"{name}_parity.png").exists():
        names.append(f"{name}_parity.png")
        parity_note = parity_note or "the parity plot is from the last full run"
    text_notes = notes(table, names, parity_note)
    cols = shown_columns(table)
    md = _report.markdown_table(table, cols)
    machine_text = machine_text or _report.machine()
    (out_dir / f"{name}.md").write_text(f"# {TITLE}\n\nMachine: {machine_text}\n\n{text_notes}\n\n"
                                        f"{md}\n")
    if write_csv:
        import csv

        with open(out_dir / f"{name}.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(table)
    print(f"\n## {TITLE}\n\n{md}\n\n{text_notes}\n\n(written to {out_dir / name}.md"
          + (" and .csv" if write_csv else "") + ")")
    return paths


def regenerate(csv_path, name=None):
    """Rebuild the Markdown report and the plots next to a committed suite CSV."""
    csv_path = Path(csv_path)
    name = name or csv_path.stem
    md_path = csv_path.with_suffix(".md")
    machine_text = None
    if md_path.exists():
        for line in md_path.read_text().splitlines():
            if line.startswith("Machine: "):
                machine_text = line[len("Machine: "):]
                break
    return report(read_table(csv_path), csv_path.parent, name, machine_text=machine_text,
                  write_csv=False)


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
    parser.add_argument("--from-csv", metavar="CSV",
                        help="run nothing: rebuild the report and plots from a suite CSV "
                             "(e.g. benchmarks/results/suite.csv); the parity plot needs a run")
    args = parser.parse_args(argv)
    if args.from_csv:
        regenerate(args.from_csv)
        return read_table(args.from_csv)
    problems = args.problems or (QUICK_PROBLEMS if args.quick else list(PROBLEMS))
    models = args.models or list(MODELS)
    n_trains = args.n_train or [20, 100]
    seeds = list(range(args.seeds or (1 if args.quick else 2)))
    rows, parity = run(problems, models, n_trains, seeds, progress=not args.no_progress,
                       memory=args.memory)
    table = summarize(rows)
    report(table, _report._results_dir, args.name, parity=parity)
    return table


if __name__ == "__main__":
    main()
