"""Jacobians of feature transformations, for gradients through feature maps."""

from ._function_transformer import GIFunctionTransformer
from ._inverse_distances import InverseDistances
from ._jacobians import supported_transformers, transform_jacobian

__all__ = ["transform_jacobian", "supported_transformers", "GIFunctionTransformer", "InverseDistances"]
