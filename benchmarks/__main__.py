"""Run the benchmark suite: ``python -m benchmarks [--full]``.

The default is a quick run (about two minutes on 2 CPU cores) that prints every
table and writes them to ``benchmarks/results/quick/``; ``--full`` runs the
sizes of the committed tables in ``benchmarks/results/``.
"""

import argparse
import time

from . import (
    complexity_search,
    linear_sample_efficiency,
    linear_speed,
    mcdonagh_2d,
    mlp_overhead,
    mlp_sobolev_functions,
    ridge_gradient_sin,
)
from ._report import QUICK_RESULTS, RESULTS, machine, set_results_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="full sizes (minutes)")
    args = parser.parse_args(argv)
    print(f"sklearn-gi benchmarks ({'full' if args.full else 'quick'}) on {machine()}")
    start = time.perf_counter()
    if args.full:
        set_results_dir(RESULTS)
        linear_sample_efficiency.main(["--seeds", "5"])
        linear_speed.main(["--n-train", "1000", "10000", "100000", "200000", "1000000"])
        ridge_gradient_sin.main([])
        mlp_sobolev_functions.main(["--seeds", "3"])
        mcdonagh_2d.main(["--seeds", "5"])
        mlp_overhead.main(["--repeats", "5"])
        complexity_search.main([])
    else:
        set_results_dir(QUICK_RESULTS)
        linear_sample_efficiency.main(["--seeds", "3", "--n-train", "5", "10", "20"])
        linear_speed.main(["--n-train", "1000", "10000", "100000"])
        ridge_gradient_sin.main(["--n-train", "10", "14", "20", "--draws", "20"])
        mlp_sobolev_functions.main(["--n-train", "20", "--seeds", "1"])
        mcdonagh_2d.main(["--seeds", "1", "--protocols", "default"])
        mlp_overhead.main(["--epochs", "200", "--repeats", "2"])
    print(f"\nDone in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
