"""GIConditionalGAN with and without pathwise derivatives, and GIMLPRegressor, on the three
stochastic problems of ``sklearn_gi.datasets.make_stochastic_problem``.

Per problem and seed: ``n_train`` simulator runs (one per input, inputs uniform on
the problem's box) with their pathwise derivatives; the same GAN (the estimator's
defaults, the same seed) is fitted with ``dYdX`` and without it, and
``GIMLPRegressor`` (defaults) is fitted to the same runs with ``dYdX`` (a
regression of the conditional mean). On ``n_test`` held-out inputs, each GAN draws
``n_draws`` outputs per input and the exact sampler draws as many; reported are
the energy distance per input (``sklearn_gi.metrics.energy_distance``, averaged
over the inputs), the RMSE of the conditional mean (GAN: the mean of
``predict_samples`` draws; for images the error of the mean image, over pixels)
(GIMLPRegressor also with ``early_stopping=True``: its default L-BFGS fit is
unregularised)
against the exact mean (GARCH: Monte Carlo, 20,000 runs), and divergences
(``FloatingPointError`` in training). Medians over seeds; ``ED factor`` is the
median energy distance without gradients over the median with them.
Run: ``python -m benchmarks.conditional_gan [--seeds 5] [--n-train 300] [--n-jobs 2]``
(one torch thread per fit).
"""

import argparse
import os
import time
import warnings

import numpy as np

from sklearn_gi.datasets import get_stochastic_problem, make_stochastic_problem
from sklearn_gi.metrics import energy_distance

from ._report import write_results

PROBLEMS = ["heteroscedastic", "garch", "blob_image"]
MODELS = ["GAN_with_gradients", "GAN_values_only", "GIMLP_with_gradients", "GIMLP_early_stopping"]


