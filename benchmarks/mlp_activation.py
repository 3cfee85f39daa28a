"""GIMLPRegressor's hidden activation: the suite's problems and the tiny-data battery.

The evidence for (or against) a default activation. For each activation:

* the suite's problems (``benchmarks.suite.PROBLEMS``, the same training
  samples and 2,000-point test sets) at each ``n``, ``GIMLPRegressor`` with
  its defaults except ``activation``, fitted with ``dYdX``: test NRMSE
  (median over the seeds), fit time and fits that ended with a
  ConvergenceWarning (``mlp_convergence.fit_once``);
* the tiny-data battery of ``benchmarks.mlp_tiny_data`` (3 seeds): how many
  cases reach test R^2 > 0.9 for every seed.

Writes ``mlp_activation.md`` / ``.csv`` (one row per problem and n, a column
per activation) and prints the tiny-data counts in the notes.
Run: ``python -m benchmarks.mlp_activation [--activations tanh silu] [--n-train 20 100] [--seeds 2]``.
"""

import argparse

import numpy as np

from . import mlp_tiny_data
from ._report import write_results
from .mlp_convergence import fit_once
from .suite import PROBLEMS


def suite_errors(activation, n_trains, seeds, problems=None):
    """``{(problem, n): (median NRMSE, median fit seconds, fits that warned)}``."""
    out = {}
    for key in problems or PROBLEMS:
        for n in n_trains:
            fits = [fit_once(key, n, seed, True, activation=activation) for seed in seeds]
            out[key, n] = (float(np.median([f["nrmse"] for f in fits])),
                           float(np.median([f["fit_s"] for f in fits])),
                           int(sum(f["warned"] for f in fits)))
            print(f"  {activation:8s} {key:24s} n={n:4d} NRMSE {out[key, n][0]:.4g}", flush=True)
    return out


def tiny_passes(activation, seeds=(0, 1, 2)):
    """Cases of the tiny-data battery with test R^2 > 0.9 for every seed."""
    passed = 0
    for function, design in mlp_tiny_data.CASES:
        scores, _ = mlp_tiny_data.r2_scores(function, design, seeds, activation=activation)
        passed += bool(scores.min() > 0.9)
    return passed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activations", nargs="+", default=["tanh", "silu"])
    parser.add_argument("--n-train", nargs="+", type=int, default=[20, 100])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=None)
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds))
    results = {a: suite_errors(a, args.n_train, seeds, args.problems) for a in args.activations}
    tiny = {a: tiny_passes(a) for a in args.activations}
    base = args.activations[0]
    rows = []
    for key, n in results[base]:
        row = {"problem": key, "n_train": n}
        for a in args.activations:
            error, fit_s, caught = results[a][key, n]
            row[f"nrmse_{a}"], row[f"fit_s_{a}"], row[f"warnings_{a}"] = error, fit_s, caught
        for a in args.activations[1:]:
            row[f"ratio_{a}_vs_{base}"] = row[f"nrmse_{a}"] / row[f"nrmse_{base}"]
        rows.append(row)
    counts = []
    for a in args.activations[1:]:
        ratios = [r[f"ratio_{a}_vs_{base}"] for r in rows]
        counts.append(f"{a} vs {base}: better by >10% in {sum(x < 1 / 1.1 for x in ratios)}, worse "
                      f"by >10% in {sum(x > 1.1 for x in ratios)} of {len(rows)} cells")
    write_results(
        "mlp_activation",
        "GIMLPRegressor's activation on the suite's problems (with gradients) and on tiny data",
        rows,
        list(rows[0]),
        notes=(
            f"Defaults except `activation`; {len(seeds)} seeds (medians), the suite's samples and "
            "test sets; one torch thread. Tiny-data battery (`mlp_tiny_data`, 3 seeds, R^2 > 0.9 "
            "for every seed): " + ", ".join(f"{a} {tiny[a]}/{len(mlp_tiny_data.CASES)}"
                                            for a in args.activations)
            + ". " + "; ".join(counts) + "."
        ),
    )
    return rows, tiny


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    main()
