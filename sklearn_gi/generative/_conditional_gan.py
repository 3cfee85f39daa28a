"""GIConditionalGAN: a conditional GAN (R1-regularised) that also learns from pathwise derivatives."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from torch.nn.functional import softplus
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PrintLog
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..neural_network._device import resolve_device
from ..neural_network._gi_mlp import _TORCH_RNG_LOCK, GIMLPRegressor, _torch_threads
from ..neural_network._modules import ACTIVATIONS, MLPModule
from ..neural_network._sobolev_loss import (
    project_targets,
    random_unit_projections,
)
from ..neural_network._sobolev_net import SobolevData, TensorBatches
from ..utils._validation import (
    check_finite_output,
    check_finite_scale,
    check_gradient_inputs,
    named_input_errors,
    no_half_fitted_model,
)

# Rows (inputs x latent draws) per forward pass at prediction time.
PREDICT_CHUNK_ROWS = 65536

# Below this many (rows per step x weights), one CPU thread is as fast as several.
SMALL_MODEL_WORK = 1_000_000

# Adam betas of the mean network of the mean-residual generator (a regression, not a game).
MEAN_BETAS = (0.9, 0.999)


class _GANEpochLoss(Callback):
    """Record the epoch's mean generator and critic losses as ``train_loss`` and ``critic_loss``."""

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        for key in ("train_loss", "critic_loss", "gradient_loss"):
            values = [b[key] for b in row["batches"] if key in b]
            if values:
                net.history.record(key, sum(values) / len(values))


