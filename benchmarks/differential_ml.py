"""Differential Machine Learning's problems: Monte Carlo payoffs with pathwise derivatives.

Huge and Savine (2020) learn option prices from Monte Carlo paths, each
labelled with one noisy payoff and its pathwise derivative. Problems: their
Bachelier basket (``--dims``, default 7 and 20 assets) and Black-Scholes call,
``m`` training paths (``--sizes``); seed ``s`` draws the market
(``BachelierBasket(d, random_state=s)``), the paths (``random_state=s``), the
test spots and the networks' weights. Metric: RMSE x 100 of the prices and of
the delta to asset 1 against the exact ones, on the authors' test spots (4096
uniform spots in a box for the basket, 100 spots in [0.35, 1.65] for the call).
Fit times: CPU seconds of the fitting process (one thread) and wall seconds.

Models (``--models``):

* ``twin net``: the authors' twin network and protocol in our own torch code
  (``benchmarks/_twin_net.py``): 4x20 softplus, Adam one-cycle, 100 epochs,
  ``lambda_j`` weighting; the peer.
* ``standard net``: the same network and protocol on values only.
* ``GIMLP``: ``GIMLPRegressor(random_state=seed)``, its defaults (``solver="auto"``:
  Adam one-cycle from 2048 paths, and from 1024 when the data have at most 8
  inputs and the gradients leave more than 0.15 of the nearest-neighbour value
  differences unexplained, as Monte Carlo paths do; else L-BFGS; ``alpha="auto"``:
  on the one-cycle path with 7 or more inputs, a fit whose values are left more
  than 2% unexplained at 40% of the epochs starts again with ``alpha=0.1``).
* ``GIMLP no penalty``: the defaults with ``alpha=0``: no noise probe, no
  penalty (the defaults before ``alpha="auto"``).
* ``GIMLP float64``: the same defaults with ``compute_dtype="input"``: the
  network trains in the data's float64 instead of the large-data default
  float32 (the twin net trains in float32 too), to show what float64 costs.
* ``GIMLP one-cycle``: ``GIMLPRegressor(solver="adam", learning_rate="one_cycle")``, the
  user guide's setting for noisy data (the defaults' large-data path at any size).
* ``GIMLP weight decay``: ``GIMLPRegressor(alpha=0.1)``, the defaults with an L2
  penalty on the weights whatever the data (not in the default run: ``--models``).
* ``GIRidge poly``: ``make_gi_pipeline(StandardScaler(), PolynomialFeatures(k), GIRidge())``,
  k = 5 up to 7 inputs, 3 above.
* ``Ridge poly``: the same features, ``RidgeCV`` on values only.
* ``GIGP``: ``GIGaussianProcessRegressor`` with an RBF kernel, a ``WhiteKernel``
  and a per-input ``GradientWhiteKernel`` (value and derivative noise learned by
  maximum likelihood), where the joint system ``m (d + 1)`` is at most 8192.

Rows are left out where they cannot run or add nothing: ``GIRidge poly`` where
the polynomial Jacobian ``(m, p, d)`` would pass 1 GB (20-D from m = 4096);
``GIMLP one-cycle`` from m = 2048 on, where it is the defaults' own setting (at
m = 1024 the defaults reach it through their noise check up to 8 inputs, so
there the two rows agree).
``--from-runs FILE...`` rebuilds the tables and the plot from runs CSVs.

``python -m benchmarks.differential_ml`` runs everything (long);
``--dims 7 --sizes 4096 --seeds 2 --models "twin net" GIMLP`` is a quick run.
"""

import argparse
import csv
import os
import time
import warnings

import numpy as np

from . import _report
from ._report import write_results

PUBLISHED_TWIN = {  # notebook charts, one market and seed each: (values, deltas) x 100
    (7, 4096): (0.24, 0.30), (7, 8192): (0.14, 0.10), (7, 16384): (0.11, 0.09),
    (20, 4096): (0.23, 0.16), (20, 8192): (0.13, 0.07), (20, 16384): (0.10, 0.05),
}
MODELS = ["twin net", "standard net", "GIMLP", "GIMLP float64", "GIMLP one-cycle", "GIMLP weight decay",
          "GIRidge poly", "Ridge poly", "GIGP", "GIMLP no penalty"]
DEFAULT_MODELS = ["twin net", "standard net", "GIMLP", "GIMLP float64", "GIMLP one-cycle", "GIRidge poly",
                  "Ridge poly"]
GP_MAX_EQUATIONS = 8192
TITLE = "Differential ML: Monte Carlo prices with pathwise derivatives"
POLY_MAX_JACOBIAN_BYTES = 1e9


