"""
Sample efficiency: values and gradients against values alone
=============================================================

Each sample ``(x, f(x), df/dx)`` of a ``d``-input function carries ``1 + d``
numbers, so a model that also fits the gradients needs far fewer samples for
the same accuracy. Here, on McCormick's 2-D function, the test error of two
models against the number of training samples (geometric mean over three
Latin-hypercube draws), each trained with ``dYdX`` and without it:

* :class:`~sklearn_gi.gaussian_process.GIGaussianProcessRegressor`, a
  Gaussian process conditioned on values and derivatives (gradient-enhanced
  kriging);
* :class:`~sklearn_gi.linear_model.GIRidge` on degree-6 polynomial features,
  in a :class:`~sklearn_gi.pipeline.GIPipeline` that applies the chain rule.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.datasets import make_problem
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.pipeline import make_gi_pipeline

X_test, y_test, _ = make_problem("mccormick", 1000, random_state=1)


def nrmse(model):
    """Test RMSE relative to the spread of the test values."""
    return np.sqrt(np.mean((model.predict(X_test) - y_test) ** 2)) / y_test.std()


models = {
    "Gaussian process": lambda: GIGaussianProcessRegressor(n_restarts_optimizer=1, random_state=0),
    "ridge, degree-6 polynomials": lambda: make_gi_pipeline(
        StandardScaler(), PolynomialFeatures(6), GIRidge(alpha=1e-8)),
}
sizes = [4, 8, 12, 16, 24, 32]
seeds = [0, 1, 2]
errors = {}
# values-only GPs on a handful of samples push length scales to their bounds
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, make_model in models.items():
        for with_gradients in (True, False):
            curve = []
            for n in sizes:
                runs = []
                for seed in seeds:
                    X, y, dYdX = make_problem("mccormick", n, sampling="lhs", random_state=seed)
                    model = make_model().fit(X, y, dYdX if with_gradients else None)
                    runs.append(nrmse(model))
                curve.append(np.exp(np.mean(np.log(runs))))  # geometric mean over the seeds
            errors[name, with_gradients] = curve

# %%
# With its gradients, each model reaches a given error with a fraction of the
# samples it needs from values alone.

fig, ax = plt.subplots(figsize=(7.5, 4))
for (name, with_gradients), curve in errors.items():
    color = "C0" if name.startswith("Gaussian") else "C1"
    ax.semilogy(sizes, curve, marker="o" if with_gradients else "s", color=color,
                linestyle="-" if with_gradients else "--",
                label=f"{name}, {'values + gradients' if with_gradients else 'values only'}")
ax.set_xlabel("number of training samples")
ax.set_ylabel("test RMSE / std(y), mean of 3 draws")
ax.set_title("McCormick function (2 inputs)")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
fig.tight_layout()

for n, gi, values in zip(sizes, errors["Gaussian process", True], errors["Gaussian process", False]):
    print(f"n={n:3d}  GP with gradients {gi:.2e}   values only {values:.2e}")
