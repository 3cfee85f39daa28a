"""Conditional generative models of stochastic processes that learn from pathwise derivatives."""

from ._conditional_gan import ConditionalGANNet, GIConditionalGAN

__all__ = ["GIConditionalGAN", "ConditionalGANNet"]
