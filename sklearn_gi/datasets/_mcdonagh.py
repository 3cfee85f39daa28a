"""The simulators of McDonagh and Chen (2021), with exact gradients."""

import numpy as np
from scipy.stats import norm
from sklearn.utils import check_random_state

from ._base import GradientProblem, _check_sampling, _latin_hypercube, register_problem


@register_problem
class McDonaghDynamic2D(GradientProblem):
    """2-D dynamic process with 10 outputs, one per time step ``t = 1..10``.

    ``y_t = [cos((x1 - t - alpha) phi) cos((x2 - t - alpha) phi)]^2`` with
    ``phi = 0.1``, ``alpha = 5`` and inputs uniform on ``[0, 15]^2``. The
    gradients form a ``(n, 10, 2)`` Jacobian.
    """

    name = "mcdonagh_dynamic_2d"
    n_outputs = 10
    phi = 0.1
    alpha = 5.0

    def __init__(self):
        super().__init__([[0, 15], [0, 15]])

    def _angles(self, X):
        t = np.arange(1, self.n_outputs + 1)
        # (n, T, 2): the angle of each input at each time step
        return (X[:, None, :] - t[None, :, None] - self.alpha) * self.phi

    def _value(self, X):
        c = np.cos(self._angles(X))
        return (c[..., 0] * c[..., 1]) ** 2

    def _gradient(self, X):
        angles = self._angles(X)
        c, s = np.cos(angles), np.sin(angles)
        prod = c[..., 0] * c[..., 1]
        d1 = -2 * self.phi * prod * s[..., 0] * c[..., 1]
        d2 = -2 * self.phi * prod * c[..., 0] * s[..., 1]
        return np.stack([d1, d2], axis=-1)


@register_problem
class McDonaghRegression8D(GradientProblem):
    """Non-linear regression simulator with 8 parameters and 2 covariates.

    Inputs are ``[theta_0, ..., theta_7, x_1, x_2]`` with ``theta ~ U[-0.5, 0.5]^8``
    and ``x_1, x_2 ~ N(0, 1)``; the value is
    ``theta_5 theta_1 exp(theta_2 (x_1 - 0.1)) + theta_6 theta_3 exp(theta_4 (x_2 - 0.2))
    + theta_7``. ``theta_0`` has no effect (as in the authors' code).

    Parameters
    ----------
    gradient_wrt : {"all", "parameters"}, default="all"
        ``"parameters"`` reproduces the paper's setting, where only the
        derivatives with respect to ``theta`` are known: the covariate columns
        of the gradient are NaN (unknown).
    """

    name = "mcdonagh_regression_8d"

    def __init__(self, gradient_wrt="all"):
        if gradient_wrt not in ("all", "parameters"):
            raise ValueError(
                f"gradient_wrt must be 'all' or 'parameters', got {gradient_wrt!r}."
            )
        self.gradient_wrt = gradient_wrt
        # covariates are Gaussian; the box only documents their usual range
        super().__init__([[-0.5, 0.5]] * 8 + [[-3.0, 3.0]] * 2)

    def sample(self, n_samples, random_state=None, method="uniform"):
        """Uniform ``theta`` and standard normal covariates.

        With ``method="lhs"`` a Latin hypercube in ``[0, 1)^10`` is mapped
        through the same marginals (the normal's quantile function for the
        covariates).
        """
        _check_sampling(method, "method")
        if method == "lhs":
            U = _latin_hypercube(n_samples, 10, random_state)
            covariates = norm.ppf(np.clip(U[:, 8:], 1e-12, 1 - 1e-12))
            return np.hstack([U[:, :8] - 0.5, covariates])
        rng = check_random_state(random_state)
        theta = rng.uniform(-0.5, 0.5, size=(n_samples, 8))
        covariates = rng.normal(size=(n_samples, 2))
        return np.hstack([theta, covariates])

    @staticmethod
    def _exponentials(X):
        th, x1, x2 = X[:, :8], X[:, 8], X[:, 9]
        e1 = np.exp(th[:, 2] * (x1 - 0.1))
        e2 = np.exp(th[:, 4] * (x2 - 0.2))
        return th, x1, x2, e1, e2

    def _value(self, X):
        th, _, _, e1, e2 = self._exponentials(X)
        return th[:, 5] * th[:, 1] * e1 + th[:, 6] * th[:, 3] * e2 + th[:, 7]

    def _gradient(self, X):
        th, x1, x2, e1, e2 = self._exponentials(X)
        G = np.zeros_like(X)
        G[:, 1] = th[:, 5] * e1
        G[:, 2] = th[:, 5] * th[:, 1] * (x1 - 0.1) * e1
        G[:, 5] = th[:, 1] * e1
        G[:, 3] = th[:, 6] * e2
        G[:, 4] = th[:, 6] * th[:, 3] * (x2 - 0.2) * e2
        G[:, 6] = th[:, 3] * e2
        G[:, 7] = 1.0
        if self.gradient_wrt == "parameters":
            G[:, 8:] = np.nan
        else:
            G[:, 8] = th[:, 5] * th[:, 1] * th[:, 2] * e1
            G[:, 9] = th[:, 6] * th[:, 3] * th[:, 4] * e2
        return G