def _degree(d):
    return 5 if d <= 7 else 3


def make_model(name, d, seed):
    """A fresh model: (estimator, fits gradients)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    from sklearn_gi.linear_model import GIRidge
    from sklearn_gi.neural_network import GIMLPRegressor
    from sklearn_gi.pipeline import make_gi_pipeline

    from ._twin_net import TwinNet

    if name == "twin net":
        return TwinNet(True, random_state=seed), True
    if name == "standard net":
        return TwinNet(False, random_state=seed), False
    if name == "GIMLP":
        return GIMLPRegressor(random_state=seed), True
    if name == "GIMLP float64":  # the defaults, trained in float64 (the large-data default is float32)
        return GIMLPRegressor(compute_dtype="input", random_state=seed), True
    if name == "GIMLP one-cycle":  # the user guide's setting for noisy data: the large-data path at any size
        return GIMLPRegressor(solver="adam", learning_rate="one_cycle", random_state=seed), True
    if name == "GIMLP weight decay":  # the large-data defaults with an L2 penalty
        return GIMLPRegressor(alpha=0.1, random_state=seed), True
    if name == "GIMLP no penalty":  # the defaults without alpha="auto"'s noise probe
        return GIMLPRegressor(alpha=0.0, random_state=seed), True
    if name == "GIRidge poly":
        # partial_weights="rms" once GIRidge has it: one more argument here
        return make_gi_pipeline(StandardScaler(), PolynomialFeatures(_degree(d)), GIRidge()), True
    if name == "Ridge poly":
        return make_pipeline(StandardScaler(), PolynomialFeatures(_degree(d)),
                             RidgeCV(alphas=np.logspace(-8, 2, 11))), False
    if name == "GIGP":
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        from sklearn_gi.gaussian_process import GIGaussianProcessRegressor, GradientWhiteKernel

        # value and per-input derivative noise learned by maximum likelihood (benchmarks.gp_gradient_noise)
        kernel = (ConstantKernel() * RBF(np.ones(d)) + WhiteKernel(0.1, (1e-10, 10.0))
                  + GradientWhiteKernel(np.full(d, 0.1), (1e-10, 10.0)))
        return GIGaussianProcessRegressor(kernel, random_state=seed), True
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


def applicable(name, d, m):
    from math import comb

    from sklearn_gi.neural_network._gi_mlp import AUTO_ADAM_MIN_SAMPLES

    if name == "GIGP":
        return m * (d + 1) <= GP_MAX_EQUATIONS
    if name == "GIRidge poly":  # until GIRidge chunks the polynomial Jacobian (m, p, d)
        return m * comb(max(d, 1) + _degree(d), _degree(d)) * max(d, 1) * 8 <= POLY_MAX_JACOBIAN_BYTES
    if name == "GIMLP one-cycle":  # from AUTO_ADAM_MIN_SAMPLES on, the defaults are this very setting
        return m < AUTO_ADAM_MIN_SAMPLES
    return True


def problem_data(d, m, seed):
    """Training paths and exact test values: d = 0 is the Black-Scholes call."""
    from sklearn_gi.datasets import BachelierBasket, BlackScholesCall

    if d == 0:
        problem = BlackScholesCall()
        X_test = problem.test_spots()
    else:
        problem = BachelierBasket(d, random_state=seed)
        X_test = problem.test_spots(random_state=seed)
    X, y, dYdX = problem.simulate(m, random_state=seed)
    return X, y, dYdX, X_test, problem.price(X_test), problem.delta(X_test)


def _gradient(model, X):
    if hasattr(model, "predict_gradient"):
        return np.asarray(model.predict_gradient(X)).reshape(len(X), -1)
    return None


def run_cell(d, m, seed, models):
    """Rows of one (problem, m, seed) cell: every model on the same data, one thread."""
    import torch

    torch.set_num_threads(1)
    data = problem_data(d, m, seed)
    rows = []
    for name in models:
        if not applicable(name, d, m):
            continue
        X, y, dYdX, X_test, price, delta = data
        model, uses_gradients = make_model(name, d, seed)
        cpu, wall = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if uses_gradients:
                    model.fit(X, y, dYdX)
                else:
                    model.fit(X, y)
                failure = ""
            except (MemoryError, FloatingPointError, ValueError, np.linalg.LinAlgError) as exc:
                failure = f"{type(exc).__name__}: {exc}"[:120]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        row = {"problem": "black_scholes" if d == 0 else "bachelier", "d": max(d, 1), "m": m,
               "seed": seed, "model": name, "fit_cpu_s": cpu, "fit_wall_s": wall,
               "solver": getattr(model, "solver_", ""), "failure": failure}
        if failure:
            row.update(value_rmse_x100=np.nan, delta_rmse_x100=np.nan)
        else:
            gradient = _gradient(model, X_test)
            row["value_rmse_x100"] = 100 * float(np.sqrt(np.mean((model.predict(X_test) - price) ** 2)))
            row["delta_rmse_x100"] = (np.nan if gradient is None else
                                      100 * float(np.sqrt(np.mean((gradient[:, 0] - delta[:, 0]) ** 2))))
        rows.append(row)
    return rows


def summarize(rows):
    """Medians over seeds per (problem, d, m, model), with ratios to the twin net of the same seeds."""
    groups = {}
    for r in rows:
        groups.setdefault((r["problem"], r["d"], r["m"], r["model"]), []).append(r)
    table = []
    for (problem, d, m, model), items in sorted(groups.items(), key=lambda kv: (
            kv[0][0], kv[0][1], kv[0][2], MODELS.index(kv[0][3]) if kv[0][3] in MODELS else 99)):
        twin = groups.get((problem, d, m, "twin net"), [])
        out = {"problem": problem, "d": d, "m": m, "model": model, "seeds": len(items),
               "value_vs_twin": np.nan, "delta_vs_twin": np.nan, "fit_vs_twin": np.nan}
        for key in ("value_rmse_x100", "delta_rmse_x100", "fit_cpu_s", "fit_wall_s"):
            values = [r[key] for r in items if np.isfinite(r[key])]
            out[key] = float(np.median(values)) if values else np.nan
            if twin and key != "fit_wall_s":
                reference = float(np.median([r[key] for r in twin]))
                out[key.split("_")[0] + "_vs_twin"] = out[key] / reference if reference > 0 else np.nan
        out["solver"] = ",".join(sorted({r["solver"] for r in items if r["solver"]}))
        published = PUBLISHED_TWIN.get((d, m)) if problem == "bachelier" else None
        out["published_twin"] = f"{published[0]} / {published[1]}" if published else ""
        out["failures"] = sum(bool(r["failure"]) for r in items)
        table.append(out)
    return table


COLUMNS = ["problem", "d", "m", "model", "seeds", "value_rmse_x100", "delta_rmse_x100", "value_vs_twin",
           "delta_vs_twin", "fit_cpu_s", "fit_vs_twin", "fit_wall_s", "solver", "published_twin", "failures"]
RUN_COLUMNS = ["problem", "d", "m", "seed", "model", "value_rmse_x100", "delta_rmse_x100", "fit_cpu_s",
               "fit_wall_s", "solver", "failure"]


def verdicts(table):
    """Per Bachelier cell: the sklearn-gi rows at or below the twin net in both medians, time <= 2x."""
    lines = []
    for r in table:
        if (r["problem"] != "bachelier" or not r["model"].startswith("GI")
                or not np.isfinite(r["fit_vs_twin"])):
            continue
        ok = r["value_vs_twin"] <= 1 and r["delta_vs_twin"] <= 1 and r["fit_vs_twin"] <= 2
        line = (f"- {r['d']}-D, m={r['m']}, {r['model']}: values {r['value_vs_twin']:.2f}x, "
                f"deltas {r['delta_vs_twin']:.2f}x, CPU time {r['fit_vs_twin']:.2f}x the twin net's"
                f" -> {'at or below the twin net' if ok else 'NOT at or below the twin net'}")
        published = PUBLISHED_TWIN.get((r["d"], r["m"]))
        if published:
            below = r["value_rmse_x100"] < published[0] and r["delta_rmse_x100"] < published[1]
            line += (f"; {r['value_rmse_x100']:.3g} / {r['delta_rmse_x100']:.3g} against the published "
                     f"{published[0]} / {published[1]}: {'below' if below else 'NOT below'}")
        lines.append(line)
    return lines


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["problem"], r["d"]) for r in table})
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 7), squeeze=False)
    for col, (problem, d) in enumerate(panels):
        for row, key in enumerate(("value_rmse_x100", "delta_rmse_x100")):
            ax = axes[row, col]
            for model in MODELS:
                if model == "GIMLP float64":  # the same errors as GIMLP: it would hide that line
                    continue
                pts = sorted((r["m"], r[key]) for r in table
                             if (r["problem"], r["d"], r["model"]) == (problem, d, model)
                             and np.isfinite(r[key]))
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=model, color=f"C{MODELS.index(model)}",
                            linestyle="--" if model in ("twin net", "standard net") else "-")
            if problem == "bachelier":
                pub = sorted((m, v[row]) for (dd, m), v in PUBLISHED_TWIN.items() if dd == d)
                if pub:
                    ax.plot(*zip(*pub), "k:", marker="x", label="twin net (published)")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("training paths m")
            title = "Black-Scholes" if problem == "black_scholes" else f"Bachelier {d}-D"
            ax.set_title(f"{title}: {'prices' if row == 0 else 'delta to asset 1'}")
            ax.set_ylabel("RMSE x 100 (median over seeds)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", type=int, nargs="+", default=[7, 20],
                        help="basket dimensions (0 adds nothing; see --black-scholes)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192, 16384])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, choices=MODELS)
    parser.add_argument("--no-black-scholes", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--name", default="differential_ml", help="results file name")
    parser.add_argument("--no-plot", dest="plot", action="store_false")
    parser.add_argument("--log", default=None, metavar="CSV",
                        help="append each finished cell's runs to this CSV (for --from-runs)")
    parser.add_argument("--from-runs", nargs="+", default=None, metavar="CSV",
                        help="summarize these runs CSVs (e.g. of several partial runs) without running")
    args = parser.parse_args(argv)
    if args.from_runs:
        return _from_runs(args)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    dims = [d for d in args.dims if d > 0] + ([] if args.no_black_scholes else [0])
    # smallest cells first: an interrupted run has whole sizes (with --log)
    jobs = sorted(((d, m, s) for d in dims for m in args.sizes for s in range(args.seeds)),
                  key=lambda j: (j[1], j[0], j[2]))
    start = time.perf_counter()
    if args.n_jobs == 1:
        parts = (run_cell(*job, args.models) for job in jobs)
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
            delayed(run_cell)(*job, args.models) for job in jobs)
    rows = []
    for part in parts:
        rows += part
        if args.log:
            with open(args.log, "a", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=RUN_COLUMNS, extrasaction="ignore")
                if fh.tell() == 0:
                    writer.writeheader()
                writer.writerows(part)
        print(f"  done d={part[0]['d']} m={part[0]['m']} seed={part[0]['seed']} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    table = summarize(rows)
    load = os.getloadavg()
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("``python -m", 1)[0].strip(),
        "",
        f"Medians over {args.seeds} seeds. `*_vs_twin`: ratio of the medians to the twin net's (same seeds); "
        "`fit_cpu_s`: CPU seconds of the fit, one thread; `published_twin`: the authors' notebook "
        "charts (one random market and seed). "
        f"Run: `python -m benchmarks.differential_ml --dims {' '.join(map(str, args.dims))} --sizes "
        f"{' '.join(map(str, args.sizes))} --seeds {args.seeds} --n-jobs {args.n_jobs}`"
        f"{'' if args.models == DEFAULT_MODELS else ' --models ' + ' '.join(repr(m) for m in args.models)}; "
        f"{time.perf_counter() - start:.0f} s wall; load average at the end {load[0]:.1f} "
        f"(a shared 2-core machine: compare times only as ratios within this table).",
        "",
        "Verdicts (medians; the issue's bar: at or below the twin net in values and deltas, CPU time <= 2x, "
        "below the published twin net):",
        "",
        *verdicts(table),
    ])
    return _write(args, rows, table, notes)


def _write(args, rows, table, notes):
    """The summary table, every run, the plot and the verdicts (a run and --from-runs alike)."""
    write_results(args.name, TITLE, table, COLUMNS, notes)
    write_results(f"{args.name}_runs", "Differential ML: every run", rows, RUN_COLUMNS, "")
    if args.plot:
        plot(table, _report._results_dir / f"{args.name}.png")
    print("\n".join(verdicts(table)))
    return rows, table


def _from_runs(args):
    rows = []
    for path in args.from_runs:
        with open(path) as fh:
            for r in csv.DictReader(fh):
                for key in ("d", "m", "seed"):
                    r[key] = int(r[key])
                for key in ("value_rmse_x100", "delta_rmse_x100", "fit_cpu_s", "fit_wall_s"):
                    r[key] = float(r[key]) if r[key] not in ("", "nan") else np.nan
                rows.append(r)
    table = summarize(rows)
    seeds = sorted({r["seed"] for r in rows})
    notes = "\n".join([
        __doc__.split("\n\n", 1)[1].rsplit("``python -m", 1)[0].strip(), "",
        f"Medians over seeds {seeds}. Rebuilt from {', '.join(map(str, args.from_runs))}: "
        "see those runs' commands in the commit message and the user guide.", "",
        "Verdicts (medians; the issue's bar: at or below the twin net in values and deltas, CPU time <= 2x, "
        "below the published twin net):",
        "", *verdicts(table)])
    return _write(args, rows, table, notes)


if __name__ == "__main__":
    main()
