"""Pipelines that carry input-gradients through their transformers (chain rule)."""

from ._gi_pipeline import GIPipeline, make_gi_pipeline

__all__ = ["GIPipeline", "make_gi_pipeline"]
