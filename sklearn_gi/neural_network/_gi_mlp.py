"""GIMLPRegressor: a torch MLP trained on values and input-gradients (Sobolev training)."""

import copy
import math
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from skorch.callbacks import EarlyStopping
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._gradient_consistency import _inconsistency
from ..utils._threads import SharedThreadCount
from ..utils._validation import (
    check_feature_jacobian,
    check_finite_output,
    check_finite_scale,
    check_gradient_inputs,
    check_positive_sample_weight,
    named_input_errors,
    no_half_fitted_model,
)
from ._device import resolve_device
from ._lbfgs import FlatLBFGS
from ._modules import ACTIVATIONS, MLPModule
from ._sobolev_loss import chain_feature_jacobian, model_jacobian
from ._sobolev_net import (
    DivergenceGuard,
    NoiseProbe,
    NoisyDataDetected,
    OneCycleSchedule,
    SobolevData,
    SobolevNet,
    unexplained_value_variance,
)

# L-BFGS iterations per skorch epoch: convergence checks, early stopping and
# callbacks run between blocks of this many iterations.
LBFGS_ITERATIONS_PER_EPOCH = 20

# L-BFGS memory (pairs of steps and gradient changes kept).
LBFGS_HISTORY_SIZE = 50

# solver="auto": full-batch L-BFGS below this many training rows, minibatch
# Adam with a one-cycle learning rate from it on (measured: see the user guide,
# "Choosing the solver"; every committed suite/McDonagh cell has n <= 100).
AUTO_ADAM_MIN_SAMPLES = 2048
# ... and from this many rows on, below AUTO_ADAM_MIN_SAMPLES, also when the data
# look noisy: gradients with a full row that leave more than NOISY_INCONSISTENCY of
# the nearest-neighbour value differences unexplained (utils.gradient_inconsistency).
# Measured at 1,024 samples: every exact suite function at most 0.088 (Ackley; 3
# seeds) except the kinked Bukin N.6 (0.68, which then trains 1.7x worse: 0.073
# against 0.044), the Monte Carlo baskets of 2-20 assets and the Black-Scholes
# call at least 0.255 (5 seeds). At 512 samples Ackley reaches 0.20 and the
# 20-asset basket 0.22: too close to tell apart, so the check starts at 1,024
# (benchmarks.gradient_noise_check, benchmarks.mlp_solver_choice). With more
# inputs the neighbours are farther apart and exact data look noisy too: an exact
# Gaussian bump on [-1, 1]^d at 1,024 samples gives up to 0.047 with 8 inputs,
# 0.14 with 10 and 2.5 with 20 (3 seeds), so the check runs up to
# NOISE_CHECK_MAX_FEATURES inputs only.
NOISE_CHECK_MIN_SAMPLES = 1024
NOISE_CHECK_MAX_FEATURES = 8
NOISY_INCONSISTENCY = 0.15

# The one-cycle learning-rate schedule (Huge and Savine's twin network): knots
# (fraction of the epochs, fraction of the peak rate), interpolated per epoch.
ONE_CYCLE_KNOTS = ((0.0, 1e-7), (0.2, 1.0), (0.6, 0.1), (0.9, 1e-5), (1.0, 1e-7))
# Peak rate of learning_rate_init="auto" on the one-cycle path: the twin net's
# 0.1 divided by sqrt(n_features). Adam moves every first-layer weight by about
# the rate, so a hidden unit's input moves by about rate * sqrt(n_features): the
# division keeps that move alike whatever the number of inputs. Measured on the
# Monte Carlo benchmarks (medians over 5 seeds, user guide "Monte Carlo data"):
# a fixed 0.1 was best on the 1-input Black-Scholes call and worst on the
# 20-asset basket, a fixed 0.03 the reverse.
ONE_CYCLE_PEAK = 0.1
ONE_CYCLE_EPOCHS = 100
CONSTANT_ADAM_RATE = 1e-3
# partial_weights="rms": an input's mean square partial counts as at least this
# fraction of the mean over the inputs (those with nonzero partials). Without the
# floor an input the function barely depends on gets a weight as large as its
# partials are small: exact water flow (one input's partials 1e-10 of the mean
# square) at n = 2048 trained to NRMSE 0.99 (the mean) on the one-cycle path,
# 0.016 with the floor (benchmarks.mlp_solver_choice). At n = 4096 (2 seeds) 1e-2
# did a little better than 1e-3 (0.008 / 0.005 against 0.013 / 0.009), but it
# would reweigh 3 of 10 Bachelier baskets (smallest ratio 3.4e-3); 1e-3 none.
RMS_WEIGHT_FLOOR = 1e-3
LBFGS_MAX_ITER = 5000

# alpha="auto": no penalty, except on the one-cycle schedule with gradients and at
# least NOISY_PENALTY_MIN_FEATURES inputs, where a probe at NOISE_PROBE_FRACTION of
# the epochs measures the share of the training values' variance the network leaves
# unexplained; above NOISY_UNEXPLAINED the labels carry their own noise and the fit
# starts again from the same weights with alpha=NOISY_DATA_ALPHA. Measured (user
# guide, "Monte Carlo data"; benchmarks.noise_probe): at 40% of the epochs exact suite
# data with 8-10 inputs (water flow, wing weight, McDonagh 8-D; n = 2048-8192, 3 seeds)
# leave at most 0.0057, Monte Carlo baskets of 7, 10 and 20 assets at least 0.060.
# The penalty helps baskets of 7, 10 and 20 assets (m = 4096: deltas 0.78x, 0.73x,
# 0.60x) and hurts those of 2-6 at 4096 paths (deltas up to 1.26x, values up to
# 1.10x) and the 1-input Black-Scholes call (values 1.09-1.62x).
NOISY_PENALTY_MIN_FEATURES = 7
NOISE_PROBE_FRACTION = 0.4
NOISY_UNEXPLAINED = 0.02
NOISY_DATA_ALPHA = 0.1

