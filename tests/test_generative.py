"""GIConditionalGAN: estimator checks, sampling, the conditional mean and its gradient,
gradient information, masking, divergence and devices."""

import io
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_gi.datasets import get_stochastic_problem, make_stochastic_problem
from sklearn_gi.generative import GIConditionalGAN
from sklearn_gi.metrics import energy_distance, make_energy_scorer

TINY = dict(generator_layers=(8,), discriminator_layers=(8,), latent_dim=2, max_iter=2,
            predict_samples=16, mean_draws=2, random_state=0)


@parametrize_with_checks([GIConditionalGAN(**TINY), GIConditionalGAN(**TINY, mean_residual=False)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def hetero():
    X, y, dydx = make_stochastic_problem("heteroscedastic", 200, random_state=0)
    return X, y, dydx


def test_shapes_of_sample_predict_and_gradient(hetero):
    X, y, dydx = hetero
    gan = GIConditionalGAN(**TINY).fit(X, y, dydx)
    assert gan.sample(X[:4], n_samples=7, random_state=0).shape == (4, 7)
    assert gan.predict(X[:4]).shape == (4,)
    assert gan.predict_gradient(X[:4]).shape == (4, 1)
    Xg, Yg, Gg = make_stochastic_problem("garch", 50, random_state=0)
    gan = GIConditionalGAN(**TINY).fit(Xg, Yg, Gg)
    assert gan.sample(Xg[:3], 5, random_state=0).shape == (3, 5, 5)
    assert gan.predict(Xg[:3]).shape == (3, 5)
    assert gan.predict_gradient(Xg[:3]).shape == (3, 5, 4)
    assert gan.n_iter_ == 2 and len(gan.loss_curve_) == 2 and gan.gradient_loss_curve_ is None
    adam = GIConditionalGAN(**TINY, mean_solver="adam").fit(Xg, Yg, Gg)
    assert adam.mean_estimators_ is None and len(adam.gradient_loss_curve_) == 2


def test_seeded_fits_and_samples_are_reproducible_and_pickle(hetero):
    X, y, dydx = hetero
    a = GIConditionalGAN(**TINY).fit(X, y, dydx)
    b = clone(a).fit(X, y, dydx)
    np.testing.assert_array_equal(a.sample(X[:5], 3, random_state=1), b.sample(X[:5], 3, random_state=1))
    assert not np.array_equal(a.sample(X[:5], 3, random_state=1), a.sample(X[:5], 3, random_state=2))
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict(X[:5]), a.predict(X[:5]))


def test_direct_generator_predict_is_the_mean_of_samples_and_predict_gradient_its_derivative(hetero):
    X, y, dydx = hetero
    gan = GIConditionalGAN(**{**TINY, "max_iter": 5, "predict_samples": 4000, "mean_residual": False})
    gan.fit(X, y, dydx)
    x = np.array([[-0.5], [0.7]])
    draws = gan.sample(x, 4000, random_state=0)
    np.testing.assert_allclose(gan.predict(x), draws.mean(axis=1), atol=4 * draws.std(axis=1).max() / 40)
    h = 1e-3
    fd = (gan.predict(x + h) - gan.predict(x - h)) / (2 * h)
    np.testing.assert_allclose(gan.predict_gradient(x)[:, 0], fd, rtol=1e-2, atol=1e-3)


def test_mean_residual_mean_over_the_anchors_is_predict_and_its_gradient_exact(hetero):
    """G(x, z) = mu(x) + r(x, z) - rbar(x): the mean over the stored anchors is mu(x) = predict."""
    X, y, dydx = hetero
    gan = GIConditionalGAN(**{**TINY, "max_iter": 5, "mean_residual": True, "latent_anchors": 7})
    gan.fit(X, y, dydx)
    module = gan.net_.module_
    anchors = module.anchors
    assert anchors.shape == (7, 2)
    x = np.array([[-0.5], [0.1], [0.7]])
    xs = torch.as_tensor((x - gan.x_mean_) / gan.x_scale_, dtype=torch.float32)
    with torch.no_grad():
        draws = module(torch.cat([xs.repeat_interleave(7, dim=0), anchors.repeat(3, 1)], dim=1))
    anchor_mean = draws.reshape(3, 7).mean(dim=1).double().numpy() * gan.y_scale_ + gan.y_mean_
    np.testing.assert_allclose(anchor_mean, gan.predict(x), rtol=0, atol=1e-6 * gan.y_scale_[0])
    assert draws.std() > 0  # the residual is not identically zero: the draws do spread
    # over z ~ N(0, I) the mean differs from mu by the Monte Carlo error of rbar over 7 anchors
    samples = gan.sample(x, 4000, random_state=0)
    spread = samples.std(axis=1)
    assert np.all(np.abs(samples.mean(axis=1) - gan.predict(x)) < 4 * spread * (1 / 7**0.5 + 1 / 4000**0.5))
    h = 1e-3
    fd = (gan.predict(x + h) - gan.predict(x - h)) / (2 * h)
    np.testing.assert_allclose(gan.predict_gradient(x)[:, 0], fd, rtol=1e-2, atol=1e-3)
    # the anchors are part of the fit: same seed, same anchors; they pickle with the model
    again = clone(gan).fit(X, y, dydx)
    torch.testing.assert_close(again.net_.module_.anchors, anchors)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(gan)).predict(x), gan.predict(x))


