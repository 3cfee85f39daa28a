"""
Partial gradients: NaN marks an unknown derivative
==================================================

Simulators often give derivatives with respect to some inputs only (the
design parameters, say, but not the operating conditions), or some
derivatives are lost. Write ``np.nan`` for each unknown entry of ``dYdX``:
it is left out of the loss, and every known partial still counts.

Here, a Gaussian process on the 10-input wing-weight function, trained on 20
samples whose gradients are known for a growing share of the inputs: from
none (values only) to all ten.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_gi.datasets import make_problem
from sklearn_gi.gaussian_process import GIGaussianProcessRegressor

X, y, dYdX = make_problem("wing_weight", 20, sampling="lhs", random_state=0)
X_test, y_test, _ = make_problem("wing_weight", 500, random_state=1)
order = np.random.default_rng(0).permutation(X.shape[1])  # inputs become known in this order

n_known = [0, 2, 4, 6, 8, 10]
errors = []
for k in n_known:
    partial = np.full_like(dYdX, np.nan)
    partial[:, order[:k]] = dYdX[:, order[:k]]        # the other partials are unknown
    gp = GIGaussianProcessRegressor(random_state=0).fit(X, y, partial if k else None)
    errors.append(np.sqrt(np.mean((gp.predict(X_test) - y_test) ** 2)) / y_test.std())
    print(f"{k:2d} of 10 partials known: test RMSE / std(y) = {errors[-1]:.3f}")

# %%
# The error falls with every input whose derivative is known.
# ``dYdX`` may also be missing entry by entry: NaN wherever a value is lost.

fig, ax = plt.subplots(figsize=(7.5, 4))
ax.semilogy(n_known, errors, marker="o", label="GI Gaussian process, 20 samples")
ax.axhline(errors[0], color="k", linestyle="--", label="values only (no dYdX)")
ax.set_xlabel("number of inputs whose partial derivative is known")
ax.set_ylabel("test RMSE / std(y)")
ax.set_title("Wing weight (10 inputs), unknown partials as NaN")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
fig.tight_layout()
