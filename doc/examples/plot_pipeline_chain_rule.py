"""
The chain rule through a pipeline
=================================

``dYdX`` holds derivatives with respect to the *raw* inputs. A
``sklearn.pipeline.Pipeline`` passes them unchanged to its final step, which
sees *transformed* inputs: a ``StandardScaler`` divides each input by its
spread, so the final model is told gradients that are wrong by that factor,
and the fit is wrong without any error or warning.

:class:`~sklearn_gi.pipeline.GIPipeline` (built here with
:func:`~sklearn_gi.pipeline.make_gi_pipeline`) composes the Jacobians of its
transformers and hands the final estimator the gradients with respect to what
it sees (for the scaler, ``dYdX * scale``); ``predict_gradient`` comes back
with respect to the raw inputs. It also handles transformers that change the
number of features (``PolynomialFeatures``, splines), which a plain pipeline
cannot combine with gradients at all.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_gi.linear_model import GIRidge
from sklearn_gi.pipeline import make_gi_pipeline

rng = np.random.default_rng(0)
coef = np.array([2.0, 3e-3])


def f(X):
    return X @ coef + 1.0


# Two inputs on very different scales (metres and millimetres, say)
X = rng.normal(size=(8, 2)) * [1.0, 1000.0]
y, dYdX = f(X), np.tile(coef, (len(X), 1))

gi_pipe = make_gi_pipeline(StandardScaler(), GIRidge(alpha=1e-9)).fit(X, y, dYdX=dYdX)

# A plain Pipeline routes dYdX to its last step by name, unconverted
plain_pipe = make_pipeline(StandardScaler(), GIRidge(alpha=1e-9))
plain_pipe.fit(X, y, giridge__dYdX=dYdX)

X_test = rng.normal(size=(300, 2)) * [1.0, 1000.0]
for name, model in [("GIPipeline", gi_pipe), ("plain Pipeline", plain_pipe)]:
    rmse = np.sqrt(np.mean((model.predict(X_test) - f(X_test)) ** 2))
    print(f"{name:15s} test RMSE {rmse:.2e}")
print("gradient of the GI pipeline, w.r.t. the raw inputs:", gi_pipe.predict_gradient(X[:1]))

# %%
# Predictions against the truth on test inputs: the GI pipeline lies on the
# diagonal, the plain pipeline compromises between the values and gradients
# that were off by the scaler's factor.

fig, ax = plt.subplots(figsize=(7.5, 4))
truth = f(X_test)
ax.plot(truth, gi_pipe.predict(X_test), "o", markersize=4, color="C0",
        label="make_gi_pipeline (chain rule)")
ax.plot(truth, plain_pipe.predict(X_test), "s", markersize=4, color="C3", alpha=0.6,
        label="make_pipeline (raw gradients)")
lims = [truth.min(), truth.max()]
ax.plot(lims, lims, color="k", linewidth=1, label="prediction = truth")
ax.set_xlabel("true value f(x)")
ax.set_ylabel("predicted value")
ax.set_title("Same data, same final estimator, 8 samples")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
fig.tight_layout()