# measured (one thread), slope RMSE and energy distance with / without the derivatives: direct
# generator, seed 0: 0.69 / 1.43 and 0.051 / 0.37 (before critic_gradients). Mean-residual (mu the
# average of 5 early-stopped L-BFGS regressions, the discriminator seeing u and dy/dx u), seeds 0-4:
# slope 0.08-0.13 / 0.36-0.53 on every seed; energy ratios 2.08, 0.47, 0.69, 1.16, 0.63 -- at
# this small budget (200 runs, 150 epochs, 32-unit networks) the energy distance of one seed is
# noise, so the test takes the median of three (the benchmark, 300 runs and defaults: 1.65-2.35)
@pytest.mark.parametrize("mean_residual, seeds, slope_factor, energy_factor", [
    (False, [0], 0.6, 0.3), (True, [0, 1, 2], 0.4, 0.8)])
def test_pathwise_derivatives_improve_the_conditional_mean_and_distribution(
        hetero, mean_residual, seeds, slope_factor, energy_factor):
    """A small budget on the heteroscedastic process: the derivatives help the slope on every
    seed and the distribution in median."""
    X, y, dydx = hetero
    problem = get_stochastic_problem("heteroscedastic")
    X_test = np.linspace(-1.4, 1.4, 12)[:, None]
    reference = problem.reference_sample(X_test, 100, random_state=1)
    energy_ratios = []
    for seed in seeds:
        params = dict(generator_layers=(32, 32), discriminator_layers=(32, 32), latent_dim=2,
                      max_iter=150, predict_samples=64, random_state=seed, mean_residual=mean_residual)
        errors = {}
        for label, gradients in (("gi", dydx), ("plain", None)):
            gan = GIConditionalGAN(**params).fit(X, y, gradients)
            slope = gan.predict_gradient(X_test)[:, 0]
            draws = gan.sample(X_test, 100, random_state=2)[:, :, None]
            errors[label] = (np.sqrt(np.mean((slope - 3 * np.cos(3 * X_test[:, 0])) ** 2)),
                             energy_distance(draws, reference))
        assert errors["gi"][0] < slope_factor * errors["plain"][0]
        energy_ratios.append(errors["gi"][1] / errors["plain"][1])
    assert np.median(energy_ratios) < energy_factor


def test_directional_derivative_of_the_generator_matches_autograd(hetero):
    from sklearn_gi.generative._conditional_gan import _forward_with_tangent
    from sklearn_gi.neural_network._modules import MLPModule

    torch.manual_seed(0)
    module = MLPModule(3, (5, 4), 2, "silu").double()
    X, u = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    out, tangent = _forward_with_tangent(module, X, u)
    _, expected = torch.func.jvp(module, (X,), (u,))
    torch.testing.assert_close(out, module(X))
    torch.testing.assert_close(tangent, expected)
    # the whole mean-residual generator, along x with z fixed, against a central difference
    X, y, dydx = hetero
    gan = GIConditionalGAN(**TINY).fit(X, y, dydx)
    net, gen = gan.net_, gan.net_.module_
    Xt = torch.as_tensor((X[:5] - gan.x_mean_) / gan.x_scale_, dtype=torch.float32)
    Z, v = torch.randn(5, 2), torch.ones(5, 1)
    with torch.no_grad():
        _, directional = net._generate(Xt, Z, v)
        h = 1e-2
        central = (gen(torch.cat([Xt + h, Z], 1)) - gen(torch.cat([Xt - h, Z], 1))) / (2 * h)
    torch.testing.assert_close(directional, central, rtol=1e-2, atol=1e-3)


