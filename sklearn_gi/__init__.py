"""sklearn-gi: scikit-learn regressors that learn from values and input-gradients.

Gradient information (GI, also Sobolev training or gradient-enhanced modelling)
uses the derivatives ``dY/dX`` that many processes provide beside ``Y``.
"""

__version__ = "0.1.0.dev0"

from .linear_model import GILinearRegression, GIRidge, RidgeGradient
from .compose import GITransformedTargetRegressor
from .gaussian_process import GIGaussianProcessRegressor
from .kernel_ridge import GIKernelRidge
from .model_selection import GIComplexitySearchCV
from .neural_network import GIMLPRegressor
from .pipeline import GIPipeline, make_gi_pipeline

__all__ = [
    "GIRidge",
    "GILinearRegression",
    "RidgeGradient",
    "GIGaussianProcessRegressor",
    "GIKernelRidge",
    "GIMLPRegressor",
    "GIPipeline",
    "make_gi_pipeline",
    "GITransformedTargetRegressor",
    "GIComplexitySearchCV",
    "__version__",
]