# Rows per forward pass at prediction time (bounds memory on large X).
PREDICT_CHUNK_ROWS = 65536

# Below this many (rows per step x weights), one CPU thread is as fast as
# several (measured: 200 x 4,353 weights) and immune to oversubscription:
# two 2-thread torch processes on 2 cores ran 2.6x slower than two 1-thread ones.
SMALL_MODEL_WORK = 1_000_000


def _set_torch_threads(count, first):
    previous = torch.get_num_threads() if first else None
    # with OpenMP the count is also per calling thread: each one sets its own
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return previous


def _restore_torch_threads(previous):
    if previous != torch.get_num_threads():
        torch.set_num_threads(previous)


# torch's intra-op thread count is process-global: blocks share it as BLAS's
# (fits in threads used to race: one restored the count while another was
# still training). ``_torch_threads(n)`` uses n threads inside the block (None:
# leave as is).
_torch_threads = SharedThreadCount(_set_torch_threads, _restore_torch_threads)
_TORCH_RNG_LOCK = threading.Lock()


class _HoldOut:
    """skorch ``train_split``: fixed train and validation rows of a ``SobolevData``."""

    def __init__(self, train_index, valid_index):
        self.train_index = train_index
        self.valid_index = valid_index

    def __call__(self, dataset, y=None, **fit_params):
        device = dataset.X.device
        train = torch.as_tensor(self.train_index, device=device)
        valid = torch.as_tensor(self.valid_index, device=device)
        return dataset.subset(train), dataset.subset(valid)


