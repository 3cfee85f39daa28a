"""Wing weight (10 inputs): the peers' measurement protocol, with our estimators in it.

Reproduces the set-up of the peer study (a measurement of gradient-enhanced GP
libraries made for this project, section 5 of its notes, which are not part of the
repository: the set-up is restated below and its numbers for these models are
``PEERS_MD``) on the ``wing_weight`` problem, so that our numbers sit next to theirs:

* training sets: Latin hypercube (``scipy.stats.qmc.LatinHypercube(10,
  seed=s)`` scaled to the bounds, ``make_problem(..., sampling="lhs")``),
  seeds 0, 1, 2, n = 20 and 100; test set: 2,000 uniform points, seed 12345;
* metrics: NRMSE = value RMSE / std(y_test); gradient RMSE over all
  components and gradient R^2 pooled over them (each centred on its mean);
  fit time, and prediction time of the values AND all 10 gradient components
  of the 2,000 test points; medians (and the NRMSE min-max) over the seeds;
* one thread: ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` before numpy is imported
  (when run as a script), ``threadpoolctl`` limits and
  ``torch.set_num_threads(1)``.

Models (``--models``; one that is not installed is skipped with a message):

* ``GIGP`` / ``GIGP (values only)``: ``GIGaussianProcessRegressor()``
  defaults, with and without gradients;
* ``GIKernelRidge``: ``GIKernelRidge(kernel="rbf")`` after a
  ``StandardScaler`` in a GI pipeline, y standardized
  (``GITransformedTargetRegressor``), alpha and gamma by 5-fold
  ``GridSearchCV`` with ``dYdX`` as a fit parameter;
* ``GIMLP`` / ``GIMLP (values only)``: ``GIMLPRegressor`` defaults;
* ``sklearn GP``: ``GaussianProcessRegressor``, C x RBF(ARD) + White,
  ``normalize_y``, 5 restarts, on standardized X, with the suite's
  hyper-parameter bounds (values only; its mean's gradient is computed
  analytically);
* ``SMT KRG`` (values only, SMT defaults) and ``SMT GEKPLS-full``
  (``n_comp = extra_points = 10``, the maintainers' "classic indirect GEK";
  slow: 87 s fit and ~15 min prediction at n = 100 in the peer study, so only
  with ``--models`` or ``--peers-slow``);
* ``GPyTorch GP``: exact derivative GP (ARD ``RBFKernelGrad``,
  ``ConstantMeanGrad``, float64, X scaled to [0, 1]^10, y standardized,
  L-BFGS with strong Wolfe line search for 100 iterations, Cholesky solves,
  prediction in chunks of 200 points).

Writes ``wing_weight.md`` / ``.csv`` (the summary) and ``wing_weight_runs.csv``
(one row per model, n and seed) to ``benchmarks/results/`` (``--quick``: to
``results/quick/``). ``--append`` merges the new runs into the existing runs
file (a later run of the same model, n and seed replaces the old row), so the
slow peers can be measured in separate runs.

Run: ``python -m benchmarks.wing_weight [--quick] [--models ...] [--n-train 20 100]
[--seeds 0 1 2] [--peers-slow] [--append]``.
"""

import os

if __name__ == "__main__":  # before numpy is imported: one thread, as in the peer study
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from sklearn_gi.datasets import get_problem, make_problem  # noqa: E402

from . import _report  # noqa: E402

PROBLEM = "wing_weight"
N_TEST = 2000
TEST_SEED = 12345
GPYTORCH_CHUNK = 200

# value NRMSE and seed-0 single-thread fit time of the same models in the peer study
# (section 5 of its notes, wingweight10d columns; measured on that study's 2-core machine),
# for comparison: (model, n_train) -> (nrmse, fit_s)
PEERS_MD = {
    ("sklearn GP", 20): (0.119, 0.14), ("sklearn GP", 100): (9.87e-3, 0.63),
    ("SMT KRG", 20): (0.116, 1.91), ("SMT KRG", 100): (0.0116, 9.46),
    ("SMT GEKPLS-full", 20): (0.0106, 4.23), ("SMT GEKPLS-full", 100): (1.73e-3, 87.0),
    ("GPyTorch GP", 20): (0.0233, 0.90), ("GPyTorch GP", 100): (2.42e-3, 24.0),
}


