"""HSIC sensitivity indices: time and peak memory of ``sklearn_gi.inspection.hsic_indices``.

Data as in the project's research timing of OpenTURNS (section 5 of its HSIC notes,
which are not in the repository; the timings are ``OT_RESEARCH`` below):
X ~ U(-pi, pi)^d, y = Ishigami(X1, X2, X3), X4... dummy, Gaussian kernels with
theta = std. Every index is O(n^2) for the V- and the U-statistic;
the goal set's permutation p-values are one n x n by n x B matrix product per
input. Timings run single-threaded (BLAS limited to one thread) for a fair
comparison with OpenTURNS, which ``--openturns-python`` times on the same
machine when given an interpreter that has ``openturns``.
"""

import argparse
import json
import os
import subprocess
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_gi.inspection import hsic_indices

try:
    from . import _report
except ImportError:  # run as a script
    import _report

# OpenTURNS 1.27.post1 on the research machine (2 cores shared with other jobs,
# load 2.5-3.7), section 5 of the project's HSIC notes (not in the repository):
# build kernels + HSIC and R2 (+ asymptotic p) / permutations with their B.
OT_RESEARCH = {
    (1000, "global V indices"): "0.27 s (0.16 kernels + 0.11 HSIC/R2)",
    (1000, "global U indices"): "9.6 s (0.16 kernels + 9.4 HSIC/R2)",
    (1000, "global V + asymptotic p"): "0.34 s (+ 0.07 p)",
    (1000, "global V + permutation p"): "6.5 s for B=100",
    (5000, "global V indices"): "7.6 s (2.5 kernels + 5.0 HSIC/R2)",
    (5000, "global U indices"): "> 1500 s (killed)",
    (5000, "global V + asymptotic p"): "13.8 s (+ 6.3 p)",
    (5000, "global V + permutation p"): "87 s for B=20",
}

_OT_SCRIPT = r"""
import json, sys, time
import numpy as np
import openturns as ot
try:
    ot.TBB.SetThreadsNumber(1)
except AttributeError:
    pass
n, d, B = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
X = rng.uniform(-np.pi, np.pi, size=(n, d))
y = np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])
Xs, Ys = ot.Sample(X), ot.Sample(y[:, None])
thr = float(np.quantile(y, 0.1, method="lower"))
def models(target=False):
    cov = [ot.SquaredExponential([float(X[:, j].std(ddof=1))]) for j in range(d)]
    cov.append(ot.DiracCovarianceModel(1) if target else
               ot.SquaredExponential([float(y.std(ddof=1))]))
    return cov
def estimator(stat, target=False):
    est = ot.HSICVStat() if stat == "V" else ot.HSICUStat()
    if target:
        f = ot.IndicatorFunction(ot.Interval(-1e300, thr))
        return ot.HSICEstimatorTargetSensitivity(models(True), Xs, Ys, est, f)
    return ot.HSICEstimatorGlobalSensitivity(models(), Xs, Ys, est)
out = {}
def timed(name, func):
    t = time.perf_counter(); func(); out[name] = time.perf_counter() - t
timed("global V indices", lambda: estimator("V").getR2HSICIndices())
timed("global U indices", lambda: estimator("U").getR2HSICIndices())
def asym():
    e = estimator("V"); e.getR2HSICIndices(); e.getPValuesAsymptotic()
timed("global V + asymptotic p", asym)
def perm(target):
    e = estimator("V", target); e.setPermutationSize(B); e.getR2HSICIndices()
    e.getPValuesPermutation()
timed("global V + permutation p", lambda: perm(False))
timed("target V + permutation p", lambda: perm(True))
print(json.dumps({"version": ot.__version__, "times": out}))
"""


def ishigami_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, size=(n, d))
    y = np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])
    return X, y


def cases(n_permutations, global_permutations):
    yield "global V indices", dict(statistic="V"), None
    yield "global U indices", dict(statistic="U"), None
    yield "target V indices", dict(kind="target", statistic="V"), None
    yield "target U indices", dict(kind="target", statistic="U"), None
    yield "global V + asymptotic p", dict(statistic="V", pvalue="asymptotic"), None
    yield "global U + asymptotic p", dict(statistic="U", pvalue="asymptotic"), None
    yield ("target V + permutation p", dict(kind="target", pvalue="permutation",
                                            n_permutations=n_permutations), n_permutations)
    yield ("target U + permutation p", dict(kind="target", statistic="U", pvalue="permutation",
                                            n_permutations=n_permutations), n_permutations)
    if global_permutations:
        yield ("global V + permutation p", dict(pvalue="permutation",
                                                n_permutations=n_permutations), n_permutations)