class ConditionalGANNet(NeuralNet):
    """skorch net holding a conditional generator and a discriminator (``critic``).

    The generator is the net's ``module`` (optimizer ``optimizer``); the
    discriminator is a second module ``critic`` with its own
    ``critic_optimizer``, both registered through skorch's documented
    customisation (``initialize_module`` / ``initialize_optimizer``), so that
    skorch moves them to ``device``, pickles them and keeps them in
    ``net.module_`` and ``net.critic_``. Each training step (one minibatch of
    standardized runs) makes ``n_critic`` discriminator updates and one
    generator update.

    Losses, with ``x`` the inputs, ``y`` the runs, ``G(x, z)`` the generator,
    ``D`` the discriminator's logit and ``s(t) = log(1 + e^t)``::

        discriminator: mean s(D(x, G(x, z))) + mean s(-D(x, y))
                       + penalty_weight / 2 * mean ||d D(x, y) / d y||^2
        generator:     mean s(-D(x, G(x, z))) + mean_weight * value term
                       + gradient_weight * Sobolev term

    the non-saturating GAN loss with the R1 penalty on the runs (Mescheder,
    Geiger and Nowozin, 2018). The Sobolev term is the mean squared error
    between ``d/dx mean_m G(x, z_m)`` and the pathwise derivatives, over their
    known partials, and the value term the
    squared error between ``mean_m G(x, z_m)`` and ``y``; ``mean_draws``
    latent draws per run, both debiased for the finite number of draws. The
    mean terms enter only while ``fit_mean`` (a mean-residual generator
    fitted beforehand keeps its ``mu`` fixed). With ``critic_gradients`` the
    discriminator's input is ``(x, y, u, dy/dx u)`` for a random unit input
    direction ``u`` per run, and the penalty also covers ``dy/dx u``.

    Parameters
    ----------
    module : torch.nn.Module
        Generator, ``(n, n_features + latent_dim) -> (n, n_outputs)``, with
        ``forward_with_jacobian`` (:class:`MLPModule`).
    critic : torch.nn.Module
        ``(n, n_features + n_outputs) -> (n, 1)``.
    critic_optimizer : torch optimizer class, default=torch.optim.Adam
    latent_dim : int
    n_critic : int, default=2
    penalty_weight : float, default=1.0
    gradient_weight : float, default=1.0
    mean_weight : float, default=1.0
    mean_draws : int, default=8
    gradient_projections : int or None, default=None
    critic_gradients : bool, default=False
        The discriminator's input is ``(x, y, dy/dx u)`` with a random unit
        input direction ``u`` per run (the data's gradients must be complete).
    fit_mean : bool, default=True
        Train a mean-residual generator's ``mu`` with the value and Sobolev
        terms; False: ``mu`` was fitted beforehand and is fixed (the game
        trains ``r`` only).
    **kwargs
        Passed to ``skorch.NeuralNet`` (``optimizer``, ``lr``, ``max_epochs``,
        ``batch_size``, ``device``, ...; ``critic_optimizer__*`` parameters).
    """

    def __init__(
        self,
        module,
        *,
        critic,
        critic_optimizer=torch.optim.Adam,
        latent_dim,
        n_critic=2,
        penalty_weight=1.0,
        gradient_weight=1.0,
        mean_weight=1.0,
        mean_draws=8,
        gradient_projections=None,
        fit_mean=True,
        critic_gradients=False,
        **kwargs,
    ):
        kwargs.setdefault("criterion", torch.nn.MSELoss)  # unused; skorch requires one
        kwargs.setdefault("train_split", None)
        # skorch's documented pattern: extra modules are stored before NeuralNet.__init__
        self.critic = critic
        self.critic_optimizer = critic_optimizer
        self.latent_dim = latent_dim
        self.n_critic = n_critic
        self.penalty_weight = penalty_weight
        self.gradient_weight = gradient_weight
        self.mean_weight = mean_weight
        self.mean_draws = mean_draws
        self.gradient_projections = gradient_projections
        self.fit_mean = fit_mean
        self.critic_gradients = critic_gradients
        super().__init__(module, **kwargs)

    # set by the estimator for the duration of a fit (generators do not pickle)
    generator_ = None
    # steps over which the mean network's learning rate is annealed (mean_residual)
    mean_steps_ = 0

    def initialize_module(self):
        super().initialize_module()
        params = self.get_params_for("critic")
        self.critic_ = self.initialized_instance(self.critic, params)
        return self

    def initialize_optimizer(self, *_, **__):
        args, kwargs = self.get_params_for_optimizer("optimizer", self.module_.named_parameters())
        if isinstance(self.module_, MeanResidualGenerator):
            # mu is a regression: its own group, Adam's usual betas, a cosine-annealed rate
            mean_params = list(self.module_.mean.parameters())
            ids = {id(t) for t in mean_params}
            params = [t for t in self.module_.parameters() if id(t) not in ids]
            args = ([{"params": params}, {"params": mean_params, "betas": MEAN_BETAS}],)
        self.optimizer_ = self.optimizer(*args, **kwargs)
        self.mean_step_ = 0
        args, kwargs = self.get_params_for_optimizer(
            "critic_optimizer", self.critic_.named_parameters()
        )
        self.critic_optimizer_ = self.critic_optimizer(*args, **kwargs)
        return self

    def get_default_callbacks(self):
        callbacks = [("epoch_timer", EpochTimer()), ("epoch_loss", _GANEpochLoss())]
        if self.verbose:
            callbacks.append(("print_log", PrintLog(keys_ignored=["batches"])))
        return callbacks

    def get_dataset(self, X, y=None):
        if not isinstance(X, SobolevData):
            raise TypeError("ConditionalGANNet trains on SobolevData.")
        return X

    def get_iterator(self, dataset, training=False):
        return TensorBatches(dataset, self.batch_size, shuffle=training, generator=self.generator_)

    # ------------------------------------------------------------ losses
    def _latent(self, *shape, like):
        return torch.randn(*shape, self.latent_dim, generator=self.generator_, device=like.device,
                           dtype=like.dtype)

    def _directions(self, data):
        """Random unit input directions ``u`` (n, p), when the critic sees ``dy/dx u``.

        With NaN partials, each run's ``u`` lies in the span of the inputs whose
        partials are known for every output (so ``dy/dx u`` is known); a run
        without such an input gets ``u = 0`` (and ``dy/dx u = 0`` on both sides).
        """
        if not self.critic_gradients or data.gradients is None:
            return None
        X = data.X
        u = torch.randn(X.shape, generator=self.generator_, device=X.device, dtype=X.dtype)
        if data.mask is not None:
            u = u * data.mask.all(dim=1)
        return u / u.norm(dim=1, keepdim=True).clamp(min=1e-12)

    def _generate(self, X, Z, u, detach_mean=False):
        """Generated outputs and, with directions ``u``, their derivatives ``dG/dx u``."""
        inputs = torch.cat([X, Z], dim=1)
        if u is None:
            if isinstance(self.module_, MeanResidualGenerator):
                return self.module_(inputs, detach_mean=detach_mean), None
            return self.module_(inputs), None
        if isinstance(self.module_, MeanResidualGenerator):
            return self.module_.forward_with_tangent(X, Z, u, detach_mean=detach_mean)
        return _forward_with_tangent(self.module_, inputs, torch.cat([u, torch.zeros_like(Z)], dim=1))

    @staticmethod
    def _critic_inputs(X, Y, dY, u):
        # the direction goes in too: without it only rotation-invariant statistics of
        # dy/dx could be judged (with one input, u = +-1 would hide the derivative's sign)
        return torch.cat([X, Y] if dY is None else [X, Y, u, dY], dim=1)

    def critic_loss(self, data):
        """Discriminator loss on one batch: logistic loss plus the R1 penalty on the runs."""
        X, Y = data.X, data.y
        u = self._directions(data)
        with torch.no_grad():
            fake, dfake = self._generate(X, self._latent(len(X), like=X), u)
        real = Y.detach().requires_grad_(True)
        dreal = None
        if u is not None:
            # the runs' pathwise derivatives along u: (n, k, p) @ (n, p, 1)
            dreal = (data.gradients @ u.unsqueeze(2)).squeeze(2).detach().requires_grad_(True)
        real_score = self.critic_(self._critic_inputs(X, real, dreal, u))
        fake_score = self.critic_(self._critic_inputs(X, fake, dfake, u))
        loss = softplus(fake_score).mean() + softplus(-real_score).mean()
        if self.penalty_weight:
            wrt = [real] if dreal is None else [real, dreal]
            grads = torch.autograd.grad(real_score.sum(), wrt, create_graph=True)
            loss = loss + 0.5 * self.penalty_weight * sum((g**2).sum(dim=1) for g in grads).mean()
        return loss

    def mean_losses(self, data):
        """The terms on the conditional mean, from ``mean_draws`` latent draws per run.

        Returns ``(value term, Sobolev term)`` (None when not used): the squared
        errors of the mean of the draws against ``y`` and of its ``x``-Jacobian
        against ``dYdX``, each debiased for the finite number of draws.
        """
        X = data.X
        n, p = X.shape
        use_gradients = data.gradients is not None and self.gradient_weight > 0
        if not use_gradients and not self.mean_weight:
            return None, None
        if isinstance(self.module_, MeanResidualGenerator) and not self.fit_mean:
            return None, None
        if isinstance(self.module_, MeanResidualGenerator):
            # the conditional mean is mu(x) exactly: plain (Sobolev) regression on mu
            m = 1
            if use_gradients:
                out, jac = self.module_.mean.forward_with_jacobian(X)  # (n, k, p)
            else:
                out, jac = self.module_.mean(X), None
        else:
            m = self.mean_draws
            inputs = torch.cat([X.repeat_interleave(m, dim=0), self._latent(n * m, like=X)], dim=1)
            if use_gradients:
                out, jac = self.module_.forward_with_jacobian(inputs)  # (n m, k, p + latent)
            else:
                out, jac = self.module_(inputs), None
        value = _debiased_squared_error(out.reshape(n, m, -1), data.y) if self.mean_weight else None
        if not use_gradients:
            return value, None
        jac = jac[:, :, :p].reshape(n, m, -1, p)  # (n, m, k, p)
        target, mask = data.gradients, data.mask
        if self.gradient_projections is not None:
            v = random_unit_projections(n, self.gradient_projections, jac.shape[2],
                                        generator=self.generator_, device=X.device, dtype=X.dtype)
            target, mask = project_targets(v, target, mask)
            jac = v[:, None] @ jac  # (n, m, projections, p)
        return value, _debiased_squared_error(jac, target, mask)

    def generator_loss(self, data):
        """Adversarial loss plus ``mean_weight`` and ``gradient_weight`` times the mean terms."""
        X = data.X
        u = self._directions(data)
        # mu learns from the value and Sobolev terms only; the game shapes the residual
        detach = isinstance(self.module_, MeanResidualGenerator) and bool(self.mean_weight)
        fake, dfake = self._generate(X, self._latent(len(X), like=X), u, detach_mean=detach)
        loss = softplus(-self.critic_(self._critic_inputs(X, fake, dfake, u))).mean()
        value, sobolev = self.mean_losses(data)
        if value is not None:
            loss = loss + self.mean_weight * value
        if sobolev is not None:
            loss = loss + self.gradient_weight * sobolev
        return loss, sobolev

    def train_step(self, batch, **fit_params):
        _, data = batch
        self._set_training(True)
        self.critic_.train()
        critic_loss = None
        for _ in range(self.n_critic):
            self.critic_optimizer_.zero_grad()
            critic_loss = self.critic_loss(data)
            critic_loss.backward()
            self.critic_optimizer_.step()
        for parameter in self.critic_.parameters():  # the discriminator is fixed in the generator step
            parameter.requires_grad_(False)
        if isinstance(self.module_, MeanResidualGenerator) and self.mean_steps_:
            fraction = min(self.mean_step_ / self.mean_steps_, 1.0)
            self.optimizer_.param_groups[1]["lr"] = self.lr * 0.5 * (1 + math.cos(math.pi * fraction))
            self.mean_step_ += 1
        try:
            self.optimizer_.zero_grad()
            loss, sobolev = self.generator_loss(data)
            loss.backward()
            self.optimizer_.step()
        finally:
            for parameter in self.critic_.parameters():
                parameter.requires_grad_(True)
        values = {"critic_loss": float(critic_loss.detach()), "train_loss": float(loss.detach())}
        if sobolev is not None:
            values["gradient_loss"] = float(sobolev.detach())
        for key, value in values.items():
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"GIConditionalGAN training diverged at epoch {len(self.history)}: the "
                    f"{key.replace('_', ' ')} became {value} (critic {values['critic_loss']:.3g}, "
                    f"generator {values['train_loss']:.3g}, in standardized units). Lower "
                    "learning_rate, or check the scale of X, Y and dYdX."
                )
            if key != "train_loss":
                self.history.record_batch(key, value)
        return {"loss": loss.detach(), "y_pred": None}

    def validation_step(self, batch, **fit_params):  # pragma: no cover - no validation split
        raise NotImplementedError("ConditionalGANNet has no validation step.")


