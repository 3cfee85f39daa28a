"""Gaussian processes conditioned on values and input-gradients."""

from ._gpr import GIGaussianProcessRegressor, HyperparameterWarning, JitterWarning
from ._kernels import GradientWhiteKernel

__all__ = ["GIGaussianProcessRegressor", "GradientWhiteKernel", "HyperparameterWarning", "JitterWarning"]
