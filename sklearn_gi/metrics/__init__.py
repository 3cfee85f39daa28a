"""Errors on input-gradients, gradient-aware scorers, and scores of sampled distributions."""

from ._energy import EnergyScorer, energy_distance, energy_score, make_energy_scorer
from ._gradient import (
    GradientScorer,
    gradient_mean_squared_error,
    make_gradient_scorer,
    sobolev_error,
)

__all__ = [
    "gradient_mean_squared_error", "sobolev_error", "make_gradient_scorer", "GradientScorer",
    "energy_score", "energy_distance", "make_energy_scorer", "EnergyScorer",
]
