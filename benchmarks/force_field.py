"""Force fields from energies and forces: sklearn-gi's kernel models against sGDML, same data and split.

Data: ``benchmarks/data/<molecule>.npz`` from ``benchmarks/make_force_field_data.py`` (GFN2-xTB
Langevin MD at 500 K; a training pool and an independent test trajectory). Each cell trains on
``n`` geometries drawn (seeded) from the training pool and scores force and energy MAE on the
first ``--n-test`` test geometries. Inputs are flattened coordinates (Angstrom), targets the
energies (kcal/mol) and ``dYdX = -forces`` (kcal/mol/A).

Models (``--models``):

* ``sgdml``: sGDML 1.0.3 as its CLI trains it (``sgdml all``): forces only (energies recover the
  integration constant), Matern-5/2 on inverse distances, permutational symmetries found by its
  own matching, ``lam=1e-10``, length scale ``sigma`` from the CLI's default grid 10, 20, ..., 90
  (extended while the best is at an edge) by the validation force RMSE on ``n_valid`` further
  pool geometries (disjoint from the training ones). ``fit_s`` is the whole search, ``fit_one_s``
  the one training at the chosen sigma.
* ``gdml``: the same without symmetries (``use_sym=False``): what symmetrisation is worth.
* ``gikrr_sgdml_kernel``: :class:`~sklearn_gi.kernel_ridge.GIKernelRidge` with sGDML's kernel
  (isotropic ``Matern(nu=2.5)`` on the raw inverse distances, the same sigma grid and
  validation selection), energies centred by hand (the estimator fits no intercept), energies
  and forces both in the fit, ``alpha=1e-10``: sGDML's ``lam`` (its system is the same kernel
  Hessian plus ``lam`` on the diagonal; scaling the targets leaves the solution unchanged).
* ``gikrr_sgdml_kernel_augmented``: the same, trained on every geometry once per atom
  permutation that sGDML's matching finds (data augmentation: the simplest way to give our
  model sGDML's symmetries, at ``P`` times the rows).
* ``gikrr_sgdml_kernel_symmetric``: the same symmetries through
  :class:`~sklearn_gi.kernels.PermutationInvariantKernel` (the atom permutations mapped to
  permutations of the inverse distances): sGDML's own construction, ``n (1 + d)`` rows.
* ``gigp_sgdml_kernel`` / ``gigp_sgdml_kernel_symmetric``:
  :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor` on the raw inverse distances
  with ``C * Matern(nu=2.5)`` (plain or permutation-invariant), started at amplitude 1e4 and
  sigma 5 (on 30 geometries the log likelihood is -6.9e3 there, -3.4e10 at amplitude 1 and
  sigma 20, where the search stays: forces are large next to the energies' spread), fitted by
  maximum likelihood (default ``normalize_y``, gradient noise ``alpha``).
* ``gigp_matern`` / ``gigp_rbf``: :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor`
  after ``InverseDistances()`` and ``StandardScaler()``: ``C * Matern(nu=2.5)`` or ``C * RBF``,
  isotropic, plus a ``WhiteKernel``, all by maximum likelihood (default ``normalize_y``).
* ``gigp_default``: the same pipeline with the estimator's default kernel (what the issue tried).

Each cell runs in its own subprocess (one BLAS thread); ``peak_rss_MiB`` is its peak resident
memory (``ru_maxrss`` of the process and its children), ``fit_cpu_s`` its CPU time. Cells whose
estimated memory exceeds ``--max-gb`` are reported as skipped, not run. Reproduce the committed
table with ``python -m benchmarks.force_field`` (full; hours) or one cell with
``python -m benchmarks.force_field --molecules ethanol --n-train 200 --models sgdml``.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from ._report import write_results
except ImportError:  # run as a script
    from _report import write_results

# the committed data; the environment variable points the benchmark elsewhere (tests, new data)
DATA_DIR = Path(os.environ.get("SKLEARN_GI_FORCE_FIELD_DATA", Path(__file__).resolve().parent / "data"))
SIGMA_GRID = tuple(range(10, 100, 10))  # sGDML's CLI default
_sigma_grid = list(SIGMA_GRID)
ALL_MODELS = ("sgdml", "gdml", "gikrr_sgdml_kernel", "gikrr_sgdml_kernel_augmented",
              "gikrr_sgdml_kernel_symmetric", "gigp_sgdml_kernel", "gigp_sgdml_kernel_symmetric",
              "gigp_matern", "gigp_rbf", "gigp_default")
COLUMNS = ["molecule", "model", "n_train", "force_mae", "force_rmse", "energy_mae", "fit_s",
           "fit_cpu_s", "fit_one_s", "predict_s", "peak_rss_MiB", "hyperparameters", "status"]


def load_molecule(name):
    """The arrays of ``benchmarks/data/<name>.npz`` as a dict."""
    with np.load(DATA_DIR / f"{name}.npz") as data:
        return {key: data[key] for key in data.files}


def split(data, n_train, n_valid, seed=0):
    """Disjoint seeded draws from the training pool: training and validation indices."""
    pool = data["R_train"].shape[0]
    if n_train + n_valid > pool:
        n_valid = pool - n_train
    if n_valid < 1:
        raise ValueError(f"n_train={n_train} leaves no validation geometries in a pool of {pool}.")
    order = np.random.default_rng(seed).permutation(pool)
    return order[:n_train], order[n_train:n_train + n_valid]


def arrays(data, part, index=None):
    """``X`` (n, 3 n_atoms) float64, energies (n,), ``dYdX = -forces`` (n, 3 n_atoms)."""
    R, E, F = (data[f"{key}_{part}"] for key in "REF")
    if index is not None:
        R, E, F = R[index], E[index], F[index]
    n = R.shape[0]
    return (R.reshape(n, -1).astype(np.float64), E.astype(np.float64),
            -F.reshape(n, -1).astype(np.float64))


def estimated_gb(model, n_train, n_atoms):
    """Rough peak memory of a cell (GB), to skip what cannot fit."""
    d = 3 * n_atoms
    p = n_atoms * (n_atoms - 1) // 2
    if model in ("sgdml", "gdml"):
        # its analytic solver: the (n d)^2 kernel matrix, a copy and workspace
        return 3 * 8 * (n_train * d) ** 2 / 1e9
    rows = n_train * (1 + d)
    if model.startswith("gikrr"):
        # the joint matrix, factorised in place (sklearn_gi.kernels._feature_jacobian never
        # forms the descriptor-space block), and the validation predictions
        return 1.1 * 8 * rows ** 2 / 1e9 + 0.5
    if model.startswith("gigp_sgdml_kernel"):
        # the joint matrix and its factor (the likelihood's adjoint reuses the factor's memory)
        return 2.2 * 8 * rows ** 2 / 1e9 + 0.5
    # the GP after a StandardScaler: the joint matrix and its factor, plus the (n, n, p, p)
    # descriptor-space block where its kernel's gradient falls back to the projected blocks
    return (2 * 8 * rows ** 2 + 2 * 8 * n_train ** 2 * p ** 2) / 1e9


# ------------------------------------------------------------------ one cell (in a subprocess)
def _sgdml_dataset(name, R, E, F, z, theory):
    from sgdml.utils import io

    dataset = {
        "type": "d", "code_version": "1.0.3", "name": name, "theory": theory,
        "R": R, "z": z, "E": E.reshape(-1, 1), "F": F, "r_unit": "Ang", "e_unit": "kcal/mol",
    }
    dataset = {key: np.asarray(value) for key, value in dataset.items()}
    dataset["md5"] = np.asarray(io.dataset_md5(dataset))
    return dataset


def _extended(grid, best):
    """Widen ``grid`` in place when ``best`` sits at its edge (sigma > 0); False when the search is done.

    sGDML's CLI only warns at an edge of the grid; both searches here extend it
    instead, and search nothing when one sigma was given.
    """
    if len(_sigma_grid) == 1:
        return False
    if best == max(grid):
        grid.append(best + 10)
    elif best == min(grid) and best > 1:
        grid.insert(0, max(1, best // 2))
    else:
        return False
    return True


def _run_sgdml(data, train, valid, test, use_sym, max_gb):
    np.in1d = np.isin  # sgdml 1.0.3 calls np.in1d, removed in numpy 2.4 (benchmark only)
    import logging

    from sgdml.predict import GDMLPredict
    from sgdml.train import GDMLTrain

    logging.getLogger("sgdml").setLevel(logging.WARNING)
    z = data["z"]
    theory = str(data["theory"])
    with tempfile.TemporaryDirectory() as folder:
        # its own dataset .npz format, written and read back as the CLI does
        for part, index in (("train", train), ("valid", valid)):
            R, E, F = (data[f"{key}_train"][index].astype(np.float64) for key in "REF")
            np.savez_compressed(Path(folder) / f"{part}.npz",
                                **_sgdml_dataset(f"{part}", R, E, F, z, theory))
        train_set = dict(np.load(Path(folder) / "train.npz"))
        valid_set = dict(np.load(Path(folder) / "valid.npz"))
    trainer = GDMLTrain(max_memory=int(max_gb), max_processes=1)
    np.random.seed(0)  # its stratified sampling (of all the given geometries) and matching
    R_valid = valid_set["R"].reshape(len(valid), -1)
    F_valid = valid_set["F"].reshape(len(valid), -1)
    scores, models, one_fit = {}, {}, {}
    perms = None
    grid = list(_sigma_grid)
    while True:
        for sig in grid:
            if sig in scores:
                continue
            start = time.perf_counter()
            task = trainer.create_task(train_set, len(train), valid_set, len(valid), sig=sig,
                                       lam=1e-10, use_sym=use_sym, perms=perms)
            perms = task["perms"]  # the matching runs once
            model = trainer.train(task)
            one_fit[sig] = time.perf_counter() - start
            _, F_pred = GDMLPredict(model, max_processes=1).predict(R_valid)
            scores[sig] = float(np.sqrt(np.mean((F_pred - F_valid) ** 2)))
            models[sig] = model
        best = min(scores, key=scores.get)
        if not _extended(grid, best):
            break
    model = models[best]
    n_perms = int(model["perms"].shape[0])
    start = time.perf_counter()
    E_pred, F_pred = GDMLPredict(model, max_processes=1).predict(test[0])
    predict_s = time.perf_counter() - start
    return E_pred, -F_pred, predict_s, one_fit[best], (
        f"sigma={best} (grid {min(grid)}-{max(grid)}), {n_perms} permutations, "
        f"solver {model.get('solver_name', '?')}")


def _sgdml_permutations(data, train):
    """The atom permutations sGDML's matching finds in the training geometries, ``(P, n_atoms)``."""
    np.in1d = np.isin  # sgdml 1.0.3 calls np.in1d, removed in numpy 2.4 (benchmark only)
    from sgdml.utils import perm

    np.random.seed(0)
    return perm.find_perms(data["R_train"][train].astype(np.float64), data["z"], max_processes=1)


