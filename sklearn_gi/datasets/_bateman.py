"""The Bateman equations: amounts in a radioactive decay chain."""

import numbers

import numpy as np

from ._base import GradientProblem, register_problem


@register_problem
class Bateman(GradientProblem):
    r"""Amounts of the species of a radioactive decay chain (Bateman, 1910).

    A chain ``1 -> 2 -> ... -> M`` of ``M = n_species`` radioactive species
    with decay rates :math:`\lambda_1, \dots, \lambda_M` (the inputs) starts
    from one unit of species 1 and none of the others:
    :math:`dN_1/dt = -\lambda_1 N_1`,
    :math:`dN_i/dt = \lambda_{i-1} N_{i-1} - \lambda_i N_i`. For distinct
    rates the solution is Bateman's

    .. math::

        N_n(t) = \Big(\prod_{i=1}^{n-1} \lambda_i\Big)
                 \sum_{i=1}^{n} \frac{e^{-\lambda_i t}}{\prod_{j \le n, j \ne i}(\lambda_j - \lambda_i)}.

    The outputs are the amounts :math:`N_s(t_j)` of every species at the
    fixed ``times``: column ``s * len(times) + j`` is :math:`N_{s+1}(t_j)`, so
    values have shape ``(n, n_species * len(times))`` and gradients
    ``(n, n_species * len(times), n_species)``. The gradient with respect to
    the rates is exact: with :math:`T_i = e^{-\lambda_i t} / \prod_{j \ne i}
    (\lambda_j - \lambda_i)`, :math:`\partial T_i / \partial \lambda_i = T_i
    (-t + \sum_{j \ne i} 1 / (\lambda_j - \lambda_i))` and
    :math:`\partial T_i / \partial \lambda_k = -T_i / (\lambda_k - \lambda_i)`
    for :math:`k \ne i`; the prefactor contributes :math:`N_n / \lambda_k`
    for :math:`k < n`. Rates of later species do not affect earlier ones.

    Domain: rate :math:`\lambda_i` in ``[0.5 i, 0.5 i + 0.4]`` (per unit
    time), i.e. ``[0.5, 0.9]``, ``[1, 1.4]``, ``[1.5, 1.9]`` for three
    species: disjoint intervals, so the rates always differ by at least 0.1
    and the formula (which divides by their differences) stays accurate.

    Parameters
    ----------
    n_species : int, default=3
    times : sequence of float, default=(0.5, 1.0, 2.0, 4.0)
        Positive observation times.

    References
    ----------
    H. Bateman, "The solution of a system of differential equations occurring
    in the theory of radioactive transformations", Proc. Cambridge Philos.
    Soc. 15 (1910), 423-427. Novello et al. (2023) use a Bateman problem to
    test their HSIC-based hyperparameter search.

    Examples
    --------
    >>> from sklearn_gi.datasets import get_problem
    >>> chain = get_problem("bateman")
    >>> chain.n_features, chain.n_outputs
    (3, 12)
    >>> X = chain.bounds.mean(axis=1, keepdims=True).T
    >>> chain.value(X)[0, :4].round(4)  # species 1 at t = 0.5, 1, 2, 4
    array([0.7047, 0.4966, 0.2466, 0.0608])
    >>> chain.gradient(X).shape
    (1, 12, 3)
    """

    name = "bateman"

    def __init__(self, n_species=3, times=(0.5, 1.0, 2.0, 4.0)):
        if not (isinstance(n_species, numbers.Integral) and n_species >= 1):
            raise ValueError(f"n_species must be a positive integer, got {n_species!r}.")
        times = np.asarray(times, dtype=np.float64).ravel()
        if times.size == 0 or not np.all(np.isfinite(times) & (times > 0)):
            raise ValueError(f"times must be a non-empty sequence of positive numbers, got {times!r}.")
        low = 0.5 * np.arange(1, n_species + 1)
        super().__init__(np.column_stack([low, low + 0.4]))
        self.n_species = int(n_species)
        self.times = times
        self.n_outputs = self.n_species * times.size
        self.input_names = tuple(f"lambda_{i + 1}" for i in range(self.n_species))

    def _terms(self, X):
        """``T[:, n, i]`` = e^{-l_i t} / prod_{j<=n, j!=i}(l_j - l_i), shape (n, M, M, T)."""
        M = self.n_species
        diff = X[:, None, :] - X[:, :, None]  # diff[:, i, j] = l_j - l_i
        decay = np.exp(-X[:, :, None] * self.times)  # (n, M, T)
        T = np.zeros((len(X), M, M, self.times.size))
        for n in range(M):
            for i in range(n + 1):
                others = [j for j in range(n + 1) if j != i]
                T[:, n, i] = decay[:, i] / np.prod(diff[:, i, others], axis=1)[:, None]
        return T, diff

    def _prefactor(self, X):
        # prod_{i < n} l_i for n = 1..M
        return np.concatenate([np.ones((len(X), 1)), np.cumprod(X, axis=1)[:, :-1]], axis=1)

    def _value(self, X):
        T, _ = self._terms(X)
        N = self._prefactor(X)[:, :, None] * T.sum(axis=2)  # (n, M, T)
        return N.reshape(len(X), -1)

    def _gradient(self, X):
        M, n_times = self.n_species, self.times.size
        T, diff = self._terms(X)
        C = self._prefactor(X)
        S = T.sum(axis=2)  # (n, M, T)
        G = np.zeros((len(X), M, n_times, M))
        for n in range(M):
            for k in range(n + 1):
                dS = np.zeros((len(X), n_times))
                for i in range(n + 1):
                    if i == k:
                        inv = np.zeros(len(X))
                        for j in range(n + 1):
                            if j != i:
                                inv += 1.0 / diff[:, i, j]
                        dS += T[:, n, i] * (inv[:, None] - self.times)
                    else:
                        dS -= T[:, n, i] / diff[:, i, k][:, None]
                G[:, n, :, k] = C[:, n, None] * dS
                if k < n:
                    G[:, n, :, k] += C[:, n, None] / X[:, k, None] * S[:, n]
        return G.reshape(len(X), M * n_times, M)