def test_discriminator_sees_directional_derivatives_where_they_are_known(hetero):
    X, y, dydx = hetero
    with_gradients = GIConditionalGAN(**TINY).fit(X, y, dydx)
    assert with_gradients.critic_sees_gradients_
    assert with_gradients.net_.critic_.layers[0].in_features == 1 + 3  # x, y, u, dy/dx u
    half_known = np.where(np.arange(len(y))[:, None] % 2, dydx, np.nan)
    partial = GIConditionalGAN(**TINY).fit(X, y, half_known)
    assert partial.critic_sees_gradients_
    assert partial.net_.critic_.layers[0].in_features == 1 + 3
    for fitted in (GIConditionalGAN(**TINY).fit(X, y),
                   GIConditionalGAN(**TINY, critic_gradients=False).fit(X, y, dydx)):
        assert not fitted.critic_sees_gradients_
        assert fitted.net_.critic_.layers[0].in_features == 2
    # two outputs that each know the partial along a different input: no direction
    # has a known dy/dx u, so the discriminator sees (x, y) only
    rng = np.random.default_rng(0)
    X2 = rng.uniform(-1, 1, (40, 2))
    Y2 = np.c_[X2[:, 0] + 0.1 * rng.standard_normal(40), X2[:, 1]]
    G2 = np.array([[1.0, np.nan], [np.nan, 1.0]])[None].repeat(40, axis=0)
    crossed = GIConditionalGAN(**TINY).fit(X2, Y2, G2)
    assert not crossed.critic_sees_gradients_
    assert crossed.net_.critic_.layers[0].in_features == 2 + 2


def test_directions_span_only_inputs_known_for_every_output():
    from sklearn_gi.neural_network._sobolev_net import SobolevData

    rng = np.random.default_rng(1)
    n, k, p = 30, 2, 3
    X = rng.uniform(-1, 1, (n, p))
    G = rng.standard_normal((n, k, p))
    G[rng.random((n, k, p)) < 0.3] = np.nan
    G[0] = np.nan  # a run with nothing known
    Y = X[:, :k] + 0.1 * rng.standard_normal((n, k))
    gan = GIConditionalGAN(**TINY).fit(X, Y, G)
    assert gan.critic_sees_gradients_
    known = ~np.isnan(G)
    data = SobolevData(torch.zeros(n, p), torch.zeros(n, k),
                       torch.as_tensor(np.nan_to_num(G), dtype=torch.float32), torch.as_tensor(known))
    u = gan.net_._directions(data).numpy()
    usable = known.all(axis=1)  # (n, p): inputs known for both outputs
    assert np.all(u[~usable] == 0)
    norms = np.linalg.norm(u, axis=1)
    np.testing.assert_allclose(norms[usable.any(axis=1)], 1.0, rtol=1e-6)
    assert np.all(norms[~usable.any(axis=1)] == 0)
    # the runs' directional derivatives use known partials only: NaN-free and exact
    dreal = (data.gradients @ torch.as_tensor(u).unsqueeze(2)).squeeze(2).numpy()
    expected = np.einsum("nkp,np->nk", np.where(known, G, 0.0), u)
    np.testing.assert_allclose(dreal, expected, rtol=1e-5, atol=1e-6)
    assert np.isfinite(dreal).all()
    Xg, Yg, Gg = make_stochastic_problem("garch", 50, random_state=0)
    gan = GIConditionalGAN(**TINY).fit(Xg, Yg, Gg)
    assert gan.net_.critic_.layers[0].in_features == 2 * (4 + 5)