def _augment(X, y, G, permutations):
    """Every training geometry once per atom permutation (energies unchanged, forces permuted)."""
    n = X.shape[0]
    coordinates = (X.reshape(n, -1, 3), G.reshape(n, -1, 3))
    X_all = np.concatenate([coordinates[0][:, p].reshape(n, -1) for p in permutations])
    G_all = np.concatenate([coordinates[1][:, p].reshape(n, -1) for p in permutations])
    return X_all, np.tile(y, len(permutations)), G_all


def _sigma_search_gikrr(data, train, valid, symmetrise=None):
    """GIKernelRidge with sGDML's kernel; ``symmetrise``: None, "augmented" or "kernel"."""
    from sklearn.gaussian_process.kernels import Matern

    from sklearn_gi.kernel_ridge import GIKernelRidge
    from sklearn_gi.kernels import PermutationInvariantKernel
    from sklearn_gi.pipeline import make_gi_pipeline
    from sklearn_gi.preprocessing import InverseDistances

    X, y, G = arrays(data, "train", train)
    extra, pair_permutations = "", None
    if symmetrise:
        permutations = _sgdml_permutations(data, train)
        extra = f", {len(permutations)} permutations ({symmetrise})"
        if symmetrise == "augmented":
            X, y, G = _augment(X, y, G, permutations)
        else:
            pair_permutations = InverseDistances().fit(X).pair_permutations(permutations)
    X_valid, _, G_valid = arrays(data, "train", valid)
    offset = y.mean()

    def fit(sig):
        kernel = Matern(length_scale=float(sig), nu=2.5)
        if pair_permutations is not None:
            kernel = PermutationInvariantKernel(kernel, pair_permutations)
        model = make_gi_pipeline(InverseDistances(), GIKernelRidge(alpha=1e-10, kernel=kernel))
        return model.fit(X, y - offset, dYdX=G)

    scores, one_fit, grid = {}, {}, list(_sigma_grid)
    best_model = best_score = None
    while True:
        for sig in grid:
            if sig in scores:
                continue
            start = time.perf_counter()
            model = fit(sig)
            one_fit[sig] = time.perf_counter() - start
            scores[sig] = float(np.sqrt(np.mean((model.predict_gradient(X_valid) - G_valid) ** 2)))
            if best_model is None or scores[sig] < best_score:
                # kept rather than refitted: a fitted model holds no kernel matrix
                best_model, best_score = model, scores[sig]
        best = min(scores, key=scores.get)
        if not _extended(grid, best):
            break
    return best_model, offset, one_fit[best], f"sigma={best} (grid {min(grid)}-{max(grid)}){extra}"


