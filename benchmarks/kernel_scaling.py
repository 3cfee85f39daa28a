"""Gradient-enhanced kernel models at scale: random Fourier features + GIRidge vs an exact GP.

``make_gi_pipeline(StandardScaler(), RBFSampler(n_components=p), GIRidge())``
fitted with ``dYdX`` is a gradient-enhanced kernel model whose cost is linear
in ``n``: ``O(n p^2)`` time (the Gram matrix of the features and the Hadamard
form ``(W W^T) * (S^T S)`` of the gradient term) and ``O(p^2 + n p)`` memory;
the ``(n, p, d)`` feature Jacobians are never built. An exact gradient-enhanced
GP, when ``sklearn_gi.gaussian_process`` provides one, costs ``O((n (1 + d))^3)``
and is timed up to ``--gp-max-n``, with the kernel the random features
approximate, ``RBF(length_scale=(2 gamma)^-1/2)`` on the standardised inputs,
held fixed (one exact solve; a hyperparameter search would multiply its cost).
Peak memory is traced with ``tracemalloc`` (numpy reports its allocations to
it) in a separate, untimed fit and excludes the inputs. NRMSE is the test RMSE
over the test targets' standard deviation.
"""

import argparse
import time

import numpy as np
from sklearn.gaussian_process.kernels import RBF, ConstantKernel
from sklearn.kernel_approximation import RBFSampler
from sklearn.preprocessing import StandardScaler

from sklearn_gi.datasets import make_problem
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.pipeline import make_gi_pipeline

try:
    from ._report import peak_mib, write_results
except ImportError:  # run as a script
    from _report import peak_mib, write_results


def _nrmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)) / np.std(truth))


def _exact_gp():
    """The exact GP class, or None (with the reason) when it is not available."""
    try:
        from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    except ImportError as exc:
        return None, f"exact GP skipped: sklearn_gi.gaussian_process does not import ({exc})"
    return GIGaussianProcessRegressor, None


def _row(model_name, n, p, build, X, y, G, X_test, y_test, G_test, with_gradients=True):
    def fit():
        model = build()
        return model.fit(X, y, G) if with_gradients else model.fit(X, y)

    start = time.perf_counter()
    model = fit()
    seconds = time.perf_counter() - start
    return {
        "model": model_name,
        "n_train": n,
        "n_components": p,
        "fit_s": seconds,
        "peak_MiB": peak_mib(fit),
        "nrmse": _nrmse(model.predict(X_test), y_test),
        "grad_nrmse": _nrmse(model.predict_gradient(X_test), G_test),
        # lstsq: the normal equations were too ill-conditioned for Cholesky (p > n (1 + d))
        "solver": getattr(model[-1], "solver_", "-"),
    }


def run(sizes, *, problem="styblinski_tang", n_features=6, n_components=2000, gamma=0.1,
        alpha=1e-6, gp_max_n=2000, n_test=2000, values_only=True):
    X_all, y_all, G_all = make_problem(problem, max(sizes), n_features=n_features, random_state=0)
    X_test, y_test, G_test = make_problem(problem, n_test, n_features=n_features, random_state=1)
    gp_class, gp_message = _exact_gp()
    if gp_message:
        print(gp_message)
    rows = []
    for n in sizes:
        X, y, G = X_all[:n], y_all[:n], G_all[:n]

        def rff(alpha=alpha):
            return make_gi_pipeline(
                StandardScaler(),
                RBFSampler(n_components=n_components, gamma=gamma, random_state=0),
                GIRidge(alpha=alpha),
            )

        rows.append(_row("RFF + GIRidge (gradients)", n, n_components, rff, X, y, G,
                         X_test, y_test, G_test))
        if values_only:
            rows.append(_row("RFF + GIRidge (values only)", n, n_components, rff, X, y, G,
                             X_test, y_test, G_test, with_gradients=False))
        if gp_class is not None and n <= gp_max_n:
            # the kernel the random features approximate, fixed: one exact solve, no search
            kernel = ConstantKernel(1.0, "fixed") * RBF((2 * gamma) ** -0.5, "fixed")

            def gp():
                return make_gi_pipeline(StandardScaler(),
                                        gp_class(kernel, alpha=1e-10, optimizer=None))

            rows.append(_row("exact GP (gradients)", n, 0, gp, X, y, G, X_test, y_test, G_test))
        for row in rows:
            if row["n_train"] == n:
                print(row, flush=True)
    return rows, gp_message


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", nargs="+", type=int, default=[100, 1_000, 2_000, 10_000, 100_000])
    parser.add_argument("--n-components", type=int, default=2000)
    parser.add_argument("--problem", default="styblinski_tang")
    parser.add_argument("--n-features", type=int, default=6)
    parser.add_argument("--gamma", type=float, default=0.1, help="RBFSampler gamma (standardised X)")
    parser.add_argument("--alpha", type=float, default=1e-6)
    parser.add_argument("--gp-max-n", type=int, default=2000)
    parser.add_argument("--quick", action="store_true",
                        help="n in 100, 300, 1000 with 300 components (well under a minute)")
    args = parser.parse_args(argv)
    sizes, p, gp_max_n = args.n_train, args.n_components, args.gp_max_n
    if args.quick:
        sizes, p, gp_max_n = [100, 300, 1000], 300, 300
    rows, gp_message = run(sizes, problem=args.problem, n_features=args.n_features, n_components=p,
                           gamma=args.gamma, alpha=args.alpha, gp_max_n=gp_max_n)
    notes = (
        f"Problem `{args.problem}` with {args.n_features} inputs, uniform training and "
        f"2000 test points. `RBFSampler(n_components={p}, gamma={args.gamma})` after a "
        f"StandardScaler, `GIRidge(alpha={args.alpha})`. One timed fit per row; `peak_MiB` "
        "from a second, traced fit (inputs excluded). The values-only row fits the same model "
        "without `dYdX`. The exact GP (when it imports) uses the RBF kernel the features "
        "approximate, fixed, `alpha=1e-10`. Reproduce: `python -m benchmarks.kernel_scaling"
        + (" --quick`." if args.quick else "`.")
    )
    if gp_message:
        notes += f" Note: {gp_message}."
    write_results("kernel_scaling", "Gradient-enhanced kernel models against n", rows, list(rows[0]),
                  notes=notes)
    return rows


if __name__ == "__main__":
    main()