# --------------------------------------------------------------------- models
class Model:
    """A benchmark entry: ``fit`` on (X, y, dY/dX) and ``predict_both`` values and gradients."""

    def __init__(self, name):
        self.name = name

    def available(self):
        return True, ""

    def fit(self, X, y, G, seed, bounds):
        raise NotImplementedError

    def predict_both(self, X):
        """Values ``(m,)`` and gradients ``(m, d)`` at ``X``."""
        raise NotImplementedError


def _importable(module, why):
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        return False, why
    return True, ""


class _GIEstimator(Model):
    """A sklearn-gi estimator with ``predict`` and ``predict_gradient``."""

    def __init__(self, name, module, build, gradients=True):
        super().__init__(name)
        self.module, self.build, self.gradients = module, build, gradients

    def available(self):
        return _importable(self.module, f"{self.module} is not available in this sklearn-gi")

    def fit(self, X, y, G, seed, bounds):
        self.estimator = self.build(seed)
        if self.gradients:
            self.estimator.fit(X, y, dYdX=G)
        else:
            self.estimator.fit(X, y)
        return self

    def predict_both(self, X):
        return self.estimator.predict(X), self.estimator.predict_gradient(X)


def _gi_gp(seed):
    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor

    return GIGaussianProcessRegressor(random_state=seed)


class _GIKernelRidge(_GIEstimator):
    ALPHAS = [1e-8, 1e-6, 1e-4, 1e-2]
    GAMMAS = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]

    def __init__(self, name):
        super().__init__(name, "sklearn_gi.kernel_ridge", None)

    def fit(self, X, y, G, seed, bounds):
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.preprocessing import StandardScaler

        from sklearn_gi.compose import GITransformedTargetRegressor
        from sklearn_gi.kernel_ridge import GIKernelRidge
        from sklearn_gi.pipeline import make_gi_pipeline

        model = GITransformedTargetRegressor(
            make_gi_pipeline(StandardScaler(), GIKernelRidge(kernel="rbf")),
            transformer=StandardScaler())
        grid = {"regressor__gikernelridge__alpha": self.ALPHAS,
                "regressor__gikernelridge__gamma": self.GAMMAS}
        search = GridSearchCV(model, grid, cv=KFold(5, shuffle=True, random_state=seed),
                              scoring="neg_mean_squared_error")
        search.fit(X, y, dYdX=G)  # dYdX is sliced to each fold with the rows
        self.estimator = search.best_estimator_
        return self


def _gi_mlp(seed):
    from sklearn_gi.neural_network import GIMLPRegressor

    return GIMLPRegressor(random_state=seed)


class SklearnGP(Model):
    """scikit-learn's GP on standardized X; the posterior mean's gradient in closed form."""

    def fit(self, X, y, G, seed, bounds):
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
        from sklearn.preprocessing import StandardScaler

        d = X.shape[1]
        # the bounds of the suite's GP: with scikit-learn's default bounds, seed 0 (n = 20) stops
        # at a log marginal likelihood of -15.0 (NRMSE 0.65) against -3.6 (NRMSE 0.12) with these
        kernel = (ConstantKernel() * RBF(np.ones(d), (1e-2, 1e3))
                  + WhiteKernel(1e-6, (1e-10, 1e-1)))
        self.scaler = StandardScaler().fit(X)
        self.gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=5,
                                           random_state=seed)
        self.gp.fit(self.scaler.transform(X), y)
        return self

    def predict_both(self, X):
        Z = self.scaler.transform(X)
        smooth = self.gp.kernel_.k1  # C x RBF; the white noise term is 0 off the training points
        length = np.broadcast_to(smooth.k2.length_scale, (Z.shape[1],))
        weights = smooth(Z, self.gp.X_train_) * np.ravel(self.gp.alpha_)  # (m, n)
        values = self.gp.predict(Z)
        # d/dz sum_i a_i k(z, x_i) = -sum_i a_i k(z, x_i) (z - x_i) / l^2
        grad_z = -(weights.sum(axis=1)[:, None] * Z - weights @ self.gp.X_train_) / length**2
        grad = grad_z * np.ravel(self.gp._y_train_std) / self.scaler.scale_
        return values, grad


