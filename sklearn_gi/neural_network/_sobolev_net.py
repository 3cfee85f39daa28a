"""The skorch net behind ``GIMLPRegressor``: Sobolev steps on device-resident tensors.

skorch's default data path (a ``Dataset`` plus a ``DataLoader`` that indexes
and collates every sample every epoch) and its default callbacks cost about
three times a plain torch loop on small full-batch data. Here the data live
as tensors on the training device, batches are tensor slices (no copy at all
for a full batch), and the per-epoch bookkeeping is one cheap callback.
"""

import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochTimer, PrintLog

from ._sobolev_loss import (
    chain_feature_jacobian,
    masked_squared_error,
    model_jacobian,
    project_targets,
    random_unit_projections,
    weighted_mean_squared_error,
)


class SobolevData:
    """Standardized training tensors on one device.

    Parameters
    ----------
    X : torch.Tensor of shape (n, p)
    y : torch.Tensor of shape (n, k)
    gradients : torch.Tensor of shape (n, k, d) or None
        Gradient targets with unknown partials set to 0.
    mask : torch.Tensor of bool, shape (n, k, d), or None
        True where a partial is known; None when all are.
    feature_jacobian : torch.Tensor of shape (p, d) or (n, p, d), or None
    weights : torch.Tensor of shape (n,) or None
        Sample weights; None weighs every sample equally.
    partial_weights : torch.Tensor of shape (d,) or None
        Factor of each input's gradient residual (``gradients`` are already
        multiplied by it; the model's Jacobian is multiplied in the loss).
    """

    def __init__(self, X, y, gradients=None, mask=None, feature_jacobian=None, weights=None,
                 partial_weights=None):
        self.X = X
        self.y = y
        self.gradients = gradients
        self.mask = mask
        self.feature_jacobian = feature_jacobian
        self.weights = weights
        self.partial_weights = partial_weights

    def __len__(self):
        return self.X.shape[0]

    def subset(self, index):
        """Rows ``index`` (a tensor on the data's device); shared 2-D Jacobians stay shared."""
        J = self.feature_jacobian
        if J is not None and J.ndim == 3:
            J = J[index]
        return SobolevData(
            self.X[index],
            self.y[index],
            None if self.gradients is None else self.gradients[index],
            None if self.mask is None else self.mask[index],
            J,
            None if self.weights is None else self.weights[index],
            self.partial_weights,
        )


class TensorBatches:
    """Iterate over ``SobolevData`` in batches: ``(X, data)`` pairs of tensor slices.

    A batch covering every row is the data itself, with no copy.
    """

    def __init__(self, data, batch_size, shuffle=False, generator=None):
        self.data = data
        self.batch_size = len(data) if batch_size is None or batch_size < 0 else batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return -(-len(self.data) // self.batch_size)

    def __iter__(self):
        n = len(self.data)
        if self.batch_size >= n:
            yield self.data.X, self.data
            return
        device = self.data.X.device
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator, device=device)
        else:
            order = torch.arange(n, device=device)
        for start in range(0, n, self.batch_size):
            batch = self.data.subset(order[start : start + self.batch_size])
            yield batch.X, batch


class EpochLoss(Callback):
    """Record the epoch's mean batch loss as ``train_loss`` / ``valid_loss``.

    A light replacement for skorch's ``PassthroughScoring`` pair. With
    ``trend_window``, also record ``train_loss_trend``, the mean training loss
    of the last ``trend_window`` epochs: a steadier signal to stop on when the
    training loss is noisy (stochastic projections).
    """

    def __init__(self, trend_window=None):
        self.trend_window = trend_window

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        for prefix in ("train", "valid"):
            batches = [b for b in row["batches"] if prefix + "_loss" in b]
            if batches:
                total = sum(b[prefix + "_loss"] * b[prefix + "_batch_size"] for b in batches)
                count = sum(b[prefix + "_batch_size"] for b in batches)
                net.history.record(prefix + "_loss", total / count)
        if self.trend_window:
            recent = net.history[-self.trend_window :, "train_loss"]
            net.history.record("train_loss_trend", sum(recent) / len(recent))