def _forward_with_tangent(module, X, V):
    """Outputs of an :class:`MLPModule` (or a :class:`MeanEnsemble`) and their derivative along
    input tangents ``V`` (n, d)."""
    if isinstance(module, MeanEnsemble):
        return module.average(lambda member: _forward_with_tangent(member, X, V))
    layers = module.layers
    z = layers[0](X)
    t = V @ layers[0].weight.T
    for layer in layers[1:]:
        h = module._act(z)
        t = module._act_derivative(z, h) * t
        z = layer(h)
        t = t @ layer.weight.T
    return z, t


def _debiased_squared_error(draws, target, mask=None):
    """Unbiased estimate of ``(E_z[draw] - target)^2`` from ``m`` draws (axis 1), masked mean.

    ``(mean of m draws - target)^2`` overestimates it by the draws' variance
    over ``m``, which would pull the generator towards less spread; the
    unbiased sample variance over ``m`` is subtracted.
    """
    m = draws.shape[1]
    sq = (draws.mean(dim=1) - target) ** 2
    if m > 1:
        sq = sq - draws.var(dim=1, unbiased=True) / m
    if mask is None:
        return sq.mean()
    return (sq * mask).sum() / mask.sum().clamp(min=1)


def _moments(A):
    mean = A.mean(axis=0).astype(np.float64)
    std = A.std(axis=0).astype(np.float64)
    return mean, np.where(std > 0, std, 1.0)


def _glorot_init(module):
    with torch.no_grad():
        for layer in module.layers:
            bound = math.sqrt(6.0 / (layer.in_features + layer.out_features))
            layer.weight.uniform_(-bound, bound)
            layer.bias.zero_()


def _layer_sizes(sizes, name):
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if not sizes or not all(isinstance(s, Integral) and s > 0 for s in sizes):
        raise ValueError(f"{name} must be positive integers, got {sizes!r}.")
    return tuple(int(s) for s in sizes)


class MeanEnsemble(torch.nn.Module):
    """The average of ``n_members`` :class:`MLPModule` networks of the same shape.

    ``mu`` of a :class:`MeanResidualGenerator` whose mean is a committee of
    separately fitted regressions (``n_mean_estimators > 1``).

    Parameters
    ----------
    n_members, n_inputs, n_outputs : int
    hidden_layer_sizes : tuple of int
    activation : str
    """

    def __init__(self, n_members, n_inputs, hidden_layer_sizes, n_outputs, activation):
        super().__init__()
        self.members = torch.nn.ModuleList(
            MLPModule(n_inputs, hidden_layer_sizes, n_outputs, activation) for _ in range(n_members))

    def average(self, evaluate):
        """The average over the members of ``evaluate(member)``, a tensor or a tuple of them,
        summed one member at a time (a few members' results in memory, not all of them)."""
        total = None
        for member in self.members:
            result = evaluate(member)
            result = result if isinstance(result, tuple) else (result,)
            # out of place: a member's output may be a view of its weights
            total = result if total is None else tuple(a + b for a, b in zip(total, result))
        scale = 1.0 / len(self.members)
        total = tuple(t * scale for t in total)
        return total if len(total) > 1 else total[0]

    def forward(self, X):
        return self.average(lambda member: member(X))

    def forward_with_jacobian(self, X):
        """Outputs ``(n, k)`` and input-Jacobian ``(n, k, d)`` of the average."""
        return self.average(lambda member: member.forward_with_jacobian(X))


