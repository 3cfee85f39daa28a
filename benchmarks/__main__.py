"""The benchmark suite: ``python -m benchmarks [--full] [suite options]``.

The default is the quick comparison of GI estimators against standard
regressors and the gradient-enhanced peers (a few minutes on 2 CPU cores; see
``benchmarks/suite.py`` for the options ``--problems``, ``--models``,
``--n-train``, ``--seeds``). It prints the table and writes it, with plots, to
``benchmarks/results/quick/``. ``--full`` runs the full suite and every
specialised benchmark, regenerating the committed tables in
``benchmarks/results/``.

Every model runs on one thread (BLAS, OpenMP and torch), as the committed tables
were measured: fit times are then comparable between models, and several BLAS or
OpenMP threads on a small fit only wait for each other, many times longer on a
machine with other jobs (issue 25 measured README's main command at 695 s with the
default threads on a busy 2-core machine, 191 s with one thread;
``python -m benchmarks.thread_load --main`` measures it).
"""

import sys
import time

from . import (
    complexity_search,
    hsic_search,
    hsic_speed,
    linear_sample_efficiency,
    linear_speed,
    mcdonagh_2d,
    mlp_overhead,
    mlp_sobolev_functions,
    polynomial_memory,
    ridge_gradient_sin,
    suite,
    wing_weight,
)
from ._report import QUICK_RESULTS, RESULTS, machine, one_thread, set_results_dir


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return suite.main(["--help"])
    with one_thread():
        return _run(argv)


def _run(argv):
    full = "--full" in argv
    argv = [a for a in argv if a != "--full"]
    print(f"sklearn-gi benchmarks ({'full' if full else 'quick'}) on {machine()}")
    start = time.perf_counter()
    if full:
        set_results_dir(RESULTS)
        suite.main(argv + ["--memory"])
        linear_sample_efficiency.main(["--seeds", "5"])
        linear_speed.main(["--n-train", "1000", "10000", "100000", "200000", "1000000"])
        polynomial_memory.main([])
        ridge_gradient_sin.main([])
        mlp_sobolev_functions.main(["--seeds", "3"])
        mcdonagh_2d.main(["--seeds", "5"])
        mlp_overhead.main(["--repeats", "5"])
        complexity_search.main([])
        wing_weight.main([])  # the peers' protocol; --peers-slow adds GEKPLS-full (~1 h)
        hsic_speed.main([])  # --openturns-python PATH adds OpenTURNS on this machine
        hsic_search.main([])
    else:
        set_results_dir(QUICK_RESULTS)
        suite.main(["--quick"] + argv)
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
