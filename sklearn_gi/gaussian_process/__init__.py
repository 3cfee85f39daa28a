"""Gaussian processes conditioned on values and input-gradients."""

from ._gpr import GIGaussianProcessRegressor, JitterWarning

__all__ = ["GIGaussianProcessRegressor", "JitterWarning"]
