"""Huge and Savine's twin network, the peer of ``benchmarks.differential_ml`` (our own torch code).

The authors' protocol (notebook DifferentialML.ipynb, "Differential Machine
Learning", 2020), read from their code and reproduced exactly:

* 4 hidden layers of 20 softplus units, linear output; weights by TF's
  ``variance_scaling_initializer`` (fan-in, scale 1, truncated normal),
  zero biases;
* ``x`` and ``y`` standardised, ``dYdX`` scaled by ``sigma_x / sigma_y``;
* loss ``MSE(y) / (1 + n) + n / (1 + n) * MSE(lambda_j * (dy_hat/dx_j - z_j))``
  with ``lambda_j = 1 / sqrt(mean_i z_ij^2)`` in standardised units
  (values only: ``MSE(y)``, the "standard" network);
* Adam, 100 epochs, batch size ``max(256, m // 16)``, batches taken in order
  (no shuffling); the learning rate interpolated once per epoch over the knots
  ``(0, 1e-8), (0.2, 0.1), (0.6, 0.01), (0.9, 1e-6), (1, 1e-8)`` of
  ``epoch / epochs``; no early stopping.

One torch thread, float32 like the authors' TensorFlow graph.
"""

import math

import numpy as np
import torch
from torch import nn

LEARNING_RATE_KNOTS = ((0.0, 1e-8), (0.2, 0.1), (0.6, 0.01), (0.9, 1e-6), (1.0, 1e-8))


def _truncated_normal_fan_in(weight, generator):
    # TF's variance_scaling_initializer(scale=1, mode="fan_in", distribution="truncated_normal"):
    # N(0, s) truncated at 2 s, with s = sqrt(1 / fan_in) / 0.8796 (the truncation's std correction).
    fan_in = weight.shape[1]
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    with torch.no_grad():
        sample = torch.randn(weight.shape, generator=generator)
        while True:
            outside = sample.abs() > 2.0
            if not outside.any():
                break
            sample[outside] = torch.randn(int(outside.sum()), generator=generator)
        weight.copy_(sample * std)


class TwinNet:
    """The authors' twin network (``differential=True``) or standard network (``False``).

    Parameters
    ----------
    differential : bool, default=True
        Train on values and pathwise derivatives (twin net) or on values only.
    epochs : int, default=100
    hidden_layer_sizes : tuple of int, default=(20, 20, 20, 20)
    batches_per_epoch : int, default=16
    min_batch_size : int, default=256
    random_state : int, default=0
        Seeds the initial weights (the batches are taken in order).
    """

    def __init__(self, differential=True, *, epochs=100, hidden_layer_sizes=(20, 20, 20, 20),
                 batches_per_epoch=16, min_batch_size=256, random_state=0):
        self.differential = differential
        self.epochs = epochs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.batches_per_epoch = batches_per_epoch
        self.min_batch_size = min_batch_size
        self.random_state = random_state

    def _build(self, n_inputs, generator):
        sizes = [n_inputs, *self.hidden_layer_sizes, 1]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            linear = nn.Linear(a, b)
            _truncated_normal_fan_in(linear.weight, generator)
            nn.init.zeros_(linear.bias)
            layers += [linear, nn.Softplus()]
        return nn.Sequential(*layers[:-1])

    def fit(self, X, y, dYdX=None):
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(X, y, dYdX)
        finally:
            torch.set_num_threads(previous_threads)

    def _fit(self, X, y, dYdX):
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        m, n = X.shape
        self.x_mean_, self.x_std_ = X.mean(axis=0), X.std(axis=0) + 1e-8
        self.y_mean_, self.y_std_ = y.mean(axis=0), y.std(axis=0) + 1e-8
        Xs = torch.as_tensor((X - self.x_mean_) / self.x_std_, dtype=torch.float32)
        ys = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        differential = self.differential and dYdX is not None
        if differential:
            Z = np.asarray(dYdX, dtype=np.float64) / self.y_std_ * self.x_std_
            lambda_j = 1.0 / np.sqrt((Z**2).mean(axis=0))
            Zs = torch.as_tensor(Z, dtype=torch.float32)
            lambdas = torch.as_tensor(lambda_j, dtype=torch.float32)
            alpha = 1.0 / (1.0 + n)
        generator = torch.Generator().manual_seed(int(self.random_state))
        self.module_ = module = self._build(n, generator)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-8)
        batch_size = max(self.min_batch_size, m // self.batches_per_epoch)
        knots, rates = zip(*LEARNING_RATE_KNOTS)
        for epoch in range(self.epochs):
            lr = float(np.interp(epoch / self.epochs, knots, rates))
            for group in optimizer.param_groups:
                group["lr"] = lr
            for first in range(0, m, batch_size):
                xb = Xs[first:first + batch_size]
                yb = ys[first:first + batch_size]
                optimizer.zero_grad(set_to_none=True)
                if differential:
                    xb = xb.requires_grad_(True)
                    out = module(xb)
                    (grad,) = torch.autograd.grad(out.sum(), xb, create_graph=True)
                    zb = Zs[first:first + batch_size]
                    loss = alpha * torch.mean((out - yb) ** 2) + (1 - alpha) * torch.mean(
                        ((grad - zb) * lambdas) ** 2)
                else:
                    loss = torch.mean((module(xb) - yb) ** 2)
                loss.backward()
                optimizer.step()
        return self

    def _forward(self, X):
        Xs = torch.as_tensor((np.asarray(X, dtype=np.float64) - self.x_mean_) / self.x_std_,
                             dtype=torch.float32).requires_grad_(True)
        out = self.module_(Xs)
        (grad,) = torch.autograd.grad(out.sum(), Xs)
        return out.detach().numpy()[:, 0], grad.numpy()

    def predict(self, X):
        return self._forward(X)[0] * self.y_std_[0] + self.y_mean_[0]

    def predict_gradient(self, X):
        return self._forward(X)[1].astype(np.float64) * self.y_std_[0] / self.x_std_
