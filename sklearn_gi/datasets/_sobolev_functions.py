"""The seven 2-D test functions of Czarnecki et al. (2017), with their domains."""

import numpy as np

from ._base import GradientProblem, cube_bounds, register_problem


@register_problem
class Ackley(GradientProblem):
    """Ackley on [-5, 5]^2. The gradient at the origin (undefined) is taken as 0."""

    name = "ackley"

    def __init__(self):
        super().__init__([[-5, 5], [-5, 5]])

    def _value(self, X):
        r = np.sqrt(0.5 * (X**2).sum(axis=1))
        cos_mean = 0.5 * np.cos(2 * np.pi * X).sum(axis=1)
        return -20 * np.exp(-0.2 * r) - np.exp(cos_mean) + 20 + np.e

    def _gradient(self, X):
        r = np.sqrt(0.5 * (X**2).sum(axis=1, keepdims=True))
        safe_r = np.where(r > 0, r, 1.0)
        radial = np.where(r > 0, 2 * X * np.exp(-0.2 * safe_r) / safe_r, 0.0)
        cos_mean = 0.5 * np.cos(2 * np.pi * X).sum(axis=1, keepdims=True)
        return radial + np.pi * np.sin(2 * np.pi * X) * np.exp(cos_mean)


@register_problem
class Beale(GradientProblem):
    """Beale on [-4.5, 4.5]^2."""

    name = "beale"

    def __init__(self):
        super().__init__([[-4.5, 4.5], [-4.5, 4.5]])

    @staticmethod
    def _terms(X):
        x1, x2 = X[:, 0], X[:, 1]
        a = 1.5 - x1 + x1 * x2
        b = 2.25 - x1 + x1 * x2**2
        c = 2.625 - x1 + x1 * x2**3
        return x1, x2, a, b, c

    def _value(self, X):
        _, _, a, b, c = self._terms(X)
        return a**2 + b**2 + c**2

    def _gradient(self, X):
        x1, x2, a, b, c = self._terms(X)
        d1 = 2 * a * (x2 - 1) + 2 * b * (x2**2 - 1) + 2 * c * (x2**3 - 1)
        d2 = 2 * a * x1 + 4 * b * x1 * x2 + 6 * c * x1 * x2**2
        return np.c_[d1, d2]


@register_problem
class Booth(GradientProblem):
    """Booth on [-10, 10]^2."""

    name = "booth"

    def __init__(self):
        super().__init__([[-10, 10], [-10, 10]])

    def _value(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        return (x1 + 2 * x2 - 7) ** 2 + (2 * x1 + x2 - 5) ** 2

    def _gradient(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        u, v = x1 + 2 * x2 - 7, 2 * x1 + x2 - 5
        return np.c_[2 * u + 4 * v, 4 * u + 2 * v]


@register_problem
class BukinN6(GradientProblem):
    """Bukin N.6 on [-15, -5] x [-3, 3]; its gradient is unbounded near x2 = 0.01 x1^2."""

    name = "bukin_n6"

    def __init__(self):
        super().__init__([[-15, -5], [-3, 3]])

    def _value(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        return 100 * np.sqrt(np.abs(x2 - 0.01 * x1**2)) + 0.01 * np.abs(x1 + 10)

    def _gradient(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        u = x2 - 0.01 * x1**2
        dsqrt = np.sign(u) / np.sqrt(np.where(u != 0, np.abs(u), np.inf))  # 2 * d sqrt(|u|) / du
        d1 = -x1 * dsqrt + 0.01 * np.sign(x1 + 10)
        d2 = 50 * dsqrt
        return np.c_[d1, d2]


@register_problem
class McCormick(GradientProblem):
    """McCormick on [-1.5, 4] x [-3, 4]."""

    name = "mccormick"

    def __init__(self):
        super().__init__([[-1.5, 4], [-3, 4]])

    def _value(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        return np.sin(x1 + x2) + (x1 - x2) ** 2 - 1.5 * x1 + 2.5 * x2 + 1

    def _gradient(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        c = np.cos(x1 + x2)
        return np.c_[c + 2 * (x1 - x2) - 1.5, c - 2 * (x1 - x2) + 2.5]


@register_problem
class Rosenbrock(GradientProblem):
    """Rosenbrock on [-2, 2]^2."""

    name = "rosenbrock"

    def __init__(self):
        super().__init__([[-2, 2], [-2, 2]])

    def _value(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        return 100 * (x2 - x1**2) ** 2 + (x1 - 1) ** 2

    def _gradient(self, X):
        x1, x2 = X[:, 0], X[:, 1]
        return np.c_[-400 * x1 * (x2 - x1**2) + 2 * (x1 - 1), 200 * (x2 - x1**2)]


@register_problem
class StyblinskiTang(GradientProblem):
    """Styblinski-Tang on [-5, 5]^d (``n_features=2`` as in the paper)."""

    name = "styblinski_tang"

    def __init__(self, n_features=2):
        super().__init__(cube_bounds(-5, 5, n_features))

    def _value(self, X):
        return 0.5 * (X**4 - 16 * X**2 + 5 * X).sum(axis=1)

    def _gradient(self, X):
        return 0.5 * (4 * X**3 - 32 * X + 5)


SOBOLEV_FUNCTIONS = (
    "ackley",
    "beale",
    "booth",
    "bukin_n6",
    "mccormick",
    "rosenbrock",
    "styblinski_tang",
)
