"""x sin x from 4 points with derivatives: jenn's acceptance case in the peers' suite.

The case (Surrogates.jl's jenn test): ``f(x) = x sin x`` on ``[-pi, pi]``,
4 equally spaced training points with their derivatives, pass at R^2 > 0.9
on both the values and the derivatives at 200 equally spaced test points.
Four points cannot determine a kernel's length scales: the likelihood's
optimum (length scales shorter than the spacing) interpolates the points and
predicts poorly between them; ``GIGaussianProcessRegressor`` then lengthens
them in steps of sqrt(3) as long as the likelihood stays within 3 nats of the
optimum and says so with a ``HyperparameterWarning`` (column ``warning``).
One thread (``fit_cpu_s`` is the fit's CPU time).

Rows: ``GIGaussianProcessRegressor()`` defaults, with and without the
derivatives; ``GIKernelRidge()`` defaults; ``GIMLPRegressor()`` defaults
(seeds as given: the R^2 columns are medians over them, min and max beside);
the peer jenn's ``NeuralNet([1, 12, 1], "tanh")`` (its own tests' network,
normalized, with the derivatives), when installed, at ``alpha=0.1`` and
``max_iter=10000``: the best of the settings tried (median R^2 over seeds 0-2,
values / derivatives: 1-12-1 at alpha 0.005, 0.05, 0.1 and 2,000 iterations
0.86/0.92, 0.57/0.74, 0.68/0.82; at 10,000 iterations 0.86/0.91, 0.85/0.92,
0.99/0.98; 1-64-64-1 at most 0.97/0.89).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.metrics import r2_score

from sklearn_gi.gaussian_process import GIGaussianProcessRegressor, HyperparameterWarning
from sklearn_gi.kernel_ridge import GIKernelRidge
from sklearn_gi.neural_network import GIMLPRegressor

try:
    from ._report import one_thread, write_results
except ImportError:  # run as a script
    from _report import one_thread, write_results


def x_sin_x(n_train=4, n_test=200):
    """Training and test sets of jenn's case: equally spaced on [-pi, pi]."""
    def f(x):
        return x[:, 0] * np.sin(x[:, 0])

    def df(x):
        return (np.sin(x[:, 0]) + x[:, 0] * np.cos(x[:, 0]))[:, None]

    X = np.linspace(-np.pi, np.pi, n_train)[:, None]
    X_test = np.linspace(-np.pi, np.pi, n_test)[:, None]
    return X, f(X), df(X), X_test, f(X_test), df(X_test)


class _Jenn:
    """jenn's NeuralNet behind fit / predict / predict_gradient."""

    def __init__(self, random_state):
        self.random_state = random_state

    def fit(self, X, y, dYdX=None):
        import jenn

        self.net_ = jenn.NeuralNet([1, 12, 1], "tanh")
        self.net_.fit(X.T, y[None, :], dYdX.T[None, :, :], alpha=0.1, max_iter=10000,
                      is_normalize=True, random_state=self.random_state)
        return self

    def predict(self, X):
        return self.net_.predict(X.T)[0]

    def predict_gradient(self, X):
        return self.net_.predict_partials(X.T)[0].T


def _models(seed):
    yield "GIGP", lambda: GIGaussianProcessRegressor(random_state=seed), True
    yield "GIGP (values only)", lambda: GIGaussianProcessRegressor(random_state=seed), False
    yield "GIKernelRidge", GIKernelRidge, True
    yield "GIMLP", lambda: GIMLPRegressor(random_state=seed), True
    try:
        import jenn  # noqa: F401
    except ImportError:
        print("jenn is not installed (pip install .[peers]): its row is skipped")
    else:
        yield "jenn NeuralNet 1-12-1", lambda: _Jenn(seed), True


def run(seeds=(0, 1, 2)):
    with one_thread():
        return _run(seeds)


def _run(seeds):
    X, y, G, X_test, y_test, G_test = x_sin_x()
    results = {}
    for seed in seeds:
        for name, make, with_gradients in _models(seed):
            model = make()
            with warnings.catch_warnings(record=True) as records:
                warnings.simplefilter("always")
                start = time.process_time()
                model.fit(X, y, G) if with_gradients else model.fit(X, y)
                cpu = time.process_time() - start
            warned = any(issubclass(r.category, HyperparameterWarning) for r in records)
            gradient = np.asarray(model.predict_gradient(X_test)).reshape(G_test.shape)
            results.setdefault(name, []).append(
                (r2_score(y_test, model.predict(X_test)), r2_score(G_test, gradient), cpu, warned))
    rows = []
    for name, runs in results.items():
        r2, grad_r2, cpu, warned = (np.array(column) for column in zip(*runs))
        rows.append({
            "model": name, "seeds": len(runs),
            "r2": float(np.median(r2)), "r2_min": float(r2.min()), "r2_max": float(r2.max()),
            "grad_r2": float(np.median(grad_r2)), "grad_r2_min": float(grad_r2.min()),
            "grad_r2_max": float(grad_r2.max()),
            "passes": bool(np.median(r2) > 0.9 and np.median(grad_r2) > 0.9),
            "fit_cpu_s": float(np.median(cpu)),
            "warning": "HyperparameterWarning" if warned.any() else "",
        })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--name", default="few_points")
    args = parser.parse_args(argv)
    rows = run(args.seeds)
    notes = (__doc__.split("\n\n", 1)[1].strip()
             + f" Reproduce: `python -m benchmarks.few_points --seeds {' '.join(map(str, args.seeds))}`.")
    write_results(args.name, "x sin x from 4 points with derivatives (jenn's test)", rows,
                  list(rows[0]), notes=notes)
    return rows


if __name__ == "__main__":
    main()
