"""GIConditionalGAN with and without pathwise derivatives, and GIMLPRegressor, on the three
stochastic problems of ``sklearn_gi.datasets.make_stochastic_problem``.

Per problem and seed: ``n_train`` simulator runs (one per input, inputs uniform on
the problem's box) with their pathwise derivatives; the same GAN (the estimator's
defaults, the same seed) is fitted with ``dYdX`` and without it, and
``GIMLPRegressor`` (defaults) is fitted to the same runs with ``dYdX`` (a
regression of the conditional mean). On ``n_test`` held-out inputs, each GAN draws
``n_draws`` outputs per input and the exact sampler draws as many; reported are
the energy distance per input (``sklearn_gi.metrics.energy_distance``, averaged
over the inputs), the RMSE of the conditional mean (GAN: ``predict``, its mean
network ``mu``; for images the error of the mean image, over pixels)
(GIMLPRegressor also with ``early_stopping=True``: its default L-BFGS fit is
unregularised)
against the exact mean (GARCH: Monte Carlo, 20,000 runs), and divergences
(``FloatingPointError`` in training). Medians over seeds; ``ED factor`` is the
median energy distance without gradients over the median with them.
Run: ``python -m benchmarks.conditional_gan [--seeds 5] [--n-train 300] [--n-jobs 2]``
(one torch thread per fit). ``--mean-only`` compares the GAN's conditional mean
alone (the regression fitted before the game) for many seeds at little cost;
``--hide-derivatives half-runs|first-input`` marks derivatives unknown (NaN), with
``--critic-gradients true|false`` to see what the discriminator's derivatives
add when some are unknown.
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


def _hide(dYdX, hide):
    """Mark derivatives unknown (NaN): every other run's, or every run's first input's."""
    if hide == "none":
        return dYdX
    dYdX = np.array(dYdX, dtype=float)
    if hide == "half-runs":
        dYdX[::2] = np.nan
    else:  # "first-input"
        dYdX[..., 0] = np.nan
    return dYdX


def _one(name, seed, n_train, n_test, n_draws, gan_params, mean_only=False, hide="none"):
    import torch
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_gi.generative import GIConditionalGAN
    from sklearn_gi.neural_network import GIMLPRegressor

    torch.set_num_threads(1)
    problem = get_stochastic_problem(name)
    X, Y, dYdX = make_stochastic_problem(name, n_train, random_state=seed)
    dYdX = _hide(dYdX, hide)
    X_test = problem.sample_inputs(n_test, random_state=10_000 + seed)
    reference = problem.reference_sample(X_test, n_draws, random_state=20_000 + seed)
    mean = problem.conditional_mean(X_test)
    rows = []
    for label in MODELS:
        if mean_only and label == "GAN_values_only":
            continue
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
        if label.startswith("GAN") and not mean_only:
            draws = model.sample(X_test, n_draws, random_state=30_000 + seed).reshape(n_test, n_draws, -1)
            row["energy_distance"] = energy_distance(draws, reference)
        else:
            row["energy_distance"] = np.nan
        rows.append(row)
    return rows