def _timed(func, repeat):
    """Best wall time of ``repeat`` calls; peak traced memory (MiB) of the first."""
    times = []
    tracemalloc.start()
    try:
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    for _ in range(repeat - 1):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times), peak


def openturns_times(python, n, d, n_permutations, timeout=1200):
    """Run the same cases with OpenTURNS in ``python`` (single-threaded); None if it fails."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    try:
        done = subprocess.run([python, "-c", _OT_SCRIPT, str(n), str(d), str(n_permutations)],
                              capture_output=True, text=True, timeout=timeout, env=env, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"OpenTURNS timing skipped: {exc}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(sizes, n_features, n_permutations, repeat, global_permutations_max_n=1000,
        openturns_python=None, openturns_n=1000, openturns_permutations=100):
    ot = None
    if openturns_python:
        ot = openturns_times(openturns_python, openturns_n, n_features, openturns_permutations)
    rows = []
    for n in sizes:
        X, y = ishigami_data(n, n_features)
        for name, kwargs, B in cases(n_permutations, n <= global_permutations_max_n):
            kwargs = dict(kwargs, random_state=0) if B else kwargs
            with threadpool_limits(1):
                seconds, peak = _timed(lambda: hsic_indices(X, y, **kwargs),
                                       1 if B else repeat)
            row = {"n_samples": n, "n_features": n_features, "case": name,
                   "n_permutations": B or "", "seconds": seconds, "peak_MiB": peak,
                   "n2_float64_MiB": 8.0 * n * n / 2**20,
                   "OpenTURNS_research_machine": OT_RESEARCH.get((n, name), "")}
            ot_seconds = ""
            if ot is not None and n == openturns_n and name in ot["times"]:
                ot_seconds = ot["times"][name]
                if B and ot_seconds:  # OpenTURNS ran fewer permutations: scale linearly
                    ot_seconds *= B / openturns_permutations
            row["OpenTURNS_same_machine_s"] = ot_seconds
            row["speedup_vs_OpenTURNS"] = ot_seconds / seconds if ot_seconds else ""
            rows.append(row)
            print(f"n={n} {name}: {seconds:.3g} s, peak {peak:.0f} MiB", flush=True)
    return rows, (ot["version"] if ot else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", nargs="+", type=int, default=[1000, 5000])
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-permutations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--openturns-python", default=None,
                        help="a Python interpreter with openturns, to time it on this machine")
    parser.add_argument("--openturns-permutations", type=int, default=100)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (n=300, B=50), one repeat: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.n_permutations, args.repeat = [300], 50, 1
        if _report._results_dir == _report.RESULTS:  # leave the committed table alone
            _report.set_results_dir(_report.QUICK_RESULTS)
    rows, ot_version = run(args.n, args.n_features, args.n_permutations, args.repeat,
                           openturns_python=args.openturns_python,
                           openturns_n=args.n[0], openturns_permutations=args.openturns_permutations)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    ot_note = (
        f"`OpenTURNS_same_machine_s`: OpenTURNS {ot_version} on this machine, single-threaded, "
        f"n={args.n[0]}, same data and kernels; its permutation cases ran "
        f"B={args.openturns_permutations} and are scaled linearly to B={args.n_permutations}. "
        if ot_version else ""
    )
    _report.write_results(
        "hsic_speed",
        "HSIC indices: time and peak memory of hsic_indices",
        rows,
        list(rows[0]),
        notes=(
            f"d={args.n_features} inputs (Ishigami in X1-X3, the rest dummy), Gaussian kernels "
            "theta = std (ddof=1); target kind: goal set y <= lower 10 % quantile, Dirac kernel. "
            f"Best of {args.repeat} calls for the indices, one call for permutation p-values "
            "(random_state=0); BLAS limited to 1 thread; 1-min load average at the end "
            f"{load:.2f} (the machine is shared). `peak_MiB`: tracemalloc peak of one call "
            "(numpy arrays), compare with one n x n float64 matrix (`n2_float64_MiB`). "
            "`OpenTURNS_research_machine`: OpenTURNS 1.27.post1 timings quoted from "
            "the project's HSIC research notes (not in the repository; the numbers are OT_RESEARCH "
            "in benchmarks/hsic_speed.py; another run, 2 shared cores, load 2.5-3.7; "
            "kernels + HSIC + R2 [+ p-values]). " + ot_note
            + "Reproduce: `python -m benchmarks.hsic_speed "
            "[--openturns-python PATH/TO/python-with-openturns]`."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
