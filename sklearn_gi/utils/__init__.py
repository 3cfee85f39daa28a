"""Utilities shared by sklearn-gi estimators."""

from ._gradient_consistency import gradient_inconsistency
from ._memory import MemoryLimitError
from ._validation import (
    check_feature_jacobian,
    check_finite_scale,
    check_gradient_targets,
    expected_gradient_shape,
)

__all__ = [
    "MemoryLimitError",
    "check_gradient_targets",
    "check_feature_jacobian",
    "check_finite_scale",
    "expected_gradient_shape",
    "gradient_inconsistency",
]