class _SMTModel(Model):
    def available(self):
        return _importable("smt.surrogate_models", "smt is not installed (pip install .[peers])")

    def _train(self, X, y, G):
        self.estimator.set_training_values(X, y)
        if G is not None:
            for k in range(X.shape[1]):
                self.estimator.set_training_derivatives(X, G[:, k], k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.estimator.train()
        return self

    def predict_both(self, X):
        values = self.estimator.predict_values(X)[:, 0]
        # SMT predicts the derivatives one input per call
        grad = np.column_stack([self.estimator.predict_derivatives(X, k)[:, 0]
                                for k in range(X.shape[1])])
        return values, grad


class SMTKriging(_SMTModel):
    def fit(self, X, y, G, seed, bounds):
        from smt.surrogate_models import KRG

        self.estimator = KRG(print_global=False)
        return self._train(X, y, None)


class SMTGEKPLSFull(_SMTModel):
    def fit(self, X, y, G, seed, bounds):
        from smt.surrogate_models import GEKPLS

        d = X.shape[1]
        self.estimator = GEKPLS(xlimits=np.asarray(bounds, dtype=float), n_comp=d, extra_points=d,
                                print_global=False)
        return self._train(X, y, G)


class GPyTorchGP(Model):
    """Exact GP on values and all partials (GPyTorch's derivative kernels)."""

    def available(self):
        return _importable("gpytorch", "gpytorch is not installed (pip install gpytorch)")

    def fit(self, X, y, G, seed, bounds):
        import gpytorch
        import torch

        torch.manual_seed(seed)
        bounds = np.asarray(bounds, dtype=float)
        self.low, self.width = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
        self.mean, self.std = float(np.mean(y)), float(np.std(y))
        d = X.shape[1]
        U = torch.as_tensor((X - self.low) / self.width, dtype=torch.float64)
        # values and gradients in the unit-cube, standardized-y coordinates
        targets = np.column_stack([(y - self.mean) / self.std, G * self.width / self.std])
        T = torch.as_tensor(targets, dtype=torch.float64)

        class DerivativeGP(gpytorch.models.ExactGP):
            def __init__(self, train_x, train_y, likelihood):
                super().__init__(train_x, train_y, likelihood)
                self.mean_module = gpytorch.means.ConstantMeanGrad()
                self.covar_module = gpytorch.kernels.ScaleKernel(
                    gpytorch.kernels.RBFKernelGrad(ard_num_dims=d))

            def forward(self, x):
                return gpytorch.distributions.MultitaskMultivariateNormal(
                    self.mean_module(x), self.covar_module(x))

        self.likelihood = gpytorch.likelihoods.MultitaskGaussianLikelihood(num_tasks=d + 1).double()
        self.model = DerivativeGP(U, T, self.likelihood).double()
        self.model.train()
        self.likelihood.train()
        mll = gpytorch.mlls.ExactMarginalLogLikelihood(self.likelihood, self.model)
        optimizer = torch.optim.LBFGS(self.model.parameters(), max_iter=100,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = -mll(self.model(U), T)
            loss.backward()
            return loss

        with self._exact():
            optimizer.step(closure)
        return self

    @staticmethod
    def _exact():
        import gpytorch

        # Cholesky at every size (GPyTorch switches to conjugate gradients above 800 rows,
        # i.e. beyond n = 72 here)
        return gpytorch.settings.max_cholesky_size(10**6)

    def predict_both(self, X):
        import gpytorch
        import torch

        self.model.eval()
        self.likelihood.eval()
        U = torch.as_tensor((X - self.low) / self.width, dtype=torch.float64)
        chunks = []
        with torch.no_grad(), self._exact(), gpytorch.settings.skip_posterior_variances():
            for start in range(0, len(U), GPYTORCH_CHUNK):
                chunks.append(self.model(U[start:start + GPYTORCH_CHUNK]).mean.numpy())
        mean = np.concatenate(chunks)
        return self.mean + self.std * mean[:, 0], mean[:, 1:] * self.std / self.width


MODELS = {
    "GIGP": lambda: _GIEstimator("GIGP", "sklearn_gi.gaussian_process", _gi_gp),
    "GIGP (values only)": lambda: _GIEstimator("GIGP (values only)", "sklearn_gi.gaussian_process",
                                               _gi_gp, gradients=False),
    "GIKernelRidge": lambda: _GIKernelRidge("GIKernelRidge"),
    "GIMLP": lambda: _GIEstimator("GIMLP", "sklearn_gi.neural_network", _gi_mlp),
    "GIMLP (values only)": lambda: _GIEstimator("GIMLP (values only)", "sklearn_gi.neural_network",
                                                _gi_mlp, gradients=False),
    "sklearn GP": lambda: SklearnGP("sklearn GP"),
    "SMT KRG": lambda: SMTKriging("SMT KRG"),
    "SMT GEKPLS-full": lambda: SMTGEKPLSFull("SMT GEKPLS-full"),
    "GPyTorch GP": lambda: GPyTorchGP("GPyTorch GP"),
}
SLOW_MODELS = ["SMT GEKPLS-full"]  # only on request (--models or --peers-slow)
DEFAULT_MODELS = [name for name in MODELS if name not in SLOW_MODELS]
QUICK_MODELS = ["GIGP", "GIGP (values only)", "GIKernelRidge", "GIMLP", "GIMLP (values only)",
                "sklearn GP"]


# -------------------------------------------------------------------- running
def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _gradient_r2(pred, true):
    """R^2 pooled over all components, each centred on its own mean."""
    return float(1 - np.sum((pred - true) ** 2) / np.sum((true - true.mean(axis=0)) ** 2))


def make_test_set(n_test=N_TEST):
    """The protocol's test set: ``n_test`` uniform points (seed 12345), values, gradients."""
    problem = get_problem(PROBLEM)
    X = problem.sample(n_test, random_state=TEST_SEED)
    return X, problem.value(X), problem.gradient(X)


def run(models, n_trains=(20, 100), seeds=(0, 1, 2), n_test=N_TEST, verbose=True):
    """Fit and score each model on each (n, seed); one row per run.

    Parameters
    ----------
    models : list of str
        Keys of :data:`MODELS`; an unknown name raises ``ValueError``, one
        that is not installed is skipped with a message.
    n_trains : sequence of int, default=(20, 100)
    seeds : sequence of int, default=(0, 1, 2)
        Seeds of the Latin hypercube training sets (and of the models).
    n_test : int, default=2000
    verbose : bool, default=True

    Returns
    -------
    rows : list of dict
        ``model, n_train, seed, nrmse, rmse, grad_rmse, grad_r2, fit_s,
        predict_s`` (``predict_s``: values and all gradients of the test set).
    """
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        raise ValueError(f"models: unknown {unknown}; choose from {list(MODELS)}.")
    from sklearn.exceptions import ConvergenceWarning

    problem = get_problem(PROBLEM)
    X_test, y_test, G_test = make_test_set(n_test)
    active = []
    for name in models:
        entry = MODELS[name]()
        ok, why = entry.available()
        if ok:
            active.append(entry)
        else:
            print(f"  skipping {name}: {why}")
    rows = []
    for n in n_trains:
        for seed in seeds:
            X, y, G = make_problem(PROBLEM, n, sampling="lhs", random_state=seed)
            for entry in active:
                row = {"model": entry.name, "n_train": n, "seed": seed}
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        start = time.perf_counter()
                        entry.fit(X, y, G, seed, problem.bounds)
                        row["fit_s"] = time.perf_counter() - start
                        start = time.perf_counter()
                        pred, grad = entry.predict_both(X_test)
                        row["predict_s"] = time.perf_counter() - start
                except Exception as exc:  # a model failing is a result, not a crash
                    print(f"  {entry.name} failed at n={n} seed={seed}: {type(exc).__name__}: {exc}")
                    continue
                row["rmse"] = _rmse(pred, y_test)
                row["nrmse"] = row["rmse"] / float(np.std(y_test))
                row["grad_rmse"] = _rmse(grad, G_test)
                row["grad_r2"] = _gradient_r2(np.asarray(grad), G_test)
                rows.append(row)
                if verbose:
                    print(f"  n={n} seed={seed} {entry.name}: NRMSE {row['nrmse']:.3g}, "
                          f"fit {row['fit_s']:.2f} s, predict {row['predict_s']:.2f} s", flush=True)
    return rows


RUN_COLUMNS = ["model", "n_train", "seed", "nrmse", "rmse", "grad_rmse", "grad_r2", "fit_s",
               "predict_s"]
COLUMNS = ["n_train", "model", "seeds", "nrmse", "nrmse_min", "nrmse_max", "grad_rmse", "grad_r2",
           "fit_s", "predict_s", "peers_md_nrmse", "peers_md_fit_s"]


def summarize(rows):
    """Median over seeds per (n, model), with the NRMSE min-max and the peer study's numbers."""
    groups = {}
    for row in rows:
        groups.setdefault((int(row["n_train"]), row["model"]), []).append(row)
    order = {name: i for i, name in enumerate(MODELS)}
    table = []
    for (n, model), items in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))):
        out = {"n_train": n, "model": model, "seeds": len(items)}
        for key in ("nrmse", "grad_rmse", "grad_r2", "fit_s", "predict_s"):
            out[key] = float(np.median([float(r[key]) for r in items]))
        nrmse = [float(r["nrmse"]) for r in items]
        out["nrmse_min"], out["nrmse_max"] = min(nrmse), max(nrmse)
        peers = PEERS_MD.get((model, n))
        out["peers_md_nrmse"], out["peers_md_fit_s"] = peers if peers else ("", "")
        table.append(out)
    return table


