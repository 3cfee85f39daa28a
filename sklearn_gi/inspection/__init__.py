"""Inspection of fitted models and of search results: HSIC sensitivity indices."""

from ._hsic import hsic_indices
from ._importance import hsic_importance
from ._plot import HSICImportanceDisplay

__all__ = ["hsic_indices", "hsic_importance", "HSICImportanceDisplay"]