class MeanResidualGenerator(torch.nn.Module):
    """Generator ``G(x, z) = mu(x) + r(x, z) - rbar(x)`` whose anchor mean is ``mu(x)`` exactly.

    ``mu`` (``mean``) is a network of ``x`` alone, ``r`` (``residual``) a
    network of ``(x, z)``, and ``rbar(x)`` the mean of ``r(x, a)`` over the
    fixed latent ``anchors`` (a buffer, so it pickles and moves with the
    module). The mean of ``G(x, a)`` over the anchors is therefore ``mu(x)``
    up to rounding, and ``mu`` carries the conditional mean and its Jacobian.

    Parameters
    ----------
    n_features, latent_dim, n_outputs : int
    hidden_layer_sizes : tuple of int
        Of both networks.
    activation : str
    n_anchors : int
    n_mean_members : int, default=1
        ``mu`` is one :class:`MLPModule`, or the :class:`MeanEnsemble` of this
        many when above 1.
    """

    def __init__(self, n_features, latent_dim, hidden_layer_sizes, n_outputs, activation, n_anchors,
                 n_mean_members=1):
        super().__init__()
        self.n_features = n_features
        if n_mean_members > 1:
            self.mean = MeanEnsemble(n_mean_members, n_features, hidden_layer_sizes, n_outputs,
                                     activation)
        else:
            self.mean = MLPModule(n_features, hidden_layer_sizes, n_outputs, activation)
        self.residual = MLPModule(n_features + latent_dim, hidden_layer_sizes, n_outputs, activation)
        self.register_buffer("anchors", torch.zeros(n_anchors, latent_dim))

    def _at_anchors(self, X):
        """The inputs ``(x_i, a_j)`` of ``rbar``: every row of ``X`` with every anchor."""
        return torch.cat([X.repeat_interleave(len(self.anchors), dim=0), self.anchors.repeat(len(X), 1)],
                         dim=1)

    def _anchor_mean(self, values, n):
        return values.reshape(n, len(self.anchors), -1).mean(dim=1)

    def centred_residual(self, X, Z):
        """``r(x, z) - rbar(x)`` for inputs ``X`` (n, p) and latent draws ``Z`` (n, latent_dim)."""
        r = self.residual(torch.cat([X, Z], dim=1))
        return r - self._anchor_mean(self.residual(self._at_anchors(X)), len(X))

    @property
    def mean_dtype(self):
        """``mu``'s dtype: that of its regressions' data (float64 for float64 inputs)."""
        return next(self.mean.parameters()).dtype

    def _mu(self, X, u=None):
        """``mu(x)`` (and ``dmu/dx u``) computed in :attr:`mean_dtype` and returned in ``X``'s."""
        dtype = self.mean_dtype
        if u is None:
            return self.mean(X.to(dtype)).to(X.dtype)
        mu, dmu = _forward_with_tangent(self.mean, X.to(dtype), u.to(dtype))
        return mu.to(X.dtype), dmu.to(X.dtype)

    def forward_with_tangent(self, X, Z, u, detach_mean=False):
        """``G(x, z)`` and its derivative ``dG/dx u`` along input directions ``u`` (n, p), ``z`` fixed."""
        n = len(X)
        mu, dmu = self._mu(X, u)
        if detach_mean:
            mu, dmu = mu.detach(), dmu.detach()
        tangent = torch.cat([u, torch.zeros_like(Z)], dim=1)  # the anchors are fixed too
        r, dr = _forward_with_tangent(self.residual, torch.cat([X, Z], dim=1), tangent)
        ra, dra = _forward_with_tangent(self.residual, self._at_anchors(X),
                                        tangent.repeat_interleave(len(self.anchors), dim=0))
        return (mu + r - self._anchor_mean(ra, n),
                dmu + dr - self._anchor_mean(dra, n))

    def forward(self, inputs, detach_mean=False):
        X, Z = inputs[:, :self.n_features], inputs[:, self.n_features:]
        mu = self._mu(X)
        return (mu.detach() if detach_mean else mu) + self.centred_residual(X, Z)