class DivergenceGuard(Callback):
    """Stop training with a ``FloatingPointError`` when the training loss diverges.

    The rule: after a training step, the batch loss must be finite and at most
    ``factor * max(first loss, 1)``, the first loss being that of the first
    step. Losses are in standardized units, where predicting the mean costs
    about 1, so a loss a million times the start is never progress: it is a
    step size far too large for the problem (Adam's learning rate) or inputs
    whose scale the optimizer cannot handle.

    Parameters
    ----------
    factor : float, default=1e6
    learning_rate : float or None
        Named in the message (Adam); None for L-BFGS, whose line search sets the steps.
    solver : str, default="adam"
    """

    def __init__(self, factor=1e6, learning_rate=None, solver="adam"):
        self.factor = factor
        self.learning_rate = learning_rate
        self.solver = solver

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        if not training or loss is None:
            return
        value = float(loss.detach()) if hasattr(loss, "detach") else float(loss)
        if self.first_loss_ is None and math.isfinite(value):
            self.first_loss_ = value
        reference = max(self.first_loss_ or 0.0, 1.0)
        if math.isfinite(value) and value <= self.factor * reference:
            return
        epoch = len(net.history)
        if self.learning_rate is not None:
            cause = (f"the learning rate (learning_rate_init={self.learning_rate:g}) is likely "
                     "too large: lower it")
        else:
            cause = (f"the {self.solver} steps diverged: check the scale of X, y and dYdX, or "
                     "use solver='adam' with a small learning_rate_init")
        raise FloatingPointError(
            f"GIMLPRegressor training diverged at epoch {epoch}: the training loss became "
            f"{value:.3g} (first loss {self.first_loss_ if self.first_loss_ is not None else value:.3g};"
            f" the limit is {self.factor:g} x max(first loss, 1), in standardized units). "
            f"{cause[0].upper()}{cause[1:]}."
        )


class NoisyDataDetected(Exception):
    """Raised by :class:`NoiseProbe` to end a fit whose data look noisy."""

    def __init__(self, unexplained):
        super().__init__(f"the training values leave {unexplained:.3g} of their variance unexplained")
        self.unexplained = unexplained


def unexplained_value_variance(module, data, chunk_rows=65536):
    """Share of the values' variance the module leaves unexplained on ``data``.

    The mean over the outputs that vary (0 when none does), weighted by
    ``data.weights`` when set.
    """
    with torch.no_grad():
        residual = torch.cat([module(data.X[start : start + chunk_rows]) - data.y[start : start + chunk_rows]
                              for start in range(0, len(data), chunk_rows)])
        weights = data.weights
        if weights is None:
            weights = torch.ones(len(data), dtype=residual.dtype, device=residual.device)
        weights = (weights / weights.sum())[:, None]
        mean = (weights * data.y).sum(dim=0)
        variance = (weights * (data.y - mean) ** 2).sum(dim=0)
        # a constant output's variance is rounding error of its mean square
        varies = variance > 100 * torch.finfo(variance.dtype).eps * (weights * data.y**2).sum(dim=0)
        if not bool(varies.any()):
            return 0.0
        error = (weights * residual**2).sum(dim=0)
        return float((error[varies] / variance[varies]).mean())


class NoiseProbe(Callback):
    """Raise :class:`NoisyDataDetected` when, at the end of epoch ``epoch``, the
    network leaves more than ``threshold`` of the training values' variance unexplained.

    Smooth exact data are fitted far below the threshold by then; labels
    with their own noise (Monte Carlo payoffs) cannot be. The share is
    recorded in the history as ``train_value_unexplained`` and kept as
    ``unexplained_`` (None until the probe's epoch).

    Parameters
    ----------
    epoch : int
    threshold : float
    """

    def __init__(self, epoch, threshold):
        self.epoch = epoch
        self.threshold = threshold

    def initialize(self):
        self.unexplained_ = None
        return self

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        if len(net.history) != self.epoch or dataset_train is None:
            return
        self.unexplained_ = unexplained_value_variance(net.module_, dataset_train)
        net.history.record("train_value_unexplained", self.unexplained_)
        if self.unexplained_ > self.threshold:
            raise NoisyDataDetected(self.unexplained_)


class OneCycleSchedule(Callback):
    """Set Adam's learning rate at the start of each epoch on a one-cycle schedule.

    The rate is ``peak * interp(epoch / epochs, fractions, factors)`` for the
    knots ``(fraction of the epochs, factor of the peak)``: a warm-up to the
    peak, then an annealing far below it (Smith's one-cycle policy, as Huge
    and Savine's twin network uses it).

    Parameters
    ----------
    peak : float
    epochs : int
    knots : sequence of (float, float)
    """

    def __init__(self, peak, epochs, knots):
        self.peak = peak
        self.epochs = epochs
        self.knots = knots

    def rate(self, epoch):
        fractions, factors = zip(*self.knots)
        position = epoch / self.epochs
        # linear interpolation between the knots (numpy-free: called every epoch)
        for (x0, y0), (x1, y1) in zip(self.knots[:-1], self.knots[1:]):
            if position <= x1:
                return self.peak * (y0 + (y1 - y0) * (position - x0) / (x1 - x0))
        return self.peak * factors[-1]

    def on_epoch_begin(self, net, **kwargs):
        rate = self.rate(len(net.history) - 1)  # the net opened this epoch's row already
        for group in net.optimizer_.param_groups:
            group["lr"] = rate


class _LastStepAccumulator:
    """Keep the last loss evaluation of an optimizer step (L-BFGS evaluates several)."""

    def __init__(self):
        self.step = None

    def store_step(self, step):
        self.step = step

    def get_step(self):
        return self.step


