"""The exact gradient-enhanced GP by conjugate gradients at 10^4-10^5 joint rows, against RFF + GIRidge.

A smooth 9-D function, ``f(x) = sum_i sin x_i + 0.5 sum_i sin x_i cos x_(i+1)``
on ``[-pi, pi]^9`` (uniform inputs), with its exact gradient plus Gaussian
noise of ``--noise`` times the standard deviation of the values (and of the
root-mean-square of the partials for the gradients): ``n`` samples give ``10
n`` joint rows. Models:

* ``GIGP`` -- ``GIGaussianProcessRegressor`` with its default kernel,
  ``alpha`` and ``gradient_alpha`` set to the noise variances (normalised
  units), ``solver="auto"``: its hyperparameter search runs on a random
  subset (``n_search_samples="auto"``), then it solves all rows once, by
  Cholesky below ``CG_MIN_ROWS`` joint rows and by preconditioned conjugate
  gradients with matrix-free products above;
* ``RFF + GIRidge`` -- ``make_gi_pipeline(StandardScaler(),
  RBFSampler(n_components=2000, gamma=0.05), GIRidge(alpha=1e-3))``.

Each cell runs in its own subprocess (one thread): ``fit_cpu_s`` is the
fit's CPU time, ``fit_s`` its wall time (the machine is shared: compare CPU
times), ``peak_MiB`` the subprocess's peak resident memory
(``resource.getrusage``, the Python interpreter and inputs included). NRMSE
against the noise-free test values and gradients (2000 uniform points).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

try:
    from ._report import write_results
except ImportError:  # run as a script
    from _report import write_results

N_FEATURES = 9


def smooth_function(X):
    """Values and gradients of ``sum sin x_i + 0.5 sum sin x_i cos x_(i+1)``."""
    s, c = np.sin(X), np.cos(X)
    y = s.sum(axis=1) + 0.5 * (s[:, :-1] * c[:, 1:]).sum(axis=1)
    G = c.copy()
    G[:, :-1] += 0.5 * c[:, :-1] * c[:, 1:]
    G[:, 1:] -= 0.5 * s[:, :-1] * s[:, 1:]
    return y, G


def make_data(n, noise, seed=0, n_features=N_FEATURES):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, size=(n, n_features))
    y, G = smooth_function(X)
    y_scale, g_scale = y.std(), np.sqrt(np.mean(G**2))
    y = y + noise * y_scale * rng.normal(size=y.shape)
    G = G + noise * g_scale * rng.normal(size=G.shape)
    return X, y, G


def _model(name, X, y, G, noise):
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.preprocessing import StandardScaler

    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    from sklearn_gi.linear_model import GIRidge
    from sklearn_gi.pipeline import make_gi_pipeline

    if name == "GIGP":
        # noise variances in the GP's normalised units (gradient_alpha is per input scale)
        g_noise = noise * np.sqrt(np.mean(G**2)) * X.std(axis=0).mean() / y.std()
        return GIGaussianProcessRegressor(alpha=max(noise**2, 1e-10), gradient_alpha=max(g_noise**2, 1e-10),
                                          random_state=0)
    return make_gi_pipeline(StandardScaler(), RBFSampler(n_components=2000, gamma=0.05, random_state=0),
                            GIRidge(alpha=1e-3))


def run_cell(name, n, noise, max_iter=None):
    """Fit and score one model in this process; returns the row."""
    if max_iter is not None:  # a budget on the final CG solve (the module default is 1,000)
        from sklearn_gi.kernels import _solvers

        _solvers.CG_MAX_ITER = max_iter
    X, y, G = make_data(n, noise)
    X_test, _, _ = make_data(2000, 0.0, seed=1)
    y_test, G_test = smooth_function(X_test)
    model = _model(name, X, y, G, noise)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y, G)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    estimator = model[-1] if hasattr(model, "steps") else model
    start = time.perf_counter()
    pred, grad = model.predict(X_test), model.predict_gradient(X_test)
    return {
        "model": name,
        "n_train": n,
        "joint_rows": n * (1 + N_FEATURES),
        "fit_cpu_s": cpu,
        "fit_s": wall,
        "predict_s": time.perf_counter() - start,
        "peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "nrmse": float(np.sqrt(np.mean((pred - y_test) ** 2)) / y_test.std()),
        "grad_nrmse": float(np.sqrt(np.mean((grad - G_test) ** 2)) / G_test.std()),
        "solver": getattr(estimator, "solver_", "-"),
        "cg_iterations": getattr(estimator, "n_iter_cg_", "-"),
        "cg_residual": (max(i["residual"] for i in estimator._cg.info)
                        if getattr(estimator, "solver_", "") == "cg" else "-"),
    }


def run(sizes, noise, models=("GIGP", "RFF + GIRidge"), timeout=7200, max_iter=None):
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for n in sizes:
        for name in models:
            command = [sys.executable, "-m", "benchmarks.kernel_scaling_cg", "--cell", name, str(n),
                       "--noise", str(noise)] + ([] if max_iter is None else ["--max-iter", str(max_iter)])
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-2000:])
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", nargs="+", type=int, default=[10000, 3000, 1000])
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--cell", nargs=2, metavar=("MODEL", "N"))
    parser.add_argument("--max-iter", type=int, default=None, help="cap on the CG iterations")
    parser.add_argument("--name", default="kernel_scaling_cg")
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(run_cell(args.cell[0], int(args.cell[1]), args.noise, args.max_iter)))
        return None
    rows = run(args.n_train, args.noise, max_iter=args.max_iter)
    notes = (__doc__.split("\n\n", 1)[1].strip() + f" Noise {args.noise:g}. Reproduce: `python -m "
             f"benchmarks.kernel_scaling_cg --n-train {' '.join(map(str, args.n_train))} "
             f"--noise {args.noise:g}" + ("" if args.max_iter is None else f" --max-iter {args.max_iter}")
             + "`.")
    write_results(args.name, "Exact GI GP by conjugate gradients vs RFF + GIRidge, 9-D, to 10^5 joint rows",
                  rows, list(rows[0]), notes=notes)
    return rows


if __name__ == "__main__":
    main()
