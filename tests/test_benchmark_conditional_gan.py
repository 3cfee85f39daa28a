"""The conditional GAN benchmark runs and reports what it claims, on a tiny budget."""

import numpy as np

from benchmarks import conditional_gan


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
