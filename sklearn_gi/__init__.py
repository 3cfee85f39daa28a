"""sklearn-gi: scikit-learn regressors that learn from values and input-gradients.

Gradient information (GI, also Sobolev training or gradient-enhanced modelling)
uses the derivatives ``dY/dX`` that many processes provide beside ``Y``.
"""

__version__ = "0.1.0.dev0"

from .linear_model import GILinearRegression, GIRidge, RidgeGradient
from .neural_network import GIMLPRegressor

__all__ = ["GIRidge", "GILinearRegression", "RidgeGradient", "GIMLPRegressor", "__version__"]