def _gigp_sgdml_kernel(data, train, symmetric, start=(1e4, 5.0)):
    """GIGP with sGDML's kernel on the raw inverse distances, by likelihood from ``start``."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern

    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    from sklearn_gi.kernels import PermutationInvariantKernel
    from sklearn_gi.pipeline import make_gi_pipeline
    from sklearn_gi.preprocessing import InverseDistances

    X, y, G = arrays(data, "train", train)
    base = Matern(length_scale=float(start[1]), length_scale_bounds=(1e-2, 1e4), nu=2.5)
    if symmetric:
        pairs = InverseDistances().fit(X).pair_permutations(_sgdml_permutations(data, train))
        base = PermutationInvariantKernel(base, pairs)
    kernel = ConstantKernel(float(start[0]), (1e-4, 1e10)) * base
    model = make_gi_pipeline(InverseDistances(), GIGaussianProcessRegressor(kernel, random_state=0))
    model.fit(X, y, dYdX=G)
    gp = model[-1]
    return model, f"{gp.kernel_}, log-likelihood {gp.log_marginal_likelihood_value_:.4g}"


def _gigp(kind, random_state=0):
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
    from sklearn.preprocessing import StandardScaler

    from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
    from sklearn_gi.pipeline import make_gi_pipeline
    from sklearn_gi.preprocessing import InverseDistances

    if kind == "default":
        kernel = None
    else:
        base = Matern(length_scale=3.0, nu=2.5) if kind == "matern" else RBF(length_scale=3.0)
        kernel = ConstantKernel(1.0) * base + WhiteKernel(1e-4, (1e-10, 1e0))
    return make_gi_pipeline(InverseDistances(), StandardScaler(),
                            GIGaussianProcessRegressor(kernel, random_state=random_state))


def run_cell(molecule, model_name, n_train, n_valid, n_test, max_gb):
    """Fit and score one cell in this process; returns a result row (dict)."""
    data = load_molecule(molecule)
    train, valid = split(data, n_train, n_valid)
    test = arrays(data, "test", np.arange(min(n_test, data["R_test"].shape[0])))
    start_wall, start_cpu = time.perf_counter(), _cpu_seconds()
    fit_one_s = float("nan")
    if model_name in ("sgdml", "gdml"):
        E_pred, G_pred, predict_s, fit_one_s, hyper = _run_sgdml(
            data, train, valid, test, use_sym=model_name == "sgdml", max_gb=max_gb)
        fit_s = time.perf_counter() - start_wall - predict_s
        fit_cpu_s = _cpu_seconds() - start_cpu
    else:
        if model_name.startswith("gikrr_sgdml_kernel"):
            symmetrise = model_name[len("gikrr_sgdml_kernel_"):] or None
            model, offset, fit_one_s, hyper = _sigma_search_gikrr(data, train, valid, symmetrise)
        elif model_name.startswith("gigp_sgdml_kernel"):
            model, hyper = _gigp_sgdml_kernel(data, train, model_name.endswith("_symmetric"))
            offset = 0.0
        else:
            X, y, G = arrays(data, "train", train)
            model = _gigp(model_name.split("_", 1)[1]).fit(X, y, dYdX=G)
            offset = 0.0
            hyper = str(model[-1].kernel_)
        fit_s = time.perf_counter() - start_wall
        fit_cpu_s = _cpu_seconds() - start_cpu
        start = time.perf_counter()
        E_pred = model.predict(test[0]) + offset
        G_pred = model.predict_gradient(test[0])
        predict_s = time.perf_counter() - start
    force_error = G_pred - test[2]
    return {
        "molecule": molecule, "model": model_name, "n_train": n_train,
        "force_mae": float(np.mean(np.abs(force_error))),
        "force_rmse": float(np.sqrt(np.mean(force_error ** 2))),
        "energy_mae": float(np.mean(np.abs(E_pred - test[1]))),
        "fit_s": fit_s, "fit_cpu_s": fit_cpu_s, "fit_one_s": fit_one_s, "predict_s": predict_s,
        "peak_rss_MiB": _peak_rss_mib(), "hyperparameters": hyper, "status": "ok",
    }


def _cpu_seconds():
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux reports KiB


# ------------------------------------------------------------------ driver
def _cell_in_subprocess(molecule, model_name, n_train, args):
    command = [sys.executable, "-m", "benchmarks.force_field", "--cell", molecule, model_name,
               str(n_train), "--n-valid", str(args.n_valid), "--n-test", str(args.n_test),
               "--max-gb", str(args.max_gb), "--sigmas", *map(str, args.sigmas)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    row = {"molecule": molecule, "model": model_name, "n_train": n_train}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout,
                              env=env, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        return {**row, "status": f"timeout after {args.timeout} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
        return {**row, "status": f"failed (rc {done.returncode}): {tail}"}
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="*", default=["ethanol", "aspirin"])
    parser.add_argument("--models", nargs="+", default=list(ALL_MODELS), choices=ALL_MODELS)
    parser.add_argument("--n-train", nargs="+", type=int, default=[200, 600, 1000])
    parser.add_argument("--n-valid", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--max-gb", type=float, default=8.0,
                        help="skip cells whose estimated memory is larger")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--sigmas", nargs="+", type=int, default=list(SIGMA_GRID),
                        help="length-scale grid of the validated models (sGDML's CLI default)")
    parser.add_argument("--name", default="force_field", help="results file name")
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of other cells already in the results CSV")
    parser.add_argument("--merge", nargs="*", default=[], metavar="NAME",
                        help="with --update: also take the rows of these results (names or .csv paths)")
    parser.add_argument("--notes", default="", help="text added to the table's notes")
    parser.add_argument("--cell", nargs=3, metavar=("MOLECULE", "MODEL", "N"),
                        help="run one cell in this process and print its row as JSON")
    args = parser.parse_args(argv)
    global _sigma_grid
    _sigma_grid = sorted(args.sigmas)
    if args.cell:
        molecule, model_name, n_train = args.cell
        print(json.dumps(run_cell(molecule, model_name, int(n_train), args.n_valid, args.n_test,
                                  args.max_gb)))
        return None
    rows = []
    for molecule in args.molecules:
        n_atoms = load_molecule(molecule)["z"].shape[0]
        for n_train in args.n_train:
            for model_name in args.models:
                need = estimated_gb(model_name, n_train, n_atoms)
                if need > args.max_gb:
                    row = {"molecule": molecule, "model": model_name, "n_train": n_train,
                           "status": f"skipped: needs ~{need:.0f} GB > --max-gb {args.max_gb:g}"}
                else:
                    row = _cell_in_subprocess(molecule, model_name, n_train, args)
                row = {column: row.get(column, "") for column in COLUMNS}
                print(row, flush=True)
                rows.append(row)
    if args.update:
        for other in args.merge:
            rows = _merge_with_saved(other, rows)
        rows = _merge_with_saved(args.name, rows)
    notes = (
        "Same data and split for every model: `n_train` geometries drawn (seed 0) from the "
        f"training trajectory, sGDML's validation set the next {args.n_valid} of that draw, the "
        f"first {args.n_test} geometries of an independent test trajectory. MAE in kcal/mol/A "
        "(forces) and kcal/mol (energies). `fit_s` wall seconds (including any hyperparameter "
        "search), `fit_cpu_s` CPU seconds of the cell process and its children, one BLAS thread; "
        "`peak_rss_MiB` peak resident memory of the cell's process. The machine was shared with "
        "other jobs: compare CPU seconds, and wall times only within a run. Reproduce a row: "
        "`python -m benchmarks.force_field --molecules M --n-train N --models MODEL [--sigmas ...]` "
        "(the sigma grid searched is in `hyperparameters`)."
    ) + ("\n\n" + args.notes if args.notes else "")
    write_results(args.name, "Force fields from energies and forces: sklearn-gi vs sGDML", rows,
                  COLUMNS, notes=notes)
    return rows


def _merge_with_saved(name, rows):
    """Rows of the saved CSV for other cells, then this run's rows, in a stable order."""
    import csv

    from ._report import _results_dir

    path = Path(name) if str(name).endswith(".csv") else Path(_results_dir) / f"{name}.csv"
    key = ("molecule", "model", "n_train")
    fresh = {tuple(str(row[k]) for k in key) for row in rows}
    saved = []
    if path.exists():
        with open(path, newline="") as fh:
            saved = [row for row in csv.DictReader(fh) if tuple(row[k] for k in key) not in fresh]
    order = {model: i for i, model in enumerate(ALL_MODELS)}
    merged = saved + rows
    merged.sort(key=lambda row: (str(row["molecule"]), int(row["n_train"]), order.get(row["model"], 99)))
    return [{column: _parsed(row.get(column, "")) for column in COLUMNS} for row in merged]


def _parsed(value):
    """CSV strings back to floats, so that the table formats them like fresh rows."""
    if isinstance(value, str):
        try:
            return int(value) if value.isdigit() else float(value)
        except ValueError:
            return value
    return value


if __name__ == "__main__":
    main()
