"""The conditional GAN benchmark runs and reports what it claims, on a tiny budget."""

import numpy as np
import pytest

from benchmarks import conditional_gan
from sklearn_gi.datasets import get_stochastic_problem, make_stochastic_problem
from sklearn_gi.generative import GIConditionalGAN


def test_rows_and_summary_on_a_tiny_budget():
    runs, summary = conditional_gan.run(["heteroscedastic"], 40, [0, 1], n_test=3, n_draws=10,
                                        gan_params=dict(max_iter=1, generator_layers=(8,),
                                                        discriminator_layers=(8,)))
    assert len(runs) == 2 * len(conditional_gan.MODELS)
    assert {r["model"] for r in runs} == set(conditional_gan.MODELS)
    assert all(r["diverged"] == 0 and r["mean_rmse"] > 0 for r in runs)
    gan_rows = [r for r in runs if r["model"].startswith("GAN")]
    assert all(np.isfinite(r["energy_distance"]) for r in gan_rows)
    gi, plain, mlp, mlp_es = summary
    assert gi["seeds"] == 2
    expected = np.median([r["energy_distance"] for r in runs if r["model"] == "GAN_values_only"]) \
        / np.median([r["energy_distance"] for r in runs if r["model"] == "GAN_with_gradients"])
    assert gi["ED_factor"] == expected
    assert min(mlp["mean_rmse_vs_GIMLP"], mlp_es["mean_rmse_vs_GIMLP"]) == 1.0


def test_mean_only_runs_the_regressions_and_pairs_seeds():
    params = dict(generator_layers=(8,), discriminator_layers=(8,))
    runs, summary = conditional_gan.run(["heteroscedastic"], 40, [0, 1, 2], n_test=3, n_draws=10,
                                        gan_params=params, mean_only=True)
    models = [m for m in conditional_gan.MODELS if m != "GAN_values_only"]
    assert [row["model"] for row in summary] == models
    assert all(np.isnan(r["energy_distance"]) for r in runs)
    gan = summary[0]
    assert np.isnan(gan["ED_factor"])
    rmse = {(r["model"], r["seed"]): r["mean_rmse"] for r in runs}
    ratios = [rmse[("GAN_with_gradients", s)]
              / min(rmse[("GIMLP_with_gradients", s)], rmse[("GIMLP_early_stopping", s)])
              for s in (0, 1, 2)]
    assert gan["mean_rmse_paired_vs_GIMLP"] == np.median(ratios)
    # the same mean as a full GAN fit of the same seed: the game leaves the L-BFGS mean alone
    X, Y, dYdX = make_stochastic_problem("heteroscedastic", 40, random_state=0)
    X_test = get_stochastic_problem("heteroscedastic").sample_inputs(3, random_state=10_000)
    mean = get_stochastic_problem("heteroscedastic").conditional_mean(X_test)
    full = GIConditionalGAN(random_state=0, max_iter=3, **params).fit(X, Y, dYdX)
    full_rmse = float(np.sqrt(np.mean((full.predict(X_test).reshape(3, -1) - mean.reshape(3, -1)) ** 2)))
    assert full_rmse == rmse[("GAN_with_gradients", 0)]
    with pytest.raises(ValueError, match="mean_only"):
        conditional_gan.run(["heteroscedastic"], 40, [0], gan_params={"mean_solver": "adam"},
                            mean_only=True)
