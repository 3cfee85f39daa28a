"""Neural-network estimators trained on values and input-gradients (Sobolev training)."""

from ._gi_mlp import GIMLPRegressor
from ._sobolev_loss import input_jacobian, random_unit_projections, sobolev_loss

__all__ = ["GIMLPRegressor", "sobolev_loss", "input_jacobian", "random_unit_projections"]
