"""Jacobians of feature transformations, for gradients through feature maps."""

from ._jacobians import transform_jacobian

__all__ = ["transform_jacobian"]
