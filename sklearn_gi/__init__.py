"""sklearn-gi: scikit-learn regressors that learn from values and input-gradients.

Gradient information (GI, also Sobolev training or gradient-enhanced modelling)
uses the derivatives ``dY/dX`` that many processes provide beside ``Y``.

Subpackages and the names below load on first use (PEP 562, as scikit-learn
does), so a user of the closed-form models never imports torch.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> subpackage that defines it
_LAZY_NAMES = {
    "GIRidge": "linear_model",
    "GILinearRegression": "linear_model",
    "RidgeGradient": "linear_model",
    "GIGaussianProcessRegressor": "gaussian_process",
    "GIKernelRidge": "kernel_ridge",
    "GIMLPRegressor": "neural_network",
    "GIPipeline": "pipeline",
    "make_gi_pipeline": "pipeline",
    "GITransformedTargetRegressor": "compose",
    "GIComplexitySearchCV": "model_selection",
    "GIConditionalGAN": "generative",
}
_SUBMODULES = [
    "compose", "datasets", "gaussian_process", "generative", "inspection", "io", "kernel_ridge", "kernels",
    "linear_model", "metrics", "model_selection", "neural_network", "pipeline", "preprocessing", "utils",
]

__all__ = [*_LAZY_NAMES, *_SUBMODULES, "__version__"]


def __getattr__(name):
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f".{_LAZY_NAMES[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