def _scale(values):
    """Standard deviations with zeros replaced by one (constant columns)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(values > 0, values, 1.0)


def _weighted_moments(A, weights):
    """Column means and scales (standard deviations, zeros replaced by one)."""
    mean = np.average(A, axis=0, weights=weights).astype(np.float64)
    variance = np.average((A - mean) ** 2, axis=0, weights=weights)
    return mean, _scale(np.sqrt(variance))


class GIMLPRegressor(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Multi-layer perceptron trained on values and input-gradients (Sobolev training).

    Minimises ``mean value error + gradient_weight * mean gradient error``,
    both measured in standardized units: ``X`` and ``y`` are standardized
    internally and the gradients scaled by ``sigma_x / sigma_y``, so that no
    input or output dominates because of its units. Without ``dYdX`` the same
    network is trained on values alone, the honest baseline.

    The torch module is trained by a `skorch <https://skorch.readthedocs.io>`_
    net (``net_``) with a tensor-slicing data path: on small full-batch data
    its per-epoch cost is close to a plain torch loop.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, or int, default=(64, 64)
        Width of each hidden layer.
    activation : {"auto", "tanh", "softplus", "silu", "gelu", "sigmoid", "relu"}, default="auto"
        Hidden-layer activation; the output layer is linear. ReLU networks are
        piecewise linear, so a loss on their gradients cannot shape their
        curvature: it is allowed with a warning. "auto": "softplus" with the
        one-cycle schedule (large data; measured better than tanh on noisy
        Monte Carlo labels), else "tanh". The activation used is
        ``activation_``.
    gradient_weight : float, default=1.0
        Weight of the mean squared gradient error relative to the mean squared
        value error (both standardized). 0 ignores ``dYdX``.
    partial_weights : "auto", None, "rms" or array-like of shape (n_inputs,), default="auto"
        Weight of each input's squared gradient error (the error of one
        partial ``df/dx_j``, in standardized units), as in
        :class:`~sklearn_gi.linear_model.GIRidge`. None: 1 for every input.
        "rms": ``1 / mean(z_j**2)`` with ``z_j`` the standardized partials of
        the training set (known ones, over samples and outputs): Huge and
        Savine's differential weighting (the twin net's ``lambda_j = 1 /
        sqrt(mean z_j**2)`` multiplies the residual before squaring), so that
        each input's partials count alike whatever their scale (an input
        whose partials are all zero keeps 1; a mean square below ``1e-3``
        times the mean over the inputs with nonzero partials counts as that
        floor, so that an input
        the function barely depends on is not weighted up to fit rounding
        noise). An array gives the weights
        itself (non-negative; ``n_inputs`` is the last axis of ``dYdX``).
        "auto": "rms" with the one-cycle schedule (large data), else None. The
        resolved weights are ``partial_weights_``. Inside
        :class:`~sklearn_gi.pipeline.GIPipeline` an explicit "rms" or array
        weighs the pipeline's inputs (the pipeline then passes ``dZdX``);
        "auto" lets the pipeline choose its gradient mode as for None.
    gradient_loss : {"squared", "huber"}, default="squared"
        Penalty of each standardized gradient error ``r`` (one partial of one
        sample). "squared": ``r**2``. "huber": ``r**2`` where ``|r| <= epsilon``
        and ``2 * epsilon * |r| - epsilon**2`` beyond, which grows linearly, so
        that unbounded or outlying derivatives (a function's ridge, a noisy
        adjoint) cannot dominate the loss. The value error stays squared.
    epsilon : float, default=1.0
        Huber threshold of ``gradient_loss="huber"``, in standardized units:
        gradients are scaled by ``sigma_x / sigma_y``, so ``epsilon=1`` is a
        gradient error of one standard deviation of ``y`` per standard
        deviation of ``x``. Errors below it are squared as with "squared".
    solver : {"auto", "lbfgs", "adam"}, default="auto"
        Full-batch L-BFGS (torch's algorithm with a strong-Wolfe line search,
        run over flat weights with the compact two-loop recursion; see the
        user guide) is usually best for small scientific data; Adam with
        minibatches for larger data. "auto": L-BFGS below 2,048 samples,
        else Adam with the one-cycle learning rate (``learning_rate``) over a
        fixed budget of epochs, which on large noisy data (Monte Carlo
        payoffs with pathwise derivatives) is both far more accurate and
        far faster than L-BFGS to convergence (measured in the user guide,
        "Choosing the solver"). From 1,024 samples on, data with at most 8
        inputs whose gradients leave more than 0.15 of the nearest-neighbour
        value differences unexplained
        (:func:`~sklearn_gi.utils.gradient_inconsistency`: noisy labels) get
        Adam too; the check needs ``dYdX`` without ``dZdX``, leaves out rows
        with an unknown value or partial, and ignores ``sample_weight``. A
        warm start keeps the solver of the fit it continues. The solver used
        is ``solver_``.
    alpha : float or "auto", default="auto"
        L2 penalty on the weights, added as ``alpha * ||W||^2 / (2 * batch size)``.
        "auto": no penalty, except on noisy data with many inputs. On the
        one-cycle schedule, with gradients and at least 7 inputs (columns of
        ``dYdX``), a probe at 40% of the epochs (or at the end, when early
        stopping ends the fit sooner) measures the share of the training
        values' variance the network leaves unexplained; above 0.02 the fit
        starts again from the same initial weights with ``alpha=0.1``, which
        costs those 40% of the epochs once more (callbacks see the first
        attempt too). Measured: exact water flow, wing weight and McDonagh's
        8-D regression from 2,048 samples are fitted far below 0.02 by then,
        Monte Carlo payoffs with 7-20 inputs cannot be; exact functions that
        the network cannot fit by then (10-D Ackley) are penalised too. The
        user guide's "Monte Carlo data" page measures the rule; ``alpha_``
        and ``noise_probe_score_`` say what it found. A warm start keeps the
        penalty of the fit it continues.
    batch_size : int or "auto", default="auto"
        Minibatch size for Adam; "auto" is ``min(200, n_samples)`` at a
        constant learning rate and ``max(256, n_samples // 16)`` (16 batches
        per epoch) with the one-cycle schedule. L-BFGS always uses the full
        batch.
    learning_rate : {"auto", "constant", "one_cycle"}, default="auto"
        Adam's learning-rate schedule. "constant": ``learning_rate_init``
        throughout, stopped by ``tol``. "one_cycle": per epoch, a linear
        warm-up from ``1e-7`` times the peak ``learning_rate_init`` over the
        first 20% of the ``max_iter`` epochs, a decay to a tenth of it at 60%,
        to ``1e-5`` of it at 90% and ``1e-7`` at the end (the twin network's
        schedule); it runs all its epochs unless ``early_stopping`` stops it.
        "auto": "one_cycle" when ``solver="auto"`` picks Adam, else
        "constant". Ignored by L-BFGS.
    learning_rate_init : float or "auto", default="auto"
        Adam's (peak) learning rate; "auto" is 1e-3 at a constant rate and
        ``0.1 / sqrt(n_features)`` for the one-cycle schedule: the twin
        network's peak 0.1 for one input, less for more inputs, so that a
        step moves each hidden unit's input alike whatever their number
        (measured on Monte Carlo data with 1, 7 and 20 inputs, see the user
        guide). L-BFGS uses its line search.
    max_iter : int or "auto", default="auto"
        Maximum number of epochs (Adam) or iterations (L-BFGS, rounded up to
        whole epochs of 20 iterations): a safety budget, not the stopping
        rule (see ``tol``). Reaching it raises a ``ConvergenceWarning``.
        With the one-cycle schedule it is the schedule's length instead (no
        warning). "auto": 100 epochs for the one-cycle schedule, else 5000.
    tol : float, default=1e-4
        The stopping rule, the same with and without ``dYdX``: training stops
        when the monitored loss (validation loss with ``early_stopping``, else
        training loss) has not improved by a relative ``tol`` for
        ``n_iter_no_change`` iterations (L-BFGS, checked every 20 iterations)
        or epochs (Adam). This includes L-BFGS at a stationary point (its own
        tests, largest gradient entry at most 1e-7 in standardized units, end
        a step without progress). ``max_iter`` is the budget: reaching it
        warns, and then the loss was still falling by more than a relative
        ``tol``, so more iterations would lower it. Gradient fits match
        ``n (1 + d)`` equations instead of ``n`` and usually need more
        iterations than value fits.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, monitor its loss (values
        and gradients) and keep the weights of the best epoch.
    validation_fraction : float, default=0.1
        Fraction of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Patience of the stopping rule, in epochs (for L-BFGS, in iterations,
        rounded up to whole epochs of 20).
    gradient_projections : int or None, default=None
        Stochastic Sobolev training (Czarnecki et al., 2017): match this many
        random projections ``v^T J`` of the Jacobian on unit vectors ``v`` of
        output space, drawn per sample and step, instead of the full Jacobian.
        Cheaper for many outputs; unknown (NaN) partials of any output mask
        that input's projected target. The projections are redrawn at every
        optimizer step (L-BFGS keeps one draw through its line searches);
        since the training loss is then noisy, the stopping rule watches its
        mean over the last ``n_iter_no_change`` epochs, and validation losses
        use the full Jacobian.
    device : str, default="auto"
        "auto" uses CUDA when available, else the CPU; "cpu", "cuda" or
        "cuda:N" ask for one (CUDA without a GPU is an error, never a silent
        fallback). Data, module, masks and projections all live there.
    n_threads : int or None, default=None
        torch CPU threads used while fitting and predicting. None: one thread
        for small models (rows per step times weights below 1e6), where more
        threads do not pay and oversubscribe shared cores, else torch's
        setting. Ignored on CUDA. torch's count is process-global: fits and
        predictions in several Python threads share it safely (those wanting
        another count wait), and it is restored when the last one ends.
    compute_dtype : {"auto", "input", "float32", "float64"}, default="auto"
        Floating-point type the network trains and predicts in. "input": the
        dtype of ``X`` (float32 data train in float32, anything else in
        float64). "auto": float32 on the one-cycle Adam path (large data),
        where the minibatch noise of the gradient dwarfs float32 rounding and
        a step costs about half (the twin network and deep-learning practice
        train in float32; the errors on Monte Carlo data were identical,
        measured in the user guide), unless the standardized data would
        overflow float32; "input" with L-BFGS, which converges to float64
        precision on exact data. The dtype used is ``compute_dtype_``.
        Predictions are returned in the dtype of the ``X`` passed to them,
        promoted with ``compute_dtype_`` (as numpy would: float64 in,
        float64 out).
    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues from the
        current weights (as scikit-learn's ``MLPRegressor``) and keeps the
        standardization of the first fit, so that the weights keep their
        meaning; ``X`` must have the same features and ``y`` the same outputs.
        The optimizer's state (L-BFGS history, Adam moments) starts afresh. A
        fit that fails leaves the estimator unfitted, warm or not.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks for the net (copied at each fit), e.g.
        ``skorch.callbacks.LRScheduler``.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the minibatch order, the projections and the
        validation split. The same seed gives the same model on the CPU.
    verbose : int, default=0
        Print skorch's per-epoch log when positive.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted skorch net; ``net_.module_`` is the torch module, which
        works in standardized units, and ``net_.history`` the training log.
    device_ : torch.device
        Device the model was trained on.
    solver_ : {"lbfgs", "adam"}
        The solver used (``solver="auto"`` resolved).
    activation_ : str
        The activation used (``activation="auto"`` resolved).
    compute_dtype_ : numpy.dtype
        The dtype the network was trained in (``compute_dtype`` resolved).
    partial_weights_ : ndarray of shape (n_inputs,) or None
        Weights of the squared gradient errors (``partial_weights`` resolved);
        None when they are all 1 or no gradients were fitted.
    alpha_ : float
        The L2 penalty the network was trained with (``alpha`` resolved).
    noise_probe_score_ : float or None
        With ``alpha="auto"``, the share of the training values' variance the
        network left unexplained at the probe (40% of the epochs; the mean
        over the outputs that vary); None where no probe ran.
    n_iter_ : int
        Epochs (Adam) or iterations (L-BFGS) run.
    converged_ : bool
        True when the stopping rule ended training (see ``tol``) or the
        one-cycle schedule ran its course, False when ``max_iter`` ended it
        otherwise.
    loss_curve_ : list of float
        Training loss at the end of each epoch (standardized units).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch, with ``early_stopping``.
    best_loss_ : float
        Lowest monitored loss.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        Standardization of the inputs.
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        Standardization of the targets.
    n_outputs_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` has string feature names.

    See Also
    --------
    sklearn_gi.linear_model.GIRidge : Closed-form linear model with gradients.
    sklearn.neural_network.MLPRegressor : The value-only scikit-learn MLP.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.neural_network import GIMLPRegressor
    >>> X = np.linspace(-1, 1, 8)[:, None]
    >>> y, dYdX = np.sin(3 * X[:, 0]), 3 * np.cos(3 * X)
    >>> model = GIMLPRegressor((16, 16), max_iter=200, random_state=0).fit(X, y, dYdX)
    >>> X_test = np.linspace(-1, 1, 50)[:, None]
    >>> bool(np.abs(model.predict(X_test) - np.sin(3 * X_test[:, 0])).max() < 0.01)
    True
    >>> model.predict_gradient(X_test).shape
    (50, 1)
    """

    # GI estimators without their gradients are almost always a mistake, so
    # the gradients are routed by default (no set_fit_request boilerplate).
    __metadata_request__fit = {"dYdX": True, "dZdX": True}

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS) | {"auto"})],
        "gradient_weight": [Interval(Real, 0, None, closed="left")],
        "partial_weights": [None, StrOptions({"auto", "rms"}), "array-like"],
        "gradient_loss": [StrOptions({"squared", "huber"})],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "lbfgs", "adam"})],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"auto", "constant", "one_cycle"})],
        "learning_rate_init": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "max_iter": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "gradient_projections": [None, Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
        "compute_dtype": [StrOptions({"auto", "input", "float32", "float64"})],
        "warm_start": ["boolean"],
        "callbacks": [None, list],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(64, 64),
        *,
        activation="auto",
        gradient_weight=1.0,
        partial_weights="auto",
        gradient_loss="squared",
        epsilon=1.0,
        solver="auto",
        alpha="auto",
        batch_size="auto",
        learning_rate="auto",
        learning_rate_init="auto",
        max_iter="auto",
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        gradient_projections=None,
        device="auto",
        n_threads=None,
        compute_dtype="auto",
        warm_start=False,
        callbacks=None,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.gradient_weight = gradient_weight
        self.partial_weights = partial_weights
        self.gradient_loss = gradient_loss
        self.epsilon = epsilon
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.gradient_projections = gradient_projections
        self.device = device
        self.n_threads = n_threads
        self.compute_dtype = compute_dtype
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
        """Fit the network to values and, when given, input-gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (the model's features).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Input-gradients of the targets; the 2-D form is for 1-D ``y``.
            NaN marks an unknown partial (masked out of the loss). ``n_inputs``
            is ``n_features`` unless ``dZdX`` is given.
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the features ``X`` with respect to the raw inputs that
            ``dYdX`` refers to (chain rule); e.g. from
            :func:`sklearn_gi.preprocessing.transform_jacobian`.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights of the value and gradient errors (and of the
            internal standardization).

        Returns
        -------
        self : GIMLPRegressor

        Raises
        ------
        ValueError
            Before training, when the scale of ``X``, ``y`` or ``dYdX`` overflows
            the working dtype (see :func:`sklearn_gi.utils.check_finite_scale`).
        FloatingPointError
            When training diverges: the training loss becomes non-finite, or
            exceeds ``1e6 * max(first loss, 1)`` (losses are in standardized
            units, where predicting the mean costs about 1). The estimator is
            then left unfitted; lower ``learning_rate_init`` (Adam).
        """
        with no_half_fitted_model(self):
            return self._fit(X, y, dYdX, dZdX, sample_weight)

    def _fit(self, X, y, dYdX, dZdX, sample_weight):
        warm = bool(self.warm_start) and hasattr(self, "net_")
        with named_input_errors():
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32], y_numeric=True, multi_output=True,
                reset=not warm,
            )
        n, p = X.shape
        Y = y.reshape(n, -1).astype(X.dtype, copy=False)
        k = Y.shape[1]
        if warm and k != self.n_outputs_:
            raise ValueError(
                f"warm_start=True: y has {k} output(s) but the fitted network has "
                f"{self.n_outputs_}; fit with warm_start=False to start afresh."
            )
        hidden = self._hidden_sizes()
        weights = None
        if sample_weight is not None:
            weights = check_positive_sample_weight(sample_weight, X)
        G, J, _ = check_gradient_inputs(
            dYdX, dZdX, n_samples=n, n_model_features=p, n_outputs=k, y_ndim=y.ndim,
            feature_names=getattr(self, "feature_names_in_", None),
        )
        check_finite_scale(X, Y, G, estimator=self)
        uses_gradients = G is not None and self.gradient_weight > 0
        # a warm start continues with the solver (and so the activation) it started with
        solver = self.solver_ if warm and self.solver == "auto" else self._resolve_solver(n, X, Y, G, J)
        activation = self.activation
        if activation == "auto":
            activation = "softplus" if self._schedule(solver) == "one_cycle" else "tanh"
        if uses_gradients and activation == "relu":
            warnings.warn(
                "activation='relu' has a zero second derivative: the gradient loss "
                "cannot shape the network's curvature and GI helps little. Prefer a "
                "smooth activation such as 'tanh', 'silu', 'softplus' or 'gelu'.",
                UserWarning,
                stacklevel=2,
            )
        n_valid = 0
        if self.early_stopping:
            n_valid = max(1, int(round(self.validation_fraction * n)))
            if n - n_valid < 1:
                raise ValueError(
                    f"early_stopping needs at least 2 samples, got n_samples={n}."
                )
        previous = self.net_.module_ if warm else None
        self.solver_, self.activation_ = solver, activation
        self.device_ = resolve_device(self.device)
        self.n_outputs_ = k
        self._y_ndim = y.ndim

        # Standardize; gradients become d(y/sy)/d(x/sx) = dYdX * sx / sy.
        # A warm start keeps the first fit's scales: the weights work in them.
        with np.errstate(over="ignore", invalid="ignore"):
            if not warm:
                self.x_mean_, self.x_scale_ = _weighted_moments(X, weights)
                self.y_mean_, self.y_scale_ = _weighted_moments(Y, weights)
            data = self._training_data(X, Y, G, J)
        self._check_standardized(data)
        if weights is not None:
            data.weights = torch.as_tensor(weights, device=self.device_, dtype=data.X.dtype)

        random_state = check_random_state(self.random_state)
        init_seed, torch_seed = random_state.randint(np.iinfo(np.int32).max, size=2)
        train_split = None
        if n_valid:
            order = random_state.permutation(n)
            train_split = _HoldOut(np.sort(order[n_valid:]), np.sort(order[:n_valid]))

        def train(alpha, noise_probe_epoch):
            # the initialisation draws from torch's global generator: one fit at a time
            with _TORCH_RNG_LOCK, torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(init_seed))
                module = MLPModule(p, hidden, k, self.activation_)
                _glorot_init(module, self.activation_)
            if previous is not None:
                shapes = [tuple(t.shape) for t in module.state_dict().values()]
                if shapes != [tuple(t.shape) for t in previous.state_dict().values()] or (
                        previous.activation != self.activation_):
                    raise ValueError(
                        "warm_start=True: hidden_layer_sizes or activation changed since the "
                        "last fit; fit with warm_start=False to start afresh."
                    )
                module.load_state_dict({key: t.detach().cpu() for key, t in previous.state_dict().items()})
            module = module.to(device=self.device_, dtype=data.X.dtype)
            self.alpha_ = alpha
            self.net_ = self._make_net(module, n - n_valid, train_split, uses_gradients,
                                       noise_probe_epoch=noise_probe_epoch)
            self.net_.generator_ = torch.Generator(device=self.device_).manual_seed(int(torch_seed))
            rows_per_step = n - n_valid if self.net_.batch_size == -1 else self.net_.batch_size
            try:
                with _torch_threads(self._thread_count(rows_per_step, module)):
                    self.net_.fit(data)
            finally:
                self.net_.generator_ = None
                if isinstance(getattr(self.net_, "optimizer_", None), FlatLBFGS):
                    # the fitted module owns its weights; the L-BFGS memory is not kept
                    self.net_.optimizer_.release()

        # the probe's count is of the raw inputs (dYdX's columns), not of derived features
        n_inputs = G.shape[-1] if G is not None else p
        alpha, noise_probe_epoch = self._resolve_alpha(solver, n_inputs, data.gradients is not None, warm)
        score = None
        try:
            train(alpha, noise_probe_epoch)
        except NoisyDataDetected as noisy:  # the probe stopped the fit at its epoch
            score = noisy.unexplained
        else:
            if noise_probe_epoch is not None:
                score = dict(self.net_.callbacks_)["noise_probe"].unexplained_
                if score is None:  # early stopping ended the fit before the probe's epoch
                    rows = data if train_split is None else train_split(data)[0]
                    score = unexplained_value_variance(self.net_.module_, rows)
        self.noise_probe_score_ = score
        if score is not None and score > NOISY_UNEXPLAINED:
            # noisy labels with many inputs: start again, from the same weights, with the penalty
            if self.verbose:
                print(f"GIMLPRegressor: the training values leave {score:.3g} of their variance "
                      f"unexplained; starting again with alpha={NOISY_DATA_ALPHA:g}.")
            train(NOISY_DATA_ALPHA, None)
        self._record_training()
        # The best weights were restored; a copy left in the callback would
        # also pin CUDA tensors into pickles.
        dict(self.net_.callbacks_)["stopping"].best_model_weights_ = None
        return self

    def _check_standardized(self, data):
        """The standardized training tensors must be finite in the working dtype."""
        moments = (self.x_mean_, self.x_scale_, self.y_mean_, self.y_scale_)
        if not all(np.all(np.isfinite(m)) for m in moments):
            raise ValueError(
                "GIMLPRegressor: the means or standard deviations of X or y overflow "
                f"{_numpy_dtype(data.X).name}; rescale X and y."
            )
        for name, tensor in (("X", data.X), ("y", data.y), ("dYdX", data.gradients),
                             ("dZdX", data.feature_jacobian)):
            if tensor is not None and not bool(torch.isfinite(tensor).all()):
                hint = (" (dYdX is scaled by std(X) / std(y): an input much wider than the "
                        "target spread overflows)") if name == "dYdX" else ""
                raise ValueError(
                    f"GIMLPRegressor: standardized {name} overflows {_numpy_dtype(data.X).name}"
                    f"{hint}; rescale X, y and dYdX."
                )

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)

    def _input_scales(self, J):
        """Scale of each raw input: ``x_scale_`` itself when the features are the inputs.

        With a feature Jacobian, the raw inputs' scale is unknown; the step in
        raw input m that moves the standardized features by a unit (root mean
        square over samples) plays its role.
        """
        if J is None:
            return self.x_scale_
        Js = J / self.x_scale_[:, None]
        sq = (Js**2).sum(axis=-2)  # (d,) or (n, d)
        if sq.ndim == 2:
            sq = sq.mean(axis=0)
        with np.errstate(divide="ignore"):
            scales = 1.0 / np.sqrt(sq)
        return np.where(np.isfinite(scales), scales, 1.0)

    def _resolve_compute_dtype(self, input_dtype, arrays):
        """The training dtype: ``compute_dtype`` resolved against the data and the solver."""
        choice = self.compute_dtype
        if choice == "auto":
            choice = "input"
            if self._schedule(self.solver_) == "one_cycle":
                # float32 only where the standardized data stay finite in it
                limit = np.finfo(np.float32).max
                with np.errstate(invalid="ignore"):
                    fits = all(not np.any(np.abs(a) > limit) for a in arrays if a is not None)
                choice = "float32" if fits else "input"
        if choice == "input":
            return np.dtype(np.float32) if input_dtype == np.float32 else np.dtype(np.float64)
        return np.dtype(choice)

    def _training_data(self, X, Y, G, J):
        Xs = (X - self.x_mean_) / self.x_scale_
        Ys = (Y - self.y_mean_) / self.y_scale_
        Gs = mask = feature_jacobian = factors = None
        self.partial_weights_ = None
        if G is not None and self.gradient_weight > 0:
            s_in = self._input_scales(J)
            scaled = G * s_in / self.y_scale_[:, None]
            known = ~np.isnan(scaled)
            if known.any():  # else nothing to match: a value fit, without the Jacobian work
                Gs = np.where(known, scaled, 0.0)
                weights = self.partial_weights_ = self._partial_weights(Gs, known)
                if weights is not None:  # a weight of the squared error: its root scales the residual
                    factors = np.sqrt(weights)
                    Gs = Gs * factors
                if J is not None:
                    feature_jacobian = J / self.x_scale_[:, None] * s_in
        self.compute_dtype_ = self._resolve_compute_dtype(X.dtype, (Xs, Ys, Gs, feature_jacobian))
        to = dict(device=self.device_, dtype=getattr(torch, self.compute_dtype_.name))
        if Gs is None:
            return SobolevData(torch.as_tensor(Xs, **to), torch.as_tensor(Ys, **to))
        if not known.all():
            mask = torch.as_tensor(known, device=self.device_)
        return SobolevData(
            torch.as_tensor(Xs, **to), torch.as_tensor(Ys, **to), torch.as_tensor(Gs, **to), mask,
            None if feature_jacobian is None else torch.as_tensor(feature_jacobian, **to),
            partial_weights=None if factors is None else torch.as_tensor(factors, **to),
        )

    def _partial_weights(self, Gs, known):
        """Weights of each input's squared gradient error, shape (n_inputs,), or None for all ones.

        ``Gs`` (n, k, d) holds the standardized partials, zeros where unknown.
        """
        d = Gs.shape[-1]
        weights = self.partial_weights
        if isinstance(weights, str) and weights == "auto":
            weights = "rms" if self._schedule(self.solver_) == "one_cycle" else None
        if weights is None:
            return None
        if isinstance(weights, str):  # "rms": 1 / mean square of the known partials of input j
            counts = known.sum(axis=(0, 1))
            mean_square = (Gs**2).sum(axis=(0, 1)) / np.maximum(counts, 1)
            nonzero = mean_square > 0
            if not nonzero.any():
                return np.ones(d)
            floor = RMS_WEIGHT_FLOOR * mean_square[nonzero].mean()
            return np.where(nonzero, 1.0 / np.maximum(mean_square, floor), 1.0)
        with named_input_errors():
            factors = np.asarray(weights, dtype=np.float64)
        if factors.shape != (d,):
            raise ValueError(
                f"partial_weights must be None, 'rms' or an array of shape (n_inputs,) = ({d},), "
                f"one weight per column of dYdX; got shape {factors.shape}."
            )
        if not np.all(np.isfinite(factors)) or np.any(factors < 0):
            raise ValueError("partial_weights must be finite and non-negative.")
        return factors

    def _resolve_solver(self, n_samples, X=None, Y=None, G=None, J=None):
        if self.solver != "auto":
            return self.solver
        if n_samples >= AUTO_ADAM_MIN_SAMPLES:
            return "adam"
        # noisy data between the two sizes (the check needs gradients of X itself)
        if (n_samples >= NOISE_CHECK_MIN_SAMPLES and G is not None and J is None
                and X.shape[1] <= NOISE_CHECK_MAX_FEATURES and self.gradient_weight > 0
                and _inconsistency(X, Y, G) > NOISY_INCONSISTENCY):
            return "adam"
        return "lbfgs"

    def _resolve_alpha(self, solver, n_inputs, fits_gradients, warm):
        """The L2 penalty to train with, and the epoch of the noise probe (None: no probe)."""
        if self.alpha != "auto":
            return float(self.alpha), None
        if warm:  # a warm start continues with the penalty it was trained with
            return getattr(self, "alpha_", 0.0), None
        schedule = self._schedule(solver)
        if schedule != "one_cycle" or not fits_gradients or n_inputs < NOISY_PENALTY_MIN_FEATURES:
            return 0.0, None
        epochs = self._max_iter(schedule)
        return 0.0, max(1, round(NOISE_PROBE_FRACTION * epochs))

    def _schedule(self, solver):
        """Adam's learning-rate schedule ("constant" or "one_cycle"); None for L-BFGS."""
        if solver == "lbfgs":
            return None
        if self.learning_rate == "auto":
            return "one_cycle" if self.solver == "auto" else "constant"
        return self.learning_rate

    def _max_iter(self, schedule):
        if self.max_iter != "auto":
            return self.max_iter
        return ONE_CYCLE_EPOCHS if schedule == "one_cycle" else LBFGS_MAX_ITER

    def _make_net(self, module, n_train, train_split, uses_gradients, noise_probe_epoch=None):
        n_features = module.layers[0].in_features
        solver = getattr(self, "solver_", None) or self._resolve_solver(n_train)
        schedule = self._schedule(solver)
        max_iter = self._max_iter(schedule)
        extra = copy.deepcopy(self.callbacks) if self.callbacks else []
        if solver == "lbfgs":
            optimizer, lr = FlatLBFGS, 1.0
            optimizer_params = dict(
                optimizer__max_iter=min(LBFGS_ITERATIONS_PER_EPOCH, max_iter),
                optimizer__line_search_fn="strong_wolfe",
                optimizer__history_size=LBFGS_HISTORY_SIZE,
            )
            max_epochs = math.ceil(max_iter / LBFGS_ITERATIONS_PER_EPOCH)
            patience = math.ceil(self.n_iter_no_change / LBFGS_ITERATIONS_PER_EPOCH)
            batch_size = -1
        else:
            lr = self.learning_rate_init
            if lr == "auto":
                lr = (ONE_CYCLE_PEAK / math.sqrt(n_features) if schedule == "one_cycle"
                      else CONSTANT_ADAM_RATE)
            optimizer, optimizer_params = torch.optim.Adam, {}
            max_epochs, patience = max_iter, self.n_iter_no_change
            if self.batch_size != "auto":
                batch_size = self.batch_size
            elif schedule == "one_cycle":
                batch_size = min(n_train, max(256, n_train // 16))
            else:
                batch_size = min(200, n_train)
            if schedule == "one_cycle":
                # the schedule is the budget: only a validation loss may cut it short
                extra.append(("one_cycle", OneCycleSchedule(lr, max_epochs, ONE_CYCLE_KNOTS)))
                if train_split is None:
                    patience = max_epochs + 1
        if noise_probe_epoch is not None:
            extra.append(("noise_probe", NoiseProbe(noise_probe_epoch, NOISY_UNEXPLAINED)))
        if train_split is not None:
            monitor = "valid_loss"
        elif self.gradient_projections is not None and uses_gradients:
            monitor = "train_loss_trend"  # the projected loss is noisy
        else:
            monitor = "train_loss"
        stopping = EarlyStopping(
            monitor=monitor,
            patience=patience,
            threshold=self.tol,
            threshold_mode="rel",
            lower_is_better=True,
            load_best=train_split is not None,
        )
        # Scoring-like user callbacks first: EarlyStopping ends the last epoch.
        guard = DivergenceGuard(learning_rate=lr if solver == "adam" else None, solver=solver)
        callbacks = [*extra, ("divergence", guard), ("stopping", stopping)]
        return SobolevNet(
            module,
            gradient_weight=self.gradient_weight if uses_gradients else 0.0,
            alpha=self.alpha_,  # set by the fit, or by the loader for saved models
            gradient_projections=self.gradient_projections,
            gradient_epsilon=self.epsilon if self.gradient_loss == "huber" else None,
            loss_trend_window=patience,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            device=str(self.device_),
            verbose=self.verbose,
            **optimizer_params,
        )

    def _record_training(self):
        history = self.net_.history
        self.loss_curve_ = list(history[:, "train_loss"])
        self.validation_loss_curve_ = (
            list(history[:, "valid_loss"]) if self.early_stopping else None
        )
        monitored = self.validation_loss_curve_ or self.loss_curve_
        self.best_loss_ = float(np.min(monitored))
        epochs = len(history)
        if self.solver_ == "lbfgs":
            optimizer = self.net_.optimizer_
            state = optimizer.state[optimizer.param_groups[0]["params"][0]]
            self.n_iter_ = int(state.get("n_iter", 0))
        else:
            self.n_iter_ = epochs
        one_cycle = self._schedule(self.solver_) == "one_cycle"
        self.converged_ = bool(epochs < self.net_.max_epochs or self._stopped_early() or one_cycle)
        if not self.converged_:
            max_iter = self._max_iter(self._schedule(self.solver_))
            warnings.warn(
                f"GIMLPRegressor: the maximum number of iterations (max_iter={max_iter}) "
                "was reached before the loss stopped improving; consider a larger max_iter.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _stopped_early(self):
        stopping = dict(self.net_.callbacks_)["stopping"]
        return stopping.misses_ >= stopping.patience

    # ------------------------------------------------------------- predict
    def _module_device(self):
        # The module's own device: a CUDA-trained model unpickled on a CPU-only
        # machine has been mapped to the CPU by skorch.
        return next(self.net_.module_.parameters()).device

    def _thread_count(self, rows, module):
        if next(module.parameters()).device.type != "cpu":
            return None
        if self.n_threads is not None:
            return self.n_threads
        weights = sum(p.numel() for p in module.parameters())
        return 1 if rows * weights < SMALL_MODEL_WORK else None

    def _standardized_tensor(self, X):
        module = self.net_.module_
        dtype = next(module.parameters()).dtype
        with np.errstate(over="ignore", invalid="ignore"):
            Xs = (X - self.x_mean_) / self.x_scale_
        return torch.as_tensor(Xs, dtype=dtype, device=self._module_device())

    def predict(self, X):
        """Predict values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        module = self.net_.module_
        module.eval()
        Xt = self._standardized_tensor(X)
        with torch.no_grad(), _torch_threads(
            self._thread_count(min(len(Xt), PREDICT_CHUNK_ROWS), module)
        ):
            out = [module(chunk) for chunk in torch.split(Xt, PREDICT_CHUNK_ROWS)]
        out = torch.cat(out).cpu().numpy() if out else np.zeros((0, self.n_outputs_))
        pred = (out * self.y_scale_ + self.y_mean_).astype(np.result_type(X.dtype, _numpy_dtype(Xt)))
        check_finite_output(pred, method="predict", estimator=self)
        return pred[:, 0] if self._y_ndim == 1 else pred

    def predict_gradient(self, X, dZdX=None):
        """Predict input-gradients ``df/dX`` (autograd, in batches).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        dZdX : array-like of shape (n_samples, n_features, n_inputs) or \
                (n_features, n_inputs), default=None
            Jacobian of the features ``X`` with respect to raw inputs; when
            given, the gradient is returned with respect to the raw inputs.

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs)
            ``n_inputs`` is ``n_features`` when ``dZdX`` is None.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        J = None
        if dZdX is not None:
            J, _ = check_feature_jacobian(
                dZdX, n_samples=X.shape[0], n_model_features=X.shape[1], dtype=X.dtype
            )
        module = self.net_.module_
        module.eval()
        Xt = self._standardized_tensor(X)
        with torch.no_grad(), _torch_threads(
            self._thread_count(min(len(Xt), PREDICT_CHUNK_ROWS), module)
        ):
            jac = [
                model_jacobian(module, chunk, create_graph=False)[1]
                for chunk in torch.split(Xt, PREDICT_CHUNK_ROWS)
            ]
        dtype = np.result_type(X.dtype, _numpy_dtype(Xt))
        jac = torch.cat(jac).cpu().numpy() if jac else np.zeros((0, self.n_outputs_, X.shape[1]))
        grad = jac * (self.y_scale_[:, None] / self.x_scale_[None, :])
        if J is not None:
            grad = chain_feature_jacobian(grad, J)
        grad = check_finite_output(grad.astype(dtype, copy=False), method="predict_gradient",
                                   estimator=self)
        return grad[:, 0, :] if self._y_ndim == 1 else grad


def _numpy_dtype(tensor):
    """The numpy dtype of a tensor's dtype, without copying it to the host."""
    return np.dtype(str(tensor.dtype).removeprefix("torch."))


def _glorot_init(module, activation):
    """Glorot-uniform weights and biases, as scikit-learn's MLP initialises them."""
    factor = 2.0 if activation == "sigmoid" else 6.0
    with torch.no_grad():
        for layer in module.layers:
            bound = math.sqrt(factor / (layer.in_features + layer.out_features))
            layer.weight.uniform_(-bound, bound)
            layer.bias.uniform_(-bound, bound)
