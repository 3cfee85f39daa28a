"""Errors on input-gradients and gradient-aware scorers for model selection."""

from ._gradient import (
    GradientScorer,
    gradient_mean_squared_error,
    make_gradient_scorer,
    sobolev_error,
)

__all__ = ["gradient_mean_squared_error", "sobolev_error", "make_gradient_scorer", "GradientScorer"]
