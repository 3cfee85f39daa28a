"""Closed-form linear models fitted to values and input-gradients."""

from ._gi_ridge import GILinearRegression, GIRidge
from ._ridge_gradient import RidgeGradient
from ._statistics import GIRidgeStatistics

__all__ = ["GIRidge", "GILinearRegression", "RidgeGradient", "GIRidgeStatistics"]
