"""Where ``solver="auto"`` switches: dense Cholesky against matrix-free PCG, time and memory vs rows.

The final solve of ``GIGaussianProcessRegressor`` (fixed hyperparameters,
``optimizer=None``) on the 9-D function of ``kernel_scaling_cg`` with noise
``1e-2`` (``alpha`` and ``gradient_alpha`` at the noise variances), ``n``
samples, ``10 n`` joint rows, one thread. The kernel is the default kernel's
form at hyperparameters that its search returned on 200 of these samples.
``fit_cpu_s``: CPU time of the fit; ``peak_MiB``: peak traced memory of the
same fit (``tracemalloc``; numpy reports its allocations to it).
"""

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.gaussian_process.kernels import RBF, ConstantKernel

from sklearn_gi.gaussian_process import GIGaussianProcessRegressor

try:
    from ._report import write_results
    from .kernel_scaling_cg import make_data
except ImportError:  # run as a script
    from _report import write_results
    from kernel_scaling_cg import make_data

# the default kernel at the optimum its search found on 200 samples (noise 1e-2)
KERNEL = (ConstantKernel(0.205**2)
          + ConstantKernel(0.841**2) * RBF([2.81, 3.82, 709, 1860, 3.43, 2.65, 2.79, 2.76, 2.89])
          + ConstantKernel(0.805**2) * RBF([1850, 2.7, 2.42, 2.45, 2.71, 632, 740, 1820, 1810]))


def run(sizes, solvers=("cholesky", "cg"), noise=1e-2):
    rows = []
    for n in sizes:
        X, y, G = make_data(n, noise)
        g_noise = noise * np.sqrt(np.mean(G**2)) * X.std(axis=0).mean() / y.std()
        for solver in solvers:
            model = GIGaussianProcessRegressor(KERNEL, alpha=noise**2, gradient_alpha=g_noise**2,
                                               optimizer=None, solver=solver)
            tracemalloc.start()
            cpu = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(X, y, G)
            cpu = time.process_time() - cpu
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            rows.append({"n_train": n, "joint_rows": 10 * n, "solver": solver, "fit_cpu_s": cpu,
                         "peak_MiB": peak, "cg_iterations": getattr(model, "n_iter_cg_", "-")})
            print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", nargs="+", type=int, default=[200, 500, 1000, 1500])
    args = parser.parse_args(argv)
    rows = run(args.n_train)
    notes = (__doc__.split("\n\n", 1)[1].strip() + " Reproduce: `OMP_NUM_THREADS=1 python -m "
             f"benchmarks.solver_switch --n-train {' '.join(map(str, args.n_train))}`.")
    write_results("solver_switch", "Cholesky vs conjugate gradients against joint rows (one thread)",
                  rows, list(rows[0]), notes=notes)
    return rows


if __name__ == "__main__":
    main()
