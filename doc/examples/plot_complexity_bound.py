"""
Bounding network width with the gradient-information gap
========================================================

McDonagh and Chen's complexity metric: train each width with and without the
gradients ``dYdX``. While the network is too small to overfit, the gradients
help; once the gap between the two closes (or flips), more width stops
paying. :class:`~sklearn_gi.model_selection.GIComplexitySearchCV` scans widths
in increasing order, stops at that bound, and keeps the best GI model at or
below it. :class:`~sklearn_gi.model_selection.ComplexityCurveDisplay` shows the
two curves and the bound.

The data: McDonagh and Chen's 2-D dynamic simulator (10 outputs, Jacobians
of shape ``(n, 10, 2)``), 50 samples, networks of two hidden layers of
4 to 32 units. Run as a script, ``python doc/examples/plot_complexity_bound.py
--save`` also writes ``complexity_bound.png``.
"""

import sys
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold

from sklearn_gi.datasets import make_problem
from sklearn_gi.model_selection import ComplexityCurveDisplay, GIComplexitySearchCV
from sklearn_gi.neural_network import GIMLPRegressor


def main(etas=(1, 2, 4, 8), max_iter=100, n_samples=50, output=None):
    # McDonagh and Chen's 2-D dynamic simulator: 10 outputs, Jacobians (n, 10, 2)
    X, Y, dYdX = make_problem("mcdonagh_dynamic_2d", n_samples, random_state=0)
    grid = {"hidden_layer_sizes": [(4 * eta, 4 * eta) for eta in etas]}
    search = GIComplexitySearchCV(
        GIMLPRegressor(max_iter=max_iter, random_state=0),
        grid,
        cv=KFold(3, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, Y, dYdX=dYdX)
    print(f"upper bound: {search.upper_bound_}, best GI model: {search.best_params_}, "
          f"{search.n_candidates_evaluated_} of {search.n_candidates_total_} widths trained")
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ComplexityCurveDisplay.from_estimator(search, ax=ax)
    ax.set_title("Cross-validated score with and without gradients")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")
    fig.tight_layout()
    if output is not None:
        fig.savefig(output)
    return search


# %%
# The two curves and the bound. Above the bound, more width does not make the
# gradients pay; the search keeps the best GI model at or below it. On these
# 50 samples the gradients still help at the widest network, so the grid
# does not reach the bound and it is the last candidate: a wider grid would
# be worth scanning.

if __name__ == "__main__":
    main(output="complexity_bound.png" if "--save" in sys.argv else None)