def test_mean_terms_are_debiased_for_the_number_of_draws():
    """E[(mean of m draws - t)^2 - s^2 / m] = (E draw - t)^2, whatever the spread."""
    from sklearn_gi.generative._conditional_gan import _debiased_squared_error

    gen = torch.Generator().manual_seed(0)
    draws = 1.0 + 3.0 * torch.randn(20000, 2, 1, generator=gen, dtype=torch.float64)
    target = torch.zeros(20000, 1, dtype=torch.float64)
    assert float(_debiased_squared_error(draws, target)) == pytest.approx(1.0, abs=0.15)
    naive = float(((draws.mean(dim=1) - target) ** 2).mean())
    assert naive == pytest.approx(1.0 + 9.0 / 2, abs=0.3)  # the bias that is removed
    mask = torch.zeros(20000, 1, dtype=torch.bool)
    mask[:10] = True
    assert float(_debiased_squared_error(draws, target, mask)) == pytest.approx(
        float(_debiased_squared_error(draws[:10], target[:10])))


def test_value_term_is_part_of_the_fit_without_derivatives(hetero):
    X, y, _ = hetero
    with_term = GIConditionalGAN(**TINY).fit(X, y)
    without = GIConditionalGAN(**{**TINY, "mean_weight": 0.0}).fit(X, y)
    assert not np.allclose(with_term.predict(X[:5]), without.predict(X[:5]))


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_unknown_partials_are_masked(hetero, solver):
    X, y, dydx = hetero
    params = {**TINY, "mean_solver": solver}
    plain = GIConditionalGAN(**params).fit(X, y)
    all_unknown = GIConditionalGAN(**params).fit(X, y, np.full_like(dydx, np.nan))
    np.testing.assert_allclose(plain.predict(X[:5]), all_unknown.predict(X[:5]), rtol=1e-6)
    assert all_unknown.gradient_loss_curve_ is None
    # NaN where a row is unknown: the fit is the same as without those rows' targets
    partial = dydx.copy()
    partial[::2] = np.nan
    gan = GIConditionalGAN(**params).fit(X, y, partial)
    huge = dydx.copy()
    huge[::2] = 1e6  # would dominate the loss if these rows were not masked
    masked = GIConditionalGAN(**params).fit(X, y, np.where(np.isnan(partial), np.nan, huge))
    np.testing.assert_allclose(masked.predict(X[:20]), gan.predict(X[:20]), rtol=1e-4, atol=1e-6)
    if solver == "adam":
        assert np.all(np.isfinite(gan.gradient_loss_curve_))
        np.testing.assert_allclose(masked.gradient_loss_curve_, gan.gradient_loss_curve_, rtol=1e-4)
    else:
        assert not np.allclose(gan.predict(X[:20]), plain.predict(X[:20]))  # the known half counts


@pytest.mark.parametrize("n_mean_estimators", [1, 3])
def test_lbfgs_mean_is_the_early_stopped_regressions_average_and_the_game_keeps_it(
        hetero, n_mean_estimators):
    from sklearn_gi.generative._conditional_gan import MeanEnsemble
    from sklearn_gi.neural_network import GIMLPRegressor
    from sklearn_gi.neural_network._modules import MLPModule

    X, y, dydx = hetero
    params = {**TINY, "max_iter": 4, "mean_weight": 2.0, "n_mean_estimators": n_mean_estimators}
    gan = GIConditionalGAN(**params).fit(X, y, dydx)
    regressions = gan.mean_estimators_
    assert len(regressions) == n_mean_estimators
    assert len({r.random_state for r in regressions}) == n_mean_estimators  # own init and split
    for regression in regressions:
        assert isinstance(regression, GIMLPRegressor) and regression.early_stopping
        assert regression.hidden_layer_sizes == (8,) and regression.activation == "silu"
        assert regression.gradient_weight == pytest.approx(0.5)  # gradient_weight / mean_weight
    average = np.mean([r.predict(X[:30]) for r in regressions], axis=0)
    np.testing.assert_allclose(gan.predict(X[:30]), average, rtol=1e-5, atol=1e-6)
    average_gradient = np.mean([r.predict_gradient(X[:30]) for r in regressions], axis=0)
    np.testing.assert_allclose(gan.predict_gradient(X[:30]), average_gradient, rtol=1e-4, atol=1e-5)
    # the game (4 epochs) moved the residual network but not mu
    mean = gan.net_.module_.mean
    members = mean.members if n_mean_estimators > 1 else [mean]
    assert isinstance(mean, MeanEnsemble if n_mean_estimators > 1 else MLPModule)
    assert not any(t.requires_grad for t in mean.parameters())
    for member, regression in zip(members, regressions):
        for a, b in zip(member.state_dict().values(), regression.net_.module_.state_dict().values()):
            np.testing.assert_array_equal(a.cpu().numpy(), b.cpu().numpy())
    if n_mean_estimators > 1:  # the members differ, so the average is not one of them
        assert not np.allclose(regressions[0].predict(X[:30]), regressions[1].predict(X[:30]))
        assert not np.allclose(gan.predict(X[:30]), regressions[0].predict(X[:30]))
    # mu keeps the regressions' dtype: X's
    assert all(t.dtype == torch.float64 for t in mean.parameters())
    gan32 = GIConditionalGAN(**params).fit(X.astype(np.float32), y.astype(np.float32), dydx)
    assert all(t.dtype == torch.float32 for t in gan32.net_.module_.mean.parameters())
    average32 = np.mean([r.predict(X[:30].astype(np.float32)) for r in gan32.mean_estimators_], axis=0)
    np.testing.assert_allclose(gan32.predict(X[:30]), average32, rtol=1e-5, atol=1e-6)
    untouched = GIConditionalGAN(**{**params, "mean_weight": 0.0}).fit(X, y, dydx)
    assert untouched.mean_estimators_ is None and isinstance(untouched.net_.module_.mean, MLPModule)


