"""Meta-estimators that transform targets consistently with their gradients."""

from ._target import GITransformedTargetRegressor

__all__ = ["GITransformedTargetRegressor"]