def run(problems, n_train, seeds, *, n_test=30, n_draws=200, n_jobs=1, gan_params=None,
        mean_only=False, hide="none"):
    """Per-run rows (problem, seed, model) and the summary rows (problem, model).

    ``mean_only``: the GAN's conditional mean only. With the default
    ``mean_solver="lbfgs"`` it is the regression fitted before the game, which
    the game leaves alone, so one epoch of the game gives the same mean: many
    seeds at the cost of GIMLPRegressor fits (no distributions, no ``GAN_values_only``).
    ``hide``: "half-runs" or "first-input" marks those derivatives unknown (NaN)
    for every model.
    """
    gan_params = dict(gan_params or {})
    if mean_only:
        if gan_params.get("mean_solver", "lbfgs") != "lbfgs" or not gan_params.get("mean_residual", True):
            raise ValueError("mean_only needs mean_solver='lbfgs' and mean_residual=True.")
        gan_params["max_iter"] = 1
    models = [m for m in MODELS if not (mean_only and m == "GAN_values_only")]
    tasks = [(name, seed) for name in problems for seed in seeds]
    if n_jobs == 1:
        results = (_one(name, seed, n_train, n_test, n_draws, gan_params, mean_only, hide)
                   for name, seed in tasks)
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_one)(name, seed, n_train, n_test, n_draws, gan_params, mean_only, hide)
            for name, seed in tasks
        )
    runs = []
    for rows in results:  # printed as they come, so that a long run shows its progress
        for row in rows:
            print(" ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                           for key, value in row.items()), flush=True)
        runs.extend(rows)
    runs.sort(key=lambda r: (problems.index(r["problem"]), r["seed"], models.index(r["model"])))
    summary = []
    for name in problems:
        medians = {}
        for label in models:
            rows = [r for r in runs if r["problem"] == name and r["model"] == label]
            ok = [r for r in rows if not r["diverged"]]
            medians[label] = {key: float(np.median([r[key] for r in ok])) if ok else np.nan
                              for key in ("energy_distance", "mean_rmse", "fit_s")}
            summary.append(dict(problem=name, model=label, n_train=n_train, seeds=len(rows),
                                diverged=sum(r["diverged"] for r in rows),
                                energy_distance=medians[label]["energy_distance"],
                                mean_rmse=medians[label]["mean_rmse"],
                                fit_s=medians[label]["fit_s"]))
        mlps = ("GIMLP_with_gradients", "GIMLP_early_stopping")
        best_mlp = min(medians[label]["mean_rmse"] for label in mlps)
        # per seed, against the better of the two regressions on that seed
        by_seed = {(r["model"], r["seed"]): r["mean_rmse"] for r in runs if r["problem"] == name}
        seeds_run = sorted({r["seed"] for r in runs if r["problem"] == name})
        best_per_seed = {s: min(by_seed[(label, s)] for label in mlps) for s in seeds_run}
        for row in summary[-len(models):]:
            gi, plain = medians["GAN_with_gradients"], medians.get("GAN_values_only")
            row["ED_factor"] = plain["energy_distance"] / gi["energy_distance"] \
                if row["model"] == "GAN_with_gradients" and plain else np.nan
            row["mean_rmse_vs_GIMLP"] = row["mean_rmse"] / best_mlp
            row["mean_rmse_paired_vs_GIMLP"] = float(np.median(
                [by_seed[(row["model"], s)] / best_per_seed[s] for s in seeds_run]))
            row["paired_vs_GIMLP_defaults"] = float(np.median(
                [by_seed[(row["model"], s)] / by_seed[("GIMLP_with_gradients", s)] for s in seeds_run]))
            row["wins_vs_GIMLP_defaults"] = sum(
                by_seed[(row["model"], s)] < by_seed[("GIMLP_with_gradients", s)] for s in seeds_run)
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
    parser.add_argument("--n-mean-estimators", type=int, default=None,
                        help="GIConditionalGAN's n_mean_estimators (default: the estimator's default)")
    parser.add_argument("--critic-gradients", choices=["default", "true", "false"], default="default",
                        help="GIConditionalGAN's critic_gradients (default: the estimator's default)")
    parser.add_argument("--hide-derivatives", choices=["none", "half-runs", "first-input"],
                        default="none", help="mark derivatives unknown (NaN partials): every other "
                        "run's, or the first input's of every run")
    parser.add_argument("--mean-only", action="store_true",
                        help="the GAN's conditional mean only (the L-BFGS pre-fit), against GIMLPRegressor")
    parser.add_argument("--name", default=None,
                        help="results file name (default: conditional_gan, or conditional_gan_mean)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    gan_params = {} if args.max_iter is None else {"max_iter": args.max_iter}
    if args.mean_residual != "default":
        gan_params["mean_residual"] = args.mean_residual == "true"
    if args.mean_solver != "default":
        gan_params["mean_solver"] = args.mean_solver
    if args.n_mean_estimators is not None:
        gan_params["n_mean_estimators"] = args.n_mean_estimators
    if args.critic_gradients != "default":
        gan_params["critic_gradients"] = args.critic_gradients == "true"
    start = time.perf_counter()
    name = args.name or ("conditional_gan_mean" if args.mean_only else "conditional_gan")
    runs, summary = run(args.problems, args.n_train, list(range(args.seeds)), n_test=args.n_test,
                        n_draws=args.n_draws, n_jobs=args.n_jobs, gan_params=gan_params,
                        mean_only=args.mean_only, hide=args.hide_derivatives)
    notes = (
        f"{args.n_train} runs per fit, {args.seeds} seeds (medians), {args.n_test} held-out inputs "
        f"with {args.n_draws} draws each, GAN parameters {gan_params or 'defaults'}, one torch "
        f"thread per fit, {args.n_jobs} fits in parallel, {time.perf_counter() - start:.0f} s in "
        "all. `energy_distance`: per held-out input between the model's and the exact sampler's "
        "draws, averaged over inputs (lower is better; GIMLP has no distribution). `mean_rmse`: "
        "conditional mean against the exact one. `ED_factor`: energy distance without gradients "
        "/ with them. `mean_rmse_vs_GIMLP`: the row's mean RMSE / the better GIMLPRegressor's "
        "(defaults or early stopping; below 1: more accurate); `mean_rmse_paired_vs_GIMLP`: the "
        "median over seeds of the row's mean RMSE / the better GIMLPRegressor's on the same seed "
        "(paired); `paired_vs_GIMLP_defaults`: the same against GIMLPRegressor with its defaults, "
        "and `wins_vs_GIMLP_defaults` the seeds where the row's mean is the more accurate. "
        "`diverged`: fits stopped by a non-finite loss."
        + (" Mean only: the GAN's mean is the L-BFGS regressions' average fitted before the game (one epoch "
           "of the game is run; it leaves the mean alone); no distributions." if args.mean_only else "")
        + (f" Derivatives hidden (NaN): {args.hide_derivatives}." if args.hide_derivatives != "none"
           else "")
    )
    columns = ["problem", "model", "n_train", "seeds", "diverged", "energy_distance", "ED_factor",
               "mean_rmse", "mean_rmse_vs_GIMLP", "mean_rmse_paired_vs_GIMLP",
               "paired_vs_GIMLP_defaults", "wins_vs_GIMLP_defaults", "fit_s"]
    write_results(name, "Conditional GAN with and without pathwise derivatives",
                  summary, columns, notes)
    write_results(f"{name}_runs", "Conditional GAN: every run", runs,
                  ["problem", "seed", "model", "n_train", "diverged", "energy_distance", "mean_rmse",
                   "fit_s"], notes)
    return summary


if __name__ == "__main__":
    main()
