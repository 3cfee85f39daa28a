"""Classic one-formula problems: Runge's function and a sine."""

import numpy as np

from ._base import GradientProblem, cube_bounds, register_problem


@register_problem
class Runge(GradientProblem):
    """Runge's function ``1 / (1 + 25 ||x||^2)`` on ``[-1, 1]^n_features``."""

    name = "runge"

    def __init__(self, n_features=1):
        super().__init__(cube_bounds(-1, 1, n_features))

    def _value(self, X):
        return 1.0 / (1.0 + 25.0 * (X**2).sum(axis=1))

    def _gradient(self, X):
        denom = 1.0 + 25.0 * (X**2).sum(axis=1, keepdims=True)
        return -50.0 * X / denom**2


@register_problem
class Sine(GradientProblem):
    """``sin(x)`` on ``[0, 2.5 pi]``, McDonagh and Chen's Ridge-Gradient example.

    Add value noise with ``make_problem("sin", noise=0.1)``; the gradients stay
    exact (``cos(x)``), as in the paper.
    """

    name = "sin"

    def __init__(self):
        super().__init__([[0.0, 2.5 * np.pi]])

    def _value(self, X):
        return np.sin(X[:, 0])

    def _gradient(self, X):
        return np.cos(X)