def test_ensemble_mean_tangent_is_the_average_of_its_members():
    from sklearn_gi.generative._conditional_gan import MeanEnsemble, _forward_with_tangent

    torch.manual_seed(0)
    ensemble = MeanEnsemble(3, 2, (5,), 2, "silu").double()
    X, V = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    out, tangent = _forward_with_tangent(ensemble, X, V)
    _, jac = ensemble.forward_with_jacobian(X)
    reference = torch.func.vmap(torch.func.jacrev(ensemble))(X)  # (4, 2 outputs, 2 inputs)
    torch.testing.assert_close(jac, reference)
    torch.testing.assert_close(tangent, (reference @ V[:, :, None])[:, :, 0])
    torch.testing.assert_close(out, sum(m(X) for m in ensemble.members) / 3)
    # frozen members under no_grad: same values, weights untouched
    weights = [t.clone() for t in ensemble.parameters()]
    ensemble.requires_grad_(False)
    with torch.no_grad():
        torch.testing.assert_close(ensemble(X), out)
        torch.testing.assert_close(ensemble.forward_with_jacobian(X)[1], jac)
        torch.testing.assert_close(_forward_with_tangent(ensemble, X, V)[1], tangent)
    assert all(torch.equal(a, b) for a, b in zip(weights, ensemble.parameters()))
    # a member without hidden layers returns a view of its weight as its Jacobian: never written
    linear = MeanEnsemble(2, 2, (), 1, "silu").double().requires_grad_(False)
    weights = [t.clone() for t in linear.parameters()]
    with torch.no_grad():
        linear.forward_with_jacobian(X[:1])
    assert all(torch.equal(a, b) for a, b in zip(weights, linear.parameters()))