def _one(name, seed, n_train, n_test, n_draws, gan_params):
    import torch
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_gi.generative import GIConditionalGAN
    from sklearn_gi.neural_network import GIMLPRegressor

    torch.set_num_threads(1)
    problem = get_stochastic_problem(name)
    X, Y, dYdX = make_stochastic_problem(name, n_train, random_state=seed)
    X_test = problem.sample_inputs(n_test, random_state=10_000 + seed)
    reference = problem.reference_sample(X_test, n_draws, random_state=20_000 + seed)
    mean = problem.conditional_mean(X_test)
    rows = []
    for label in MODELS:
        start = time.perf_counter()
        row = dict(problem=name, seed=seed, model=label, n_train=n_train, diverged=0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if label.startswith("GAN"):
                    model = GIConditionalGAN(random_state=seed, **gan_params)
                    model.fit(X, Y, dYdX if label == "GAN_with_gradients" else None)
                elif label == "GIMLP_early_stopping":
                    model = GIMLPRegressor(early_stopping=True, random_state=seed).fit(X, Y, dYdX)
                else:
                    model = GIMLPRegressor(random_state=seed).fit(X, Y, dYdX)
        except FloatingPointError:
            row.update(diverged=1, energy_distance=np.nan, mean_rmse=np.nan, fit_s=np.nan)
            rows.append(row)
            continue
        row["fit_s"] = time.perf_counter() - start
        predicted = model.predict(X_test).reshape(n_test, -1)
        row["mean_rmse"] = float(np.sqrt(np.mean((predicted - mean) ** 2)))
        if label.startswith("GAN"):
            draws = model.sample(X_test, n_draws, random_state=30_000 + seed).reshape(n_test, n_draws, -1)
            row["energy_distance"] = energy_distance(draws, reference)
        else:
            row["energy_distance"] = np.nan
        rows.append(row)
    return rows


def run(problems, n_train, seeds, *, n_test=30, n_draws=200, n_jobs=1, gan_params=None):
    """Per-run rows (problem, seed, model) and the summary rows (problem, model)."""
    gan_params = gan_params or {}
    tasks = [(name, seed) for name in problems for seed in seeds]
    if n_jobs == 1:
        results = (_one(name, seed, n_train, n_test, n_draws, gan_params) for name, seed in tasks)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_one)(name, seed, n_train, n_test, n_draws, gan_params) for name, seed in tasks
        )
    runs = []
    for rows in results:  # printed as they come, so that a long run shows its progress
        for row in rows:
            print(" ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                           for key, value in row.items()), flush=True)
        runs.extend(rows)
    runs.sort(key=lambda r: (problems.index(r["problem"]), r["seed"], MODELS.index(r["model"])))
    summary = []
    for name in problems:
        medians = {}
        for label in MODELS:
            rows = [r for r in runs if r["problem"] == name and r["model"] == label]
            ok = [r for r in rows if not r["diverged"]]
            medians[label] = {key: float(np.median([r[key] for r in ok])) if ok else np.nan
                              for key in ("energy_distance", "mean_rmse", "fit_s")}
            summary.append(dict(problem=name, model=label, n_train=n_train, seeds=len(rows),
                                diverged=sum(r["diverged"] for r in rows),
                                energy_distance=medians[label]["energy_distance"],
                                mean_rmse=medians[label]["mean_rmse"],
                                fit_s=medians[label]["fit_s"]))
        gi, plain, *mlps = (medians[label] for label in MODELS)
        best_mlp = min(mlp["mean_rmse"] for mlp in mlps)
        for row in summary[-len(MODELS):]:
            row["ED_factor"] = plain["energy_distance"] / gi["energy_distance"] \
                if row["model"] == "GAN_with_gradients" else np.nan
            row["mean_rmse_vs_GIMLP"] = row["mean_rmse"] / best_mlp
    return runs, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", nargs="+", default=PROBLEMS)
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-test", type=int, default=30)
    parser.add_argument("--n-draws", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--max-iter", type=int, default=None,
                        help="GAN epochs (default: the estimator's default)")
    parser.add_argument("--mean-residual", choices=["default", "true", "false"], default="default",
                        help="GIConditionalGAN's mean_residual (default: the estimator's default)")
    parser.add_argument("--mean-solver", choices=["default", "lbfgs", "adam"], default="default",
                        help="GIConditionalGAN's mean_solver (default: the estimator's default)")
    parser.add_argument("--critic-gradients", choices=["default", "true", "false"], default="default",
                        help="GIConditionalGAN's critic_gradients (default: the estimator's default)")
    parser.add_argument("--name", default="conditional_gan", help="results file name")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    gan_params = {} if args.max_iter is None else {"max_iter": args.max_iter}
    if args.mean_residual != "default":
        gan_params["mean_residual"] = args.mean_residual == "true"
    if args.mean_solver != "default":
        gan_params["mean_solver"] = args.mean_solver
    if args.critic_gradients != "default":
        gan_params["critic_gradients"] = args.critic_gradients == "true"
    start = time.perf_counter()
    runs, summary = run(args.problems, args.n_train, list(range(args.seeds)), n_test=args.n_test,
                        n_draws=args.n_draws, n_jobs=args.n_jobs, gan_params=gan_params)
    notes = (
        f"{args.n_train} runs per fit, {args.seeds} seeds (medians), {args.n_test} held-out inputs "
        f"with {args.n_draws} draws each, GAN parameters {gan_params or 'defaults'}, one torch "
        f"thread per fit, {args.n_jobs} fits in parallel, {time.perf_counter() - start:.0f} s in "
        "all. `energy_distance`: per held-out input between the model's and the exact sampler's "
        "draws, averaged over inputs (lower is better; GIMLP has no distribution). `mean_rmse`: "
        "conditional mean against the exact one. `ED_factor`: energy distance without gradients "
        "/ with them. `mean_rmse_vs_GIMLP`: the row's mean RMSE / the better GIMLPRegressor's "
        "(defaults or early stopping; below 1: more accurate). `diverged`: fits stopped by a non-finite loss."
    )
    columns = ["problem", "model", "n_train", "seeds", "diverged", "energy_distance", "ED_factor",
               "mean_rmse", "mean_rmse_vs_GIMLP", "fit_s"]
    write_results(args.name, "Conditional GAN with and without pathwise derivatives",
                  summary, columns, notes)
    write_results(f"{args.name}_runs", "Conditional GAN: every run", runs,
                  ["problem", "seed", "model", "n_train", "diverged", "energy_distance", "mean_rmse",
                   "fit_s"], notes)
    return summary


if __name__ == "__main__":
    main()
