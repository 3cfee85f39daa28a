"""Inspection of fitted models and of search results: HSIC sensitivity indices."""

from ._hsic import hsic_indices

__all__ = ["hsic_indices"]
