"""Tables, machine description and timing shared by the benchmark scripts."""

import contextlib
import csv
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
# the quick default of ``python -m benchmarks`` writes here, leaving the
# committed full-size tables alone
QUICK_RESULTS = RESULTS / "quick"
_results_dir = RESULTS


def set_results_dir(path):
    global _results_dir
    _results_dir = Path(path)


def machine():
    import scipy
    import sklearn
    import torch

    import sklearn_gi

    return (
        f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), sklearn-gi {sklearn_gi.__version__}"
    ).replace("  ", " ")


def best_time(func, repeat=3):
    """Best wall time of ``repeat`` calls (the least disturbed measurement)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def markdown_table(rows, columns):
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name, title, rows, columns, notes=""):
    """Print a Markdown table and write it with a CSV to ``benchmarks/results/``."""
    out = _results_dir
    out.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows, columns)
    text = f"# {title}\n\nMachine: {machine()}\n\n{notes}\n\n{table}\n"
    (out / f"{name}.md").write_text(text)
    with open(out / f"{name}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n## {title}\n\n{table}\n\n(written to {out / name}.md and .csv)")


def peak_mib(func):
    """Peak traced memory (MiB) of one call of ``func``: numpy reports its allocations."""
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def one_thread():
    """BLAS, OpenMP and torch at one thread inside the block (restored after)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(torch_threads)
