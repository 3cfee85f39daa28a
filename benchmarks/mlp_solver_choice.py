"""What ``GIMLPRegressor``'s ``solver="auto"`` trades at its switch: exact data against Monte Carlo data.

``solver="auto"`` picks full-batch L-BFGS below 2,048 samples and one-cycle
minibatch Adam from 2,048 on (and from 1,024 on for data that its noise check,
``sklearn_gi.utils.gradient_inconsistency``, finds noisy). Per data set and n, both
solvers are fitted on the same data: ``GIMLPRegressor(solver="lbfgs")`` and
``GIMLPRegressor(solver="adam", learning_rate="one_cycle")`` (the large-data
defaults). Test NRMSE (RMSE over the standard deviation of the test targets)
on 4,000 wing-weight, water-flow and Bukin N.6 test points (exact values and
gradients; water flow has one input whose partials are ``1e-10`` of the mean
square, where the ``"rms"`` weights need their floor; Bukin N.6 has a kink,
which the noise check of ``solver="auto"`` takes for noise) and on the
4,096 test spots of the 7-asset Bachelier basket (Monte Carlo paths, one noisy
payoff and its pathwise derivative each; the targets are the exact prices),
and CPU seconds of the fit on one thread; seed 0.

Run: ``python -m benchmarks.mlp_solver_choice [--sizes 1024 2048]``.
"""

import argparse
import os
import time
import warnings

import numpy as np

from ._report import write_results

COLUMNS = ["data", "n", "lbfgs_nrmse", "lbfgs_cpu_s", "one_cycle_nrmse", "one_cycle_cpu_s"]
SOLVERS = {"lbfgs": {"solver": "lbfgs"}, "one_cycle": {"solver": "adam", "learning_rate": "one_cycle"}}


def _datasets(n):
    from sklearn_gi.datasets import BachelierBasket, make_problem

    for problem in ("wing_weight", "water_flow", "bukin_n6"):
        X, y, dYdX = make_problem(problem, n, random_state=0)
        X_test, y_test, _ = make_problem(problem, 4000, random_state=1)
        yield f"{problem.replace('_', ' ')}, exact", (X, y, dYdX, X_test, y_test)
    basket = BachelierBasket(7, random_state=0)
    X, y, dYdX = basket.simulate(n, random_state=0)
    X_test = basket.test_spots(random_state=0)
    yield "Bachelier 7-D, Monte Carlo", (X, y, dYdX, X_test, basket.price(X_test))


def fit_nrmse(model, X, y, dYdX, X_test, y_test):
    """Fit on ``(X, y, dYdX)`` (warnings silenced): CPU seconds of the fit and test NRMSE."""
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, dYdX)
    cpu = time.process_time() - cpu
    return cpu, float(np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / np.std(y_test))


def run(sizes, solvers=SOLVERS):
    import torch

    from sklearn_gi.neural_network import GIMLPRegressor

    torch.set_num_threads(1)
    rows = []
    for n in sizes:
        for name, (X, y, dYdX, X_test, y_test) in _datasets(n):
            row = {"data": name, "n": n}
            for solver, params in solvers.items():
                model = GIMLPRegressor(random_state=0, **params)
                row[f"{solver}_cpu_s"], row[f"{solver}_nrmse"] = fit_nrmse(model, X, y, dYdX, X_test, y_test)
            print(row, flush=True)
            rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    args = parser.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    start = time.perf_counter()
    rows = run(args.sizes)
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("Run:", 1)[0].strip(), "",
        f"Run: `python -m benchmarks.mlp_solver_choice --sizes {' '.join(map(str, args.sizes))}`; "
        f"{time.perf_counter() - start:.0f} s wall, load average at the end {os.getloadavg()[0]:.1f}.",
    ])
    write_results("mlp_solver_choice", "GIMLPRegressor: L-BFGS against one-cycle Adam on exact and on "
                  "Monte Carlo data", rows, COLUMNS, notes)
    return rows


if __name__ == "__main__":
    main()