def test_mean_budget_warning_counts_the_regressions_that_spent_it(hetero, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    import sklearn_gi.generative._conditional_gan as module
    from sklearn_gi.neural_network import GIMLPRegressor

    X, y, dydx = hetero
    budgets = iter([2, 200, 2])  # the first and the last run out of iterations
    monkeypatch.setattr(module, "GIMLPRegressor",
                        lambda **kw: GIMLPRegressor(**{**kw, "max_iter": next(budgets)}))
    with pytest.warns(ConvergenceWarning, match=r"2 of the 3 L-BFGS fits of the mean network mu"):
        gan = GIConditionalGAN(**TINY, n_mean_estimators=3).fit(X, y, dydx)
    assert [r.converged_ for r in gan.mean_estimators_] == [False, True, False]


@pytest.mark.parametrize("params", [{"mean_solver": "adam"}, {"mean_residual": False},
                                    {"mean_weight": 0.0}], ids=["adam", "direct", "no-mean-term"])
def test_n_mean_estimators_is_unused_when_the_game_trains_the_mean(hetero, params):
    X, y, dydx = hetero
    one, five = (GIConditionalGAN(**TINY, **params, n_mean_estimators=k).fit(X, y, dydx) for k in (1, 5))
    assert one.mean_estimators_ is None and five.mean_estimators_ is None
    np.testing.assert_array_equal(one.sample(X[:5], 4, random_state=0), five.sample(X[:5], 4, random_state=0))
    np.testing.assert_array_equal(one.predict(X[:5]), five.predict(X[:5]))


@pytest.mark.parametrize("value", [0, -1, 2.5, "3", None])
def test_bad_n_mean_estimators_is_refused_before_any_fit(hetero, value):
    X, y, dydx = hetero
    with pytest.raises(ValueError, match="'n_mean_estimators' parameter of GIConditionalGAN must be"):
        GIConditionalGAN(**TINY, n_mean_estimators=value).fit(X, y, dydx)


def test_gradient_projections_train_on_images():
    X, Y, G = make_stochastic_problem("blob_image", 40, random_state=0)
    gan = GIConditionalGAN(**{**TINY, "gradient_projections": 4, "mean_solver": "adam"}).fit(X, Y, G)
    assert gan.sample(X[:2], 3, random_state=0).shape == (2, 3, 256)
    assert np.all(np.isfinite(gan.gradient_loss_curve_))
    gan = GIConditionalGAN(**{**TINY, "gradient_projections": 4}).fit(X, Y, G)
    assert all(r.gradient_projections == 4 for r in gan.mean_estimators_)
    assert np.all(np.isfinite(gan.predict(X[:2])))


def test_divergence_stops_with_a_clear_error_and_no_fitted_model(hetero):
    X, y, dydx = hetero
    gan = GIConditionalGAN(**{**TINY, "learning_rate": 1e30, "max_iter": 20})
    with pytest.raises(FloatingPointError, match="GIConditionalGAN training diverged at epoch"):
        gan.fit(X, y, dydx)
    assert not hasattr(gan, "net_") and not hasattr(gan, "n_features_in_")
    with pytest.raises(NotFittedError):
        gan.predict(X)


def test_input_errors_name_the_argument(hetero):
    X, y, dydx = hetero
    with pytest.raises(ValueError, match="dYdX"):
        GIConditionalGAN(**TINY).fit(X, y, dydx[:10])
    gan = GIConditionalGAN(**TINY).fit(X, y, dydx)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        gan.sample(X, n_samples=0)
    with pytest.raises(ValueError, match="features"):
        gan.sample(np.ones((2, 3)))


def test_cross_validate_and_grid_search_with_the_energy_scorer(hetero):
    X, y, dydx = hetero
    scoring = {"r2": "r2", "energy": make_energy_scorer(10)}
    result = cross_validate(GIConditionalGAN(**TINY), X, y, params={"dYdX": dydx}, cv=2,
                            scoring=scoring)
    assert np.all(np.isfinite(result["test_energy"])) and np.all(result["test_energy"] < 0)
    search = GridSearchCV(GIConditionalGAN(**TINY), {"gradient_weight": [0.0, 1.0]}, cv=2,
                          scoring=make_energy_scorer(10)).fit(X, y, dYdX=dydx)
    assert search.best_params_["gradient_weight"] in (0.0, 1.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_keeps_every_tensor_on_the_device_and_loads_on_cpu(hetero, monkeypatch):
    X, y, dydx = hetero
    gan = GIConditionalGAN(**{**TINY, "device": "auto"}).fit(X, y, dydx)
    assert gan.device_.type == "cuda"
    assert next(gan.net_.module_.parameters()).is_cuda and next(gan.net_.critic_.parameters()).is_cuda
    reference = gan.predict(X[:5])
    assert gan.sample(X[:5], 3, random_state=0).shape == (5, 3)
    payload = pickle.dumps(gan)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = pickle.load(io.BytesIO(payload))
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(restored.predict(X[:5]), reference, rtol=1e-4, atol=1e-6)


def test_cuda_request_without_cuda_is_an_error(hetero):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X, y, dydx = hetero
    with pytest.raises(ValueError, match="CUDA is not available"):
        GIConditionalGAN(**{**TINY, "device": "cuda"}).fit(X, y, dydx)
