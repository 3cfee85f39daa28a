"""Kernel ridge regression on values and input-gradients."""

from ._kernel_ridge import GIKernelRidge

__all__ = ["GIKernelRidge"]
