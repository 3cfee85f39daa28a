"""Kernels of the gradient-enhanced kernel models."""

from ._permutation import PermutationInvariantKernel

__all__ = ["PermutationInvariantKernel"]
