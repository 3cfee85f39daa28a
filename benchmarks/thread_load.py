"""README's commands on an idle machine and beside CPU-bound jobs: the thread policy's test.

``python -m benchmarks.thread_load [--busy 0 2] [--repeats 3] [--main [--main-args "ARGS"]]``

Runs README's Gaussian-process snippet (the code block that fits
``GIGaussianProcessRegressor(random_state=0)``; with ``--main``, also README's main
command ``python -m benchmarks``, with ``ARGS`` appended, e.g. ``--main-args
"--problems booth --seeds 1"`` for a slice) in fresh Python processes,
first on the machine as it is, then with each number of busy jobs of ``--busy``
running beside it: Python processes spinning on a core, spawned by this script,
each ending by itself after ``--busy-limit`` seconds and killed when the script
ends. Each command runs with the environment a new user has (no
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS``: BLAS starts
one thread per core) and with those set to 1. The snippet's time excludes the
imports (sklearn_gi and its dependencies are imported before the clock starts);
the main command's is the process's wall time. ``ratio_to_idle`` is each time over
the same command's with no busy job. The load average at the start of each run is
recorded: the "idle" rows are only as idle as the machine was.

Writes ``benchmarks/results/thread_load.md`` and ``.csv`` (``--output-dir`` to
write elsewhere). ``--cholesky ROWS ...`` also times one ``scipy.linalg.cholesky`` of
each size with one and two BLAS threads (median of ``--repeats``), idle and beside
the busy jobs, into ``thread_load_cholesky.md``: the measurement behind the
estimators' ``n_threads=None`` (one thread below 2,000 rows).
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

try:
    from . import _report
except ImportError:  # run as a script
    import _report

README = Path(__file__).resolve().parents[1] / "README.md"
ROOT = README.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
COLUMNS = ["command", "threads_env", "busy_jobs", "load_before", "wall_s", "cpu_s", "ratio_to_idle"]

# Runs the snippet given on stdin after importing what it needs, and prints its wall and
# CPU seconds (the process's, all threads) as the last line.
_DRIVER = """
import sys, time, warnings
import numpy, scipy.linalg, sklearn, torch  # noqa: F401 (imports are not timed)
import sklearn_gi.datasets, sklearn_gi.gaussian_process  # noqa: F401
warnings.simplefilter("ignore")
code = sys.stdin.read()
wall, cpu = time.perf_counter(), time.process_time()
exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
print(f"TIMES {time.perf_counter() - wall} {time.process_time() - cpu}")
"""

_BUSY = "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"


def readme_gp_snippet(readme=README):
    """The README code block that fits ``GIGaussianProcessRegressor(random_state=0)``."""
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    matching = [block for block in blocks if "GIGaussianProcessRegressor(random_state=0)" in block]
    if len(matching) != 1:
        raise RuntimeError(f"expected one README block fitting GIGaussianProcessRegressor, "
                           f"found {len(matching)}")
    return matching[0]


def environment(threads, root=ROOT):
    """A new user's environment (``threads="default"``) or one with every thread variable at 1.

    ``root``: the checkout whose ``sklearn_gi`` (and ``benchmarks``) the command imports.
    """
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if threads != "default":
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_snippet(code, threads, timeout, root=ROOT):
    out = subprocess.run([sys.executable, "-c", _DRIVER], input=code, capture_output=True,
                         text=True, env=environment(threads, root), cwd=root, timeout=timeout,
                         check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()[1:]
    return float(wall), float(cpu)


def run_main(args, threads, timeout, root=ROOT):
    start = time.perf_counter()
    before = os.times()
    subprocess.run([sys.executable, "-m", "benchmarks", *args], env=environment(threads, root), cwd=root,
                   timeout=timeout, check=True, stdout=subprocess.DEVNULL)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - start, cpu


def start_busy_jobs(count, limit):
    return [subprocess.Popen([sys.executable, "-c", _BUSY.format(limit=limit)]) for _ in range(count)]


def stop(jobs):
    for job in jobs:
        job.kill()
    for job in jobs:
        job.wait()


def measure(commands, busy_counts, thread_settings, repeats, busy_limit, timeout):
    rows = []
    for busy in busy_counts:
        jobs = start_busy_jobs(busy, busy_limit)
        try:
            time.sleep(1.0 if busy else 0.0)  # let the busy jobs reach their cores
            for _ in range(repeats):  # repeats outermost: the commands share the load's swings
                for name, run in commands:
                    for threads in thread_settings:
                        load = os.getloadavg()[0]
                        wall, cpu = run(threads, timeout)
                        rows.append({"command": name, "threads_env": threads, "busy_jobs": busy,
                                     "load_before": round(load, 2), "wall_s": wall, "cpu_s": cpu})
                        print(f"{name:<12} threads={threads:<8} busy={busy} load={load:.2f} "
                              f"wall {wall:.2f} s cpu {cpu:.2f} s", flush=True)
        finally:
            stop(jobs)
    return summarize(rows)


def cholesky_rows(sizes, busy_counts, repeats, busy_limit):
    """Median time of one Cholesky factorisation per size, BLAS threads (1, 2) and busy jobs."""
    import numpy as np
    from scipy import linalg
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    matrices = {}
    for size in sizes:
        A = rng.standard_normal((size, size))
        matrices[size] = A @ A.T + size * np.eye(size)
    rows = []
    for busy in busy_counts:
        jobs = start_busy_jobs(busy, busy_limit)
        try:
            time.sleep(1.0 if busy else 0.0)
            for size, K in matrices.items():
                row = {"rows": size, "busy_jobs": busy, "load_before": round(os.getloadavg()[0], 2)}
                for threads in (1, 2):
                    with threadpool_limits(threads, user_api="blas"):
                        times = []
                        for _ in range(repeats):
                            start = time.perf_counter()
                            linalg.cholesky(K, lower=True)
                            times.append(time.perf_counter() - start)
                    row[f"threads_{threads}_s"] = float(np.median(times))
                row["two_over_one"] = row["threads_2_s"] / row["threads_1_s"]
                rows.append(row)
                print(row, flush=True)
        finally:
            stop(jobs)
    return rows


def summarize(rows):
    """Median wall and CPU time per (command, threads, busy jobs), and the ratio to idle."""
    import numpy as np

    groups = {}
    for row in rows:
        groups.setdefault((row["command"], row["threads_env"], row["busy_jobs"]), []).append(row)
    table = []
    for (command, threads, busy), runs in groups.items():
        table.append({"command": command, "threads_env": threads, "busy_jobs": busy,
                      "load_before": float(np.median([r["load_before"] for r in runs])),
                      "wall_s": float(np.median([r["wall_s"] for r in runs])),
                      "cpu_s": float(np.median([r["cpu_s"] for r in runs])), "runs": len(runs)})
    idle = {(r["command"], r["threads_env"]): r["wall_s"] for r in table if r["busy_jobs"] == 0}
    for row in table:
        base = idle.get((row["command"], row["threads_env"]))
        row["ratio_to_idle"] = row["wall_s"] / base if base else float("nan")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2],
                        help="numbers of CPU-bound jobs beside the commands (0: as the machine is)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command (median)")
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        help="'default' (no thread variables) and/or a thread count for all three")
    parser.add_argument("--main", action="store_true",
                        help="also time README's main command, python -m benchmarks")
    parser.add_argument("--main-args", default="", metavar="ARGS",
                        help="arguments appended to the main command (one quoted string)")
    parser.add_argument("--busy-limit", type=float, default=1800.0,
                        help="seconds after which a busy job ends by itself")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per command")
    parser.add_argument("--output-dir", default=None, help="where to write thread_load.md/.csv")
    parser.add_argument("--compare-with", default=None, metavar="CHECKOUT",
                        help="also run the commands with another checkout's sklearn_gi (e.g. "
                             "one from before the thread policy: git worktree add /tmp/old REV)")
    parser.add_argument("--cholesky", type=int, nargs="*", default=None, metavar="ROWS",
                        help="also time a Cholesky of these sizes with 1 and 2 BLAS threads")
    args = parser.parse_args(argv)
    if any(count < 0 for count in args.busy) or args.repeats < 1:
        parser.error("--busy counts must be >= 0 and --repeats >= 1")
    snippet = readme_gp_snippet()
    commands = [("GP snippet", lambda threads, timeout: run_snippet(snippet, threads, timeout))]
    if args.compare_with:
        other = Path(args.compare_with).resolve()
        commands.append((f"GP snippet, {other.name}",
                         lambda threads, timeout: run_snippet(snippet, threads, timeout, other)))
    main_args = shlex.split(args.main_args)
    if args.main:
        commands.append(("main command", lambda threads, timeout: run_main(main_args, threads, timeout)))
        if args.compare_with:
            commands.append((f"main command, {other.name}",
                             lambda threads, timeout: run_main(main_args, threads, timeout, other)))
    busy_counts = [0] + sorted(set(args.busy) - {0})
    if args.output_dir:
        _report.set_results_dir(args.output_dir)
    given = argv if argv is not None else sys.argv[1:]
    command_line = f"`python -m benchmarks.thread_load {' '.join(given)}`"
    if args.cholesky:
        rows = cholesky_rows(args.cholesky, busy_counts, args.repeats, args.busy_limit)
        _report.write_results(
            "thread_load_cholesky", "One Cholesky factorisation, 1 and 2 BLAS threads, beside busy jobs",
            rows, ["rows", "busy_jobs", "load_before", "threads_1_s", "threads_2_s", "two_over_one"],
            notes=f"{command_line}. scipy.linalg.cholesky of a random SPD matrix, median of "
                  f"{args.repeats}; two_over_one > 1: two BLAS threads are slower.")
    table = measure(commands, busy_counts, args.threads, args.repeats, args.busy_limit, args.timeout)
    main_args = " ".join(main_args)
    notes = (
        f"{command_line}. "
        "GP snippet: README's Gaussian-process code block (fit on wing weight n=20, predictions, "
        "score), imports excluded; main command: `python -m benchmarks"
        + (f" {main_args}" if main_args else "") + "`, the whole process. threads_env: 'default' "
        "= no OMP/OPENBLAS/MKL_NUM_THREADS (BLAS uses every core unless sklearn-gi limits it), "
        "'1' = all three set to 1. busy_jobs: Python processes spinning on a core beside the "
        f"command. Median of {args.repeats} runs; cpu_s = the process's CPU time (all threads); "
        "ratio_to_idle = wall_s over the same command's with no busy job; load_before = the "
        "1-minute load average when each run started (median), which says how idle 'idle' was."
    )
    _report.write_results("thread_load", "README's commands beside CPU-bound jobs", table,
                          COLUMNS, notes=notes)
    return table


if __name__ == "__main__":
    main()