def _read_runs(path):
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _merge(old, new):
    key = lambda r: (r["model"], int(r["n_train"]), int(r["seed"]))  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in new})
    return list(merged.values())


def _single_thread():
    """Limit numpy's BLAS and torch to one thread; returns a function that undoes it."""
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(1)
    try:
        import torch
    except ImportError:
        return limits.restore_original_limits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    def restore():
        limits.restore_original_limits()
        torch.set_num_threads(threads)

    return restore


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS))
    parser.add_argument("--n-train", nargs="+", type=int)
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--quick", action="store_true",
                        help="n=20, one seed, fast models only; writes to results/quick")
    parser.add_argument("--peers-slow", action="store_true",
                        help=f"add {', '.join(SLOW_MODELS)} to the default models")
    parser.add_argument("--append", action="store_true",
                        help="merge into the existing runs file instead of replacing it")
    args = parser.parse_args(argv)
    if args.quick:
        _report.set_results_dir(_report.QUICK_RESULTS)
    models = args.models or (QUICK_MODELS if args.quick else
                             DEFAULT_MODELS + (SLOW_MODELS if args.peers_slow else []))
    n_trains = args.n_train or ([20] if args.quick else [20, 100])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    restore = _single_thread()
    try:  # the machine line of the tables then records the single thread
        print(f"wing weight, peers' protocol, on {_report.machine()}")
        return _write(run(models, n_trains, seeds), args.append)
    finally:
        restore()


def _write(rows, append):
    out = _report._results_dir
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "wing_weight_runs.csv"
    if append:
        rows = _merge(_read_runs(runs_path), rows)
    with open(runs_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RUN_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    table = summarize(rows)
    notes = (
        "The peer study's protocol (the project's measurement of gradient-enhanced GP libraries, "
        "whose notes are not in the repository; protocol in benchmarks/wing_weight.py's docstring, "
        "its numbers in PEERS_MD there): Latin hypercube training "
        "sets (seeds 0, 1, 2), 2,000 uniform test points (seed 12345), one thread. Median over the "
        "seeds; nrmse = value RMSE / std(y_test) (1.0 = predicting the mean); grad_rmse over all 10 "
        "components, in the problem's units (sweep per degree); grad_r2 pooled over the components; "
        "predict_s covers the values and all gradients of the 2,000 test points. peers_md_*: the "
        "same model's value NRMSE and seed-0 fit time in the peer study (measured on that study's "
        "machine), for comparison. Per-seed rows: wing_weight_runs.csv."
    )
    _report.write_results("wing_weight", "Wing weight (10-D), the peers' protocol", table, COLUMNS,
                          notes=notes)
    return table


if __name__ == "__main__":
    main()
