"""
Grid search with a gradient scorer
==================================

``GridSearchCV`` over a GI pipeline: the parameters of a step are named
``<step>__<parameter>``, and :func:`~sklearn_gi.pipeline.make_gi_pipeline`
names each step after its class, lower-cased (``polynomialfeatures__degree``,
``giridge__alpha``). ``dYdX`` goes to ``fit`` by keyword, and every fold
trains on its rows.

By default the folds are scored on values. Score them on gradients with
:func:`~sklearn_gi.metrics.make_gradient_scorer` when the model's gradients
are what you use (a surrogate inside a gradient-based optimizer, a
sensitivity analysis, forces from an energy), or when the test folds are
small: ``m`` test samples have ``m`` values but ``m * d`` partial
derivatives. The scorer receives each test fold's ``dYdX`` through
scikit-learn's metadata routing, which must be enabled.
"""

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.datasets import make_problem
from sklearn_gi.linear_model import GIRidge
from sklearn_gi.metrics import make_gradient_scorer
from sklearn_gi.pipeline import make_gi_pipeline

X, y, dYdX = make_problem("mccormick", 24, noise=0.05, random_state=0)
pipe = make_gi_pipeline(StandardScaler(), PolynomialFeatures(), GIRidge())
print([name for name, _ in pipe.steps])  # the step names

degrees = list(range(1, 10))
param_grid = {"polynomialfeatures__degree": degrees, "giridge__alpha": [1e-6, 1e-2]}
with sklearn.config_context(enable_metadata_routing=True):
    search = GridSearchCV(
        pipe, param_grid,
        scoring={"values": "neg_mean_squared_error",
                 "gradients": make_gradient_scorer("gradient_mse")},
        refit="gradients",
        cv=KFold(4, shuffle=True, random_state=0),
    ).fit(X, y, dYdX=dYdX)
print("best on gradients:", search.best_params_)

results = search.cv_results_
best_values = int(np.argmax(results["mean_test_values"]))
print("best on values:   ", results["params"][best_values])

# %%
# Both cross-validated errors against the degree (``giridge__alpha=1e-6``).
# The gradient error has ``d = 2`` times as many test entries per fold and
# rewards the models whose *slopes* are right. Here the two scorers agree on
# the degree; where they disagree, choose the one that measures what the
# model is used for.

mask = np.asarray(results["param_giridge__alpha"], dtype=float) == 1e-6
fig, ax = plt.subplots(figsize=(7.5, 4))
for key, label, color in [("values", "value MSE", "C0"), ("gradients", "gradient MSE", "C1")]:
    ax.semilogy(degrees, -results[f"mean_test_{key}"][mask], marker="o", color=color,
                label=f"CV {label}")
ax.axvline(search.best_params_["polynomialfeatures__degree"], color="C1", linestyle=":",
           label="degree chosen on gradients")
ax.set_xlabel("polynomialfeatures__degree")
ax.set_ylabel("cross-validated mean squared error")
ax.set_title("GridSearchCV over make_gi_pipeline, 24 noisy samples")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
fig.tight_layout()