class SobolevNet(NeuralNet):
    """skorch ``NeuralNet`` whose steps minimise the Sobolev loss.

    ``fit`` takes a :class:`SobolevData`; ``train_split`` (when set) is called
    with it and must return two of them. Loss per batch::

        mean value error + gradient_weight * mean gradient error
            + alpha * ||weights||^2 / (2 * batch size)

    Parameters
    ----------
    module : torch.nn.Module
    gradient_weight : float, default=1.0
    alpha : float, default=0.0
        L2 penalty on the weights (not the biases).
    gradient_projections : int or None, default=None
        Match this many random output-space projections of the Jacobian per
        sample and training step instead of the full Jacobian. Validation
        losses use the full Jacobian, so that they are exact.
    gradient_epsilon : float or None, default=None
        Huber threshold of the gradient error (None: squared error).
    loss_trend_window : int, default=10
        With projections, epochs averaged into ``train_loss_trend``.
    **kwargs
        Passed to ``skorch.NeuralNet``.
    """

    def __init__(
        self,
        module,
        *,
        gradient_weight=1.0,
        alpha=0.0,
        gradient_projections=None,
        gradient_epsilon=None,
        loss_trend_window=10,
        **kwargs,
    ):
        kwargs.setdefault("criterion", torch.nn.MSELoss)  # unused; skorch requires one
        super().__init__(module, **kwargs)
        self.gradient_weight = gradient_weight
        self.alpha = alpha
        self.gradient_projections = gradient_projections
        self.gradient_epsilon = gradient_epsilon
        self.loss_trend_window = loss_trend_window

    # The generator for shuffling and projections is set by the estimator for
    # the duration of a fit only (generators do not pickle).
    generator_ = None
    projections_ = None

    def get_default_callbacks(self):
        trend_window = self.loss_trend_window if self.gradient_projections else None
        callbacks = [("epoch_timer", EpochTimer()), ("epoch_loss", EpochLoss(trend_window))]
        if self.verbose:  # PrintLog formats a table every epoch even when silent
            callbacks.append(("print_log", PrintLog()))
        return callbacks

    def get_train_step_accumulator(self):
        return _LastStepAccumulator()

    def get_dataset(self, X, y=None):
        if not isinstance(X, SobolevData):
            raise TypeError("SobolevNet trains on SobolevData.")
        return X

    def get_iterator(self, dataset, training=False):
        return TensorBatches(
            dataset,
            self.batch_size,
            shuffle=training,
            generator=self.generator_,
        )

    def sobolev_loss(self, data, *, training):
        """Loss on one batch; returns ``(loss, predictions)``."""
        X = data.X
        if data.gradients is None or self.gradient_weight == 0:
            out = self.module_(X)
            loss = weighted_mean_squared_error(out, data.y, data.weights)
        else:
            projections = None
            target, mask = data.gradients, data.mask
            if self.gradient_projections is not None and training:
                projections = self._projections(data, training)
                target, mask = project_targets(projections, target, mask)
            out, jac = model_jacobian(self.module_, X, projections=projections, create_graph=training)
            jac = chain_feature_jacobian(jac, data.feature_jacobian)
            if data.partial_weights is not None:  # the targets carry the factors already
                jac = jac * data.partial_weights
            loss = weighted_mean_squared_error(out, data.y, data.weights)
            loss = loss + self.gradient_weight * masked_squared_error(
                jac, target, mask, weights=data.weights, epsilon=self.gradient_epsilon
            )
        if self.alpha:
            penalty = sum((layer.weight**2).sum() for layer in self.module_.layers)
            loss = loss + self.alpha * penalty / (2 * len(X))
        return loss, out

    def _projections(self, data, training):
        # Drawn once per optimizer step (train_step) so that L-BFGS, which
        # evaluates the loss several times per step, sees one objective.
        if training and self.projections_ is not None and len(self.projections_) == len(data):
            return self.projections_
        return random_unit_projections(
            len(data),
            self.gradient_projections,
            data.y.shape[1],
            generator=self.generator_,
            device=data.X.device,
            dtype=data.X.dtype,
        )

    def train_step(self, batch, **fit_params):
        self.projections_ = None
        if self.gradient_projections is not None and batch[1].gradients is not None:
            self.projections_ = self._projections(batch[1], training=False)
        # once per step, not per loss evaluation (L-BFGS evaluates it several times)
        self._set_training(True)
        try:
            return super().train_step(batch, **fit_params)
        finally:
            self.projections_ = None

    def train_step_single(self, batch, **fit_params):
        _, data = batch
        loss, out = self.sobolev_loss(data, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": out}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        _, data = batch
        with torch.no_grad():  # reverse-mode Jacobians re-enable it locally
            loss, out = self.sobolev_loss(data, training=False)
        return {"loss": loss.detach(), "y_pred": out.detach()}