class GIConditionalGAN(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Conditional GAN of a stochastic process, trained on its runs and pathwise derivatives.

    Learns a generator ``G(x, z)``, ``z ~ N(0, I)``, whose outputs at inputs
    ``x`` are distributed as the process's runs ``y ~ p(y | x)``. Each row of
    the training data is one run: inputs, output and (optionally) the run's
    pathwise derivative ``dy/dx`` taken with its random numbers held fixed.
    Since ``E[dy/dx | x] = d/dx E[y | x]``, the derivatives are unbiased
    targets for the gradient of the generator's conditional mean; the fit
    adds their mismatch to the adversarial loss (a Sobolev term on the mean).
    The discriminator also sees each run's derivative along a random input
    direction next to its output (``critic_gradients``), so the derivatives
    shape the generated spread as well.

    The adversarial objective is the non-saturating GAN loss with the R1
    gradient penalty on the real runs (Mescheder, Geiger and Nowozin, 2018):
    that regularised game is locally convergent, while a Wasserstein GAN with
    gradient penalty (WGAN-GP) is not guaranteed to be, and in our
    measurements at these small budgets WGAN-GP's generator oscillated by
    several standard deviations around the data while R1 settled within a
    few hundred steps. The penalty acts on the discriminator's input
    gradient only, so no architecture constraint (spectral normalisation) is
    needed and the smooth networks that the Sobolev term differentiates
    through are used as they are.

    By default (``mean_residual=True``) the generator is
    ``G(x, z) = mu(x) + r(x, z) - rbar(x)``: a mean network ``mu``, fitted
    to ``Y`` and ``dYdX`` by a Sobolev regression, plus a residual network
    ``r`` trained adversarially and centred by its mean ``rbar`` over fixed
    latent anchors, so that the mean over the anchors is ``mu(x)`` exactly.

    ``X``, ``Y`` and ``dYdX`` are standardized internally (``dYdX`` scaled by
    ``sigma_x / sigma_y``), as in :class:`~sklearn_gi.neural_network.GIMLPRegressor`.
    ``predict`` is ``mu(x)`` (with ``mean_residual=False``: the Monte Carlo
    conditional mean over ``predict_samples`` fixed latent draws), a
    deterministic, differentiable function of ``x``; ``score`` is the R^2 of
    that mean, so the model drops into ``cross_validate`` and ``GridSearchCV``, and
    :func:`sklearn_gi.metrics.make_energy_scorer` scores its distribution.

    Parameters
    ----------
    generator_layers : array-like of int, or int, default=(64, 64)
        Hidden layer widths of the generator ``(x, z) -> y``.
    discriminator_layers : array-like of int, or int, default=(64, 64)
        Hidden layer widths of the discriminator ``(x, y) -> logit``.
    latent_dim : int, default=4
        Dimension of the generator's Gaussian noise ``z``.
    gradient_weight : float, default=1.0
        Weight of the Sobolev term (mean squared error of the conditional
        mean's Jacobian, standardized units) against the adversarial loss
        (``mean_residual=False``); with the mean-residual generator ``mu``
        sees no adversarial loss, and only the ratio ``gradient_weight /
        mean_weight`` of its regression matters. 0, or ``fit`` without
        ``dYdX``, trains the same GAN without the derivatives.
    gradient_projections : int or None, default=None
        Match this many random unit projections ``v^T J`` per run (drawn at
        each step) instead of the whole Jacobian, as in stochastic Sobolev
        training. The Jacobian is carried forward through the generator
        (cost grows with ``n_features + latent_dim``, not with the outputs),
        so images do not need projections; they reweight the error towards
        random directions of output space.
    mean_weight : float, default=1.0
        Weight of the value term: the squared error between the mean of
        ``mean_draws`` generated outputs at ``x_i`` and the run ``y_i``, an
        unbiased regression of the conditional mean. It uses no derivatives,
        so a fit without ``dYdX`` keeps it; 0 leaves the mean to the
        adversarial game alone. With the mean-residual generator it weighs
        the values against the derivatives in ``mu``'s regression (the
        gradient weight of that regression is ``gradient_weight /
        mean_weight``: a tiny ``mean_weight`` all but drops the values).
    mean_draws : int, default=8
        With ``mean_residual=False``: latent draws ``M`` per run whose generated outputs are averaged into
        the conditional mean of the value and Sobolev terms. The plain
        squared error of a mean of ``M`` draws would also charge ``1/M`` times
        the draws' variance over ``z`` (a pull towards less spread and a
        ``z``-independent slope); the unbiased sample variance over ``M`` is
        subtracted, so each term estimates the error of the conditional mean
        itself.
    mean_residual : bool, default=True
        Use the mean-residual generator ``G(x, z) = mu(x) + r(x, z) - rbar(x)``:
        ``mu`` a network of ``x`` alone, ``r`` a network of ``(x, z)`` (both
        ``generator_layers``) and ``rbar(x)`` the mean of ``r(x, a)`` over
        ``latent_anchors`` fixed latent draws ``a`` (stored at fit). The mean
        of ``G`` over the anchors is then ``mu(x)`` by construction:
        ``predict`` is ``mu(x)`` and ``predict_gradient`` its exact gradient
        (no Monte Carlo; ``predict_samples`` and ``mean_draws`` are unused),
        the value and Sobolev terms are a plain Sobolev regression of ``mu``
        on ``Y`` and ``dYdX`` (as in :class:`~sklearn_gi.neural_network.GIMLPRegressor`),
        and, when ``mean_weight > 0``, the adversarial loss trains ``r``
        only. The mean of ``G`` over ``z ~ N(0, I)`` differs from ``mu`` by the
        anchors' Monte Carlo error in ``rbar``.
    mean_solver : {"lbfgs", "adam"}, default="lbfgs"
        How ``mu`` is fitted when ``mean_residual`` (ignored otherwise).
        "lbfgs": before the game, as
        :class:`~sklearn_gi.neural_network.GIMLPRegressor` fits a network
        (full-batch L-BFGS on the Sobolev loss, with ``generator_layers``,
        ``activation``, ``gradient_weight / mean_weight`` and
        ``early_stopping=True``: runs are noisy by definition, and on the three
        stochastic benchmark problems the early-stopped fit is 0.5-5 times
        more accurate than one run to convergence); ``mu`` is then fixed and
        the game trains ``r`` only (``mean_estimators_`` are those fits; their
        budget and stopping rule are GIMLPRegressor's, not ``max_iter``). "adam":
        ``mu`` is trained inside the game by Adam on the value and Sobolev
        terms, with a cosine-annealed learning rate. With ``mean_weight=0``
        the mean is left to the game in either case.
    n_mean_estimators : int, default=5
        With ``mean_solver="lbfgs"``: ``mu`` is the average of this many
        early-stopped regressions, each with its own initialisation and its
        own random validation split, so that the average uses every run and
        does not follow one split's noise. Measured over 20 seeds of 300 runs
        (``benchmarks/results/conditional_gan_mean.md`` against
        ``conditional_gan_mean_one_network.md``), 5 instead of 1 lowered the
        median error of the conditional mean from 0.357 to 0.316 (GARCH;
        lower on 13 of 20 seeds) and from 0.0213 to 0.0188 (images; 19 of
        20), and did not help on the heteroscedastic process (0.0202 to
        0.0189 in median, but per seed 1.06 times one network's error, lower
        on 8 of 20), at 5 times the regression's cost. 1 is a single network. Unused when the game
        trains the mean (``mean_solver="adam"``, ``mean_residual=False`` or
        ``mean_weight=0``): ``mu`` is then one network.
    critic_gradients : bool, default=True
        Let the discriminator judge each run together with its pathwise
        derivative along a random unit input direction ``u`` (drawn per run
        and step, and also an input of the discriminator): it compares ``(x,
        y, u, dy/dx u)`` of the runs with ``(x, G(x, z), u, dG/dx(x, z) u)``
        of the generator (forward-mode, through ``mu`` and ``r``), so the
        derivatives shape the generated distribution, not only its mean:
        how each run moves with ``x`` reveals its noise. With NaN partials,
        a run's ``u`` only spans the inputs whose partials are known for
        every output (``u = 0`` for a run without one). Used when ``dYdX``
        is given, ``gradient_weight > 0`` and some run has such an input
        (``critic_sees_gradients_`` tells); otherwise, or with
        ``critic_gradients=False``, it sees ``(x, y)``. It doubles the
        discriminator's input and about doubles the fit time.
    latent_anchors : int, default=32
        Number of fixed latent anchors of ``rbar`` when ``mean_residual``.
    n_critic : int, default=2
        Discriminator updates per generator update.
    penalty_weight : float, default=1.0
        Weight ``gamma`` of the R1 penalty ``gamma / 2 E||d D(x, y) / d y||^2``
        (with ``critic_gradients``, also over the runs' ``dy/dx u``)
        on the real runs.
    activation : {"silu", "tanh", "softplus", "gelu", "sigmoid"}, default="silu"
        Hidden activation of both networks (smooth: the Sobolev term and the
        gradient penalty differentiate through them).
    max_iter : int, default=300
        Epochs (passes over the runs); each minibatch is one generator step.
    batch_size : int or "auto", default="auto"
        Runs per step; "auto" is ``min(64, n_samples)``.
    learning_rate : float, default=1e-3
        Adam learning rate of both networks (``betas=(0.5, 0.9)``).
    predict_samples : int, default=256
        Latent draws averaged by ``predict`` and ``predict_gradient`` when
        ``mean_residual=False``.
    device : str, default="auto"
        "auto" uses CUDA when available, else the CPU; "cpu", "cuda" or
        "cuda:N" ask for one. Data, networks and draws all live there.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the minibatch order, the latent draws of training
        and the fixed draws of ``predict``.
    verbose : int, default=0
        Print skorch's per-epoch log when positive.

    Attributes
    ----------
    net_ : ConditionalGANNet
        The fitted skorch net: ``net_.module_`` is the generator (a
        ``MeanResidualGenerator`` with ``mean``, ``residual`` and
        ``anchors`` when ``mean_residual``) and ``net_.critic_`` the
        discriminator, both in standardized units.
    device_ : torch.device
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Generator loss per epoch (adversarial plus weighted Sobolev term).
    critic_loss_curve_ : list of float
        Discriminator loss per epoch (logistic loss plus the R1 penalty;
        ``2 log 2 = 1.386`` when it cannot tell runs from generated outputs).
    gradient_loss_curve_ : list of float or None
        Sobolev term per epoch, when the game trained the mean on gradients
        (``mean_solver="adam"``, ``mean_residual=False``, or ``mean_weight=0``
        with gradients); else None.
    critic_sees_gradients_ : bool
        Whether the discriminator saw the runs' directional derivatives
        (``critic_gradients`` with ``dYdX`` known along some input direction).
    mean_estimators_ : list of GIMLPRegressor or None
        The ``n_mean_estimators`` fits averaged into ``mu`` with
        ``mean_solver="lbfgs"`` (their ``loss_curve_``, ``n_iter_``,
        ``validation_loss_curve_``); their networks' weights are those of
        ``net_.module_.mean`` (a ``MeanEnsemble`` of them when more than
        one). None when the game trained the mean.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
    n_outputs_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    sklearn_gi.neural_network.GIMLPRegressor : Regression of the mean alone.
    sklearn_gi.datasets.make_stochastic_problem : Runs with pathwise derivatives.
    sklearn_gi.metrics.energy_score : Scores a sampled distribution.

    Examples
    --------
    >>> from sklearn_gi.datasets import make_stochastic_problem
    >>> from sklearn_gi.generative import GIConditionalGAN
    >>> X, y, dydx = make_stochastic_problem("heteroscedastic", 64, random_state=0)
    >>> gan = GIConditionalGAN((16,), (16,), latent_dim=2, max_iter=3, random_state=0)
    >>> gan = gan.fit(X, y, dydx)
    >>> gan.sample(X[:3], n_samples=10, random_state=0).shape
    (3, 10)
    >>> gan.predict(X[:3]).shape, gan.predict_gradient(X[:3]).shape
    ((3,), (3, 1))
    """

    __metadata_request__fit = {"dYdX": True}

    _parameter_constraints: dict = {
        "generator_layers": ["array-like", Interval(Integral, 1, None, closed="left")],
        "discriminator_layers": ["array-like", Interval(Integral, 1, None, closed="left")],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "gradient_weight": [Interval(Real, 0, None, closed="left")],
        "gradient_projections": [None, Interval(Integral, 1, None, closed="left")],
        "mean_weight": [Interval(Real, 0, None, closed="left")],
        "mean_draws": [Interval(Integral, 1, None, closed="left")],
        "mean_residual": ["boolean"],
        "mean_solver": [StrOptions({"lbfgs", "adam"})],
        "n_mean_estimators": [Interval(Integral, 1, None, closed="left")],
        "critic_gradients": ["boolean"],
        "latent_anchors": [Interval(Integral, 1, None, closed="left")],
        "n_critic": [Interval(Integral, 1, None, closed="left")],
        "penalty_weight": [Interval(Real, 0, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS) - {"relu"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "predict_samples": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        generator_layers=(64, 64),
        discriminator_layers=(64, 64),
        latent_dim=4,
        *,
        gradient_weight=1.0,
        gradient_projections=None,
        mean_weight=1.0,
        mean_draws=8,
        mean_residual=True,
        mean_solver="lbfgs",
        n_mean_estimators=5,
        critic_gradients=True,
        latent_anchors=32,
        n_critic=2,
        penalty_weight=1.0,
        activation="silu",
        max_iter=300,
        batch_size="auto",
        learning_rate=1e-3,
        predict_samples=256,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.generator_layers = generator_layers
        self.discriminator_layers = discriminator_layers
        self.latent_dim = latent_dim
        self.gradient_weight = gradient_weight
        self.gradient_projections = gradient_projections
        self.mean_weight = mean_weight
        self.mean_draws = mean_draws
        self.mean_residual = mean_residual
        self.mean_solver = mean_solver
        self.n_mean_estimators = n_mean_estimators
        self.critic_gradients = critic_gradients
        self.latent_anchors = latent_anchors
        self.n_critic = n_critic
        self.penalty_weight = penalty_weight
        self.activation = activation
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.predict_samples = predict_samples
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # the mean of a briefly trained GAN is a Monte Carlo estimate, not a
        # least-squares fit: scikit-learn's R^2 > 0.5 check is not its purpose
        tags.regressor_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, Y, dYdX=None):
        """Fit the generator to simulator runs and, when given, their pathwise derivatives.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of each run (repeated rows are independent runs).
        Y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Output of each run.
        dYdX : array-like of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features), default=None
            Pathwise derivative of each run (random numbers held fixed); the
            2-D form is for 1-D ``Y``. NaN marks an unknown partial.

        Returns
        -------
        self : GIConditionalGAN

        Raises
        ------
        FloatingPointError
            When a loss becomes NaN or infinite during training; the
            estimator is then left unfitted.
        """
        with no_half_fitted_model(self):
            return self._fit(X, Y, dYdX)

    def _fit(self, X, Y, dYdX):
        with named_input_errors("X or Y"):
            X, Y = validate_data(self, X, Y, dtype=[np.float64, np.float32], y_numeric=True,
                                 multi_output=True)
        n, p = X.shape
        y_ndim = Y.ndim
        Y = Y.reshape(n, -1)
        k = Y.shape[1]
        generator_layers = _layer_sizes(self.generator_layers, "generator_layers")
        _layer_sizes(self.discriminator_layers, "discriminator_layers")  # before any work
        G, _, _ = check_gradient_inputs(
            dYdX, None, n_samples=n, n_model_features=p, n_outputs=k, y_ndim=y_ndim,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        check_finite_scale(X, Y, G, dtype=np.float32, estimator=self)
        self.device_ = resolve_device(self.device)
        self.n_outputs_ = k
        self._y_ndim = y_ndim
        self.x_mean_, self.x_scale_ = _moments(X)
        self.y_mean_, self.y_scale_ = _moments(Y)

        to = dict(device=self.device_, dtype=torch.float32)
        data = SobolevData(
            torch.as_tensor((X - self.x_mean_) / self.x_scale_, **to),
            torch.as_tensor((Y - self.y_mean_) / self.y_scale_, **to),
        )
        if G is not None and self.gradient_weight > 0:
            Gs = G * self.x_scale_ / self.y_scale_[:, None]
            known = ~np.isnan(Gs)
            if known.any():
                data.gradients = torch.as_tensor(np.where(known, Gs, 0.0), **to)
                if not known.all():
                    data.mask = torch.as_tensor(known, device=self.device_)
        for name, tensor in (("X", data.X), ("Y", data.y), ("dYdX", data.gradients)):
            if tensor is not None and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"GIConditionalGAN: standardized {name} overflows float32; "
                                 "rescale X, Y and dYdX.")

        random_state = check_random_state(self.random_state)
        init_seed, torch_seed = random_state.randint(np.iinfo(np.int32).max, size=2)
        self._predict_latent = random_state.standard_normal(
            (self.predict_samples, self.latent_dim)).astype(np.float32)
        with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(init_seed))
            generator = self._generator()
            # a mean-residual generator's mu keeps PyTorch's default (smaller) initialisation:
            # with Glorot's, 300 epochs left its regression at 1.6-2.5 times the error
            # (heteroscedastic)
            _glorot_init(generator.residual if self.mean_residual else generator)
            # the discriminator also sees each run's derivative along a random input
            # direction, among the inputs whose partials are known for every output
            self.critic_sees_gradients_ = bool(
                self.critic_gradients and data.gradients is not None
                and (data.mask is None or bool(data.mask.all(dim=1).any())))
            critic = self._critic()
            _glorot_init(critic)
        if self.mean_residual:
            generator.anchors.copy_(torch.as_tensor(random_state.standard_normal(
                (self.latent_anchors, self.latent_dim)), dtype=torch.float32))
        self.mean_estimators_ = None
        prefit = self._prefits_mean()
        if prefit:
            self.mean_estimators_ = self._fit_mean(X, Y, G, generator_layers, n, random_state)
            # the same standardization (column means and standard deviations): the
            # regressions' weights are mu's
            # mu keeps the regressions' dtype (X's, as GIMLPRegressor: float64 for float64 data)
            generator.mean.to(next(self.mean_estimators_[0].net_.module_.parameters()).dtype)
            members = (generator.mean.members if isinstance(generator.mean, MeanEnsemble)
                       else [generator.mean])
            for member, regression in zip(members, self.mean_estimators_):
                state = regression.net_.module_.state_dict()
                member.load_state_dict({key: t.detach().to("cpu") for key, t in state.items()})
            generator.mean.requires_grad_(False)

        batch_size = min(64, n) if self.batch_size == "auto" else min(self.batch_size, n)
        self.net_ = self._make_net(generator, critic, batch_size, fit_mean=not prefit)
        self.net_.generator_ = torch.Generator(device=self.device_).manual_seed(int(torch_seed))
        self.net_.mean_steps_ = self.max_iter * math.ceil(n / batch_size)
        weights = sum(t.numel() for t in (*generator.parameters(), *critic.parameters()))
        threads = 1 if self.device_.type == "cpu" and batch_size * weights < SMALL_MODEL_WORK else None
        try:
            with _torch_threads(threads):
                self.net_.fit(data)
        finally:
            self.net_.generator_ = None
        history = self.net_.history
        self.n_iter_ = len(history)
        self.loss_curve_ = list(history[:, "train_loss"])
        self.critic_loss_curve_ = list(history[:, "critic_loss"])
        self.gradient_loss_curve_ = (list(history[:, "gradient_loss"])
                                     if data.gradients is not None and not prefit else None)
        return self

    def _make_net(self, generator, critic, batch_size, *, fit_mean):
        """The skorch net of a fit (also rebuilt by :func:`sklearn_gi.io.load`)."""
        return ConditionalGANNet(
            generator,
            critic=critic,
            latent_dim=self.latent_dim,
            n_critic=self.n_critic,
            penalty_weight=self.penalty_weight,
            gradient_weight=self.gradient_weight,
            mean_weight=self.mean_weight,
            mean_draws=self.mean_draws,
            gradient_projections=self.gradient_projections,
            fit_mean=fit_mean,
            critic_gradients=bool(getattr(self, "critic_sees_gradients_", False)),
            optimizer=torch.optim.Adam,
            optimizer__betas=(0.5, 0.9),
            critic_optimizer__betas=(0.5, 0.9),
            lr=self.learning_rate,
            max_epochs=self.max_iter,
            batch_size=batch_size,
            device=str(self.device_),
            verbose=self.verbose,
        )

    def _prefits_mean(self):
        """Whether ``mu`` is fitted by L-BFGS before the game (and then fixed)."""
        return self.mean_residual and self.mean_solver == "lbfgs" and self.mean_weight > 0

    def _generator(self):
        """The untrained generator for ``n_features_in_`` inputs and ``n_outputs_`` outputs."""
        p, k = self.n_features_in_, self.n_outputs_
        layers = _layer_sizes(self.generator_layers, "generator_layers")
        if self.mean_residual:
            return MeanResidualGenerator(p, self.latent_dim, layers, k, self.activation,
                                         self.latent_anchors,
                                         int(self.n_mean_estimators) if self._prefits_mean() else 1)
        return MLPModule(p + self.latent_dim, layers, k, self.activation)

    def _critic(self):
        """The untrained discriminator: input ``(x, y)``, or ``(x, y, u, dy/dx u)``."""
        p, k = self.n_features_in_, self.n_outputs_
        width = p + k + (p + k) * bool(getattr(self, "critic_sees_gradients_", False))
        return MLPModule(width, _layer_sizes(self.discriminator_layers, "discriminator_layers"), 1,
                         self.activation)

    def _modules(self):
        """Untrained generator and discriminator of the fitted shapes (for loading weights)."""
        return self._generator(), self._critic()

    def _fit_mean(self, X, Y, G, layers, n, random_state):
        """The ``n_mean_estimators`` regressions of ``mu``, fitted as GIMLPRegressor fits a
        network, with early stopping; each seed sets its initialisation and validation split."""
        weight = self.gradient_weight / self.mean_weight
        y = Y[:, 0] if self._y_ndim == 1 else Y
        dYdX = None
        if G is not None and weight > 0:
            dYdX = G[:, 0] if self._y_ndim == 1 else G
        seeds = random_state.randint(np.iinfo(np.int32).max, size=int(self.n_mean_estimators))
        regressions = []
        for seed in seeds:
            regression = GIMLPRegressor(  # L-BFGS at any size, as before solver="auto"
                hidden_layer_sizes=layers, activation=self.activation, gradient_weight=weight,
                solver="lbfgs", max_iter=5000,
                gradient_projections=self.gradient_projections, early_stopping=n >= 2,
                device=str(self.device_), random_state=int(seed),
            )
            with warnings.catch_warnings():
                # its budget warning names GIMLPRegressor's max_iter, which is not ours
                warnings.simplefilter("ignore", ConvergenceWarning)
                regression.fit(X, y, dYdX)
            regressions.append(regression)
        budget_spent = sum(not regression.converged_ for regression in regressions)
        if budget_spent:
            warnings.warn(
                f"GIConditionalGAN: {budget_spent} of the {len(regressions)} L-BFGS fits of the "
                f"mean network mu used their whole budget ({regressions[0].max_iter} iterations) "
                "with the validation loss still falling; mean_solver='adam' trains mu inside the "
                "game instead.",
                ConvergenceWarning,
                stacklevel=5,  # _fit_mean, _fit, fit, _fit_context, the caller
            )
        return regressions

    # -------------------------------------------------------------- predict
    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def _module(self):
        module = self.net_.module_
        module.eval()
        return module, next(module.parameters()).device

    def _standardized(self, X, device, dtype=torch.float32):
        with np.errstate(over="ignore", invalid="ignore"):
            Xs = (X - self.x_mean_) / self.x_scale_
        return torch.as_tensor(Xs, dtype=dtype, device=device)

    def _threads(self, rows):
        module, device = self._module()
        if device.type != "cpu":
            return None
        weights = sum(t.numel() for t in module.parameters())
        return 1 if rows * weights < SMALL_MODEL_WORK else None

    def _mean_and_jacobian(self, X, with_jacobian):
        module, device = self._module()
        if isinstance(module, MeanResidualGenerator):
            return self._mu_and_jacobian(module.mean, self._standardized(X, device, module.mean_dtype),
                                         with_jacobian)
        Xt = self._standardized(X, device)
        Z = torch.as_tensor(self._predict_latent, device=device)
        m, p = len(Z), X.shape[1]
        chunk = max(1, PREDICT_CHUNK_ROWS // m)
        means, jacobians = [], []
        with torch.no_grad(), _torch_threads(self._threads(min(len(Xt), chunk) * m)):
            for rows in torch.split(Xt, chunk):
                inputs = torch.cat([rows.repeat_interleave(m, dim=0), Z.repeat(len(rows), 1)], dim=1)
                if with_jacobian:
                    out, jac = module.forward_with_jacobian(inputs)
                    jacobians.append(jac[:, :, :p].reshape(len(rows), m, -1, p).mean(dim=1).cpu())
                else:
                    out = module(inputs)
                means.append(out.reshape(len(rows), m, -1).mean(dim=1).cpu())
        return self._to_original_units(means, jacobians, with_jacobian, p)

    def _mu_and_jacobian(self, mean_module, Xt, with_jacobian):
        p = Xt.shape[1]
        means, jacobians = [], []
        with torch.no_grad(), _torch_threads(self._threads(min(len(Xt), PREDICT_CHUNK_ROWS))):
            for rows in torch.split(Xt, PREDICT_CHUNK_ROWS):
                if with_jacobian:
                    out, jac = mean_module.forward_with_jacobian(rows)
                    jacobians.append(jac.cpu())
                else:
                    out = mean_module(rows)
                means.append(out.cpu())
        return self._to_original_units(means, jacobians, with_jacobian, p)

    def _to_original_units(self, means, jacobians, with_jacobian, p):
        """Concatenated chunks of standardized means (and Jacobians) in the targets' units."""
        k = self.n_outputs_
        mean = torch.cat(means).double().numpy() if means else np.zeros((0, k))
        mean = mean * self.y_scale_ + self.y_mean_
        if not with_jacobian:
            return mean, None
        jac = torch.cat(jacobians).double().numpy() if jacobians else np.zeros((0, k, p))
        return mean, jac * (self.y_scale_[:, None] / self.x_scale_[None, :])

    def predict(self, X):
        """Conditional mean ``E[y | x]``: ``mu(x)``, the mean over the anchors (or of
        ``predict_samples`` fixed latent draws when ``mean_residual=False``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_mean : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        mean, _ = self._mean_and_jacobian(self._check_X(X), with_jacobian=False)
        check_finite_output(mean, method="predict", estimator=self)
        return mean[:, 0] if self._y_ndim == 1 else mean

    def predict_gradient(self, X):
        """Gradient ``d/dx`` of the conditional mean that :meth:`predict` returns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_features) or \
                (n_samples, n_outputs, n_features)
        """
        _, jac = self._mean_and_jacobian(self._check_X(X), with_jacobian=True)
        check_finite_output(jac, method="predict_gradient", estimator=self)
        return jac[:, 0, :] if self._y_ndim == 1 else jac

    def sample(self, X, n_samples=1, random_state=None):
        """Draw outputs from the learned conditional distribution ``p(y | x)``.

        Parameters
        ----------
        X : array-like of shape (n_inputs, n_features)
        n_samples : int, default=1
            Draws per input.
        random_state : int, RandomState instance or None, default=None
            Seed of the latent draws.

        Returns
        -------
        samples : ndarray of shape (n_inputs, n_samples) or (n_inputs, n_samples, n_outputs)
            The 2-D form when the model was fitted to a 1-D ``Y``.
        """
        X = self._check_X(X)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        rng = check_random_state(random_state)
        Z = rng.standard_normal((len(X) * n_samples, self.latent_dim)).astype(np.float32)
        module, device = self._module()
        Xt = self._standardized(X, device).repeat_interleave(n_samples, dim=0)
        Zt = torch.as_tensor(Z, device=device)
        with torch.no_grad(), _torch_threads(self._threads(min(len(Xt), PREDICT_CHUNK_ROWS))):
            out = [module(torch.cat([a, b], dim=1)) for a, b in
                   zip(torch.split(Xt, PREDICT_CHUNK_ROWS), torch.split(Zt, PREDICT_CHUNK_ROWS))]
        k = self.n_outputs_
        out = torch.cat(out).double().cpu().numpy() if out else np.zeros((0, k))
        samples = (out * self.y_scale_ + self.y_mean_).reshape(len(X), n_samples, k)
        check_finite_output(samples, method="sample", estimator=self)
        return samples[:, :, 0] if self._y_ndim == 1 else samples
