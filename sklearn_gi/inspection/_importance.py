"""Goal-oriented HSIC importance of hyperparameters from search results."""

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

from ._hsic import hsic_indices

__all__ = ["hsic_importance"]

_TYPES = ("continuous", "log", "integer", "categorical")


def _infer_type(values):
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in values):
        return "categorical"
    numeric = np.asarray(values, dtype=np.float64)
    if all(isinstance(v, numbers.Integral) for v in values):
        return "integer"
    if numeric.min() > 0 and numeric.max() >= 100 * numeric.min():
        return "log"
    return "continuous"


def _to_unit(values, kind, rng):
    """Map one hyperparameter's values to [0, 1] (Novello et al.'s ``distr_norm``)."""
    if kind == "categorical":
        levels = list(dict.fromkeys(repr(v) for v in values))  # order of first appearance
        index = np.array([levels.index(repr(v)) for v in values], dtype=np.float64)
        return (index + rng.uniform(size=len(values))) / len(levels)
    x = np.asarray(values, dtype=np.float64)
    if kind == "log":
        if x.min() <= 0:
            raise ValueError("a 'log' hyperparameter must be positive.")
        x = np.log(x)
    lo, hi = x.min(), x.max()
    if kind == "integer":
        # each integer level is its own bin of width 1 / (hi - lo + 1), jittered inside it
        return (np.round(x) - lo + rng.uniform(size=len(x))) / (hi - lo + 1)
    return (x - lo) / (hi - lo)


def hsic_importance(
    search_or_cv_results,
    *,
    quantile=0.1,
    score="mean_test_score",
    greater_is_better=True,
    types=None,
    statistic="V",
    bandwidth="std",
    pvalue="permutation",
    n_permutations=1000,
    random_state=None,
):
    """Goal-oriented HSIC importance of each hyperparameter of a search.

    For the configurations of a fitted ``GridSearchCV`` / ``RandomizedSearchCV``
    (or their ``cv_results_``), the goal set is the best ``quantile`` fraction
    of ``score``; each hyperparameter is mapped to [0, 1] by type and its target
    HSIC with the goal indicator is computed by :func:`hsic_indices`
    (``kind="target"``). This is the sensitivity analysis of Novello et al.
    (2023): a hyperparameter matters when the good configurations are not
    spread over its range like all the configurations are.

    Mapping to [0, 1] (the authors' ``distr_norm``, bounds = observed extremes):
    ``"continuous"`` linear; ``"log"`` linear in the logarithm; ``"integer"``
    each level its own bin of width ``1 / (hi - lo + 1)``, with uniform jitter
    inside it; ``"categorical"`` level j of c (order of first appearance) to
    ``U(j / c, (j + 1) / c)``. The jitter makes the indices of integer and
    categorical hyperparameters random (``random_state``).

    Conditional hyperparameters (masked in ``cv_results_`` where not set, e.g.
    ``gamma`` in a list of grids where only some set it) are analysed on the
    sub-sample of configurations where they are active, with the goal threshold
    recomputed inside it (as the authors do).

    Parameters
    ----------
    search_or_cv_results : fitted search object with ``cv_results_``, or that dict
    quantile : float in (0, 1), default=0.1
        Fraction of the best configurations forming the goal set (``numpy``'s
        ``'lower'`` quantile of the error; ties with the threshold are included).
    score : str, default="mean_test_score"
        Key of ``cv_results_`` to rank configurations by (failed fits, NaN, are
        dropped).
    greater_is_better : bool, default=True
        True for scikit-learn scores (the error is ``-score``).
    types : dict, default=None
        ``{name: "continuous" | "log" | "integer" | "categorical"}``, overriding
        the inferred type: booleans and non-numbers are categorical, Python or
        NumPy integers integer, positive floats spanning two decades or more
        log, other floats continuous.
    statistic, bandwidth, pvalue, n_permutations :
        Passed to :func:`hsic_indices` (``bandwidth`` applies to the [0, 1] values;
        ``pvalue`` may be None).
    random_state : int, RandomState or None, default=None
        Jitter of integer and categorical values, and the permutations.

    Returns
    -------
    table : pandas.DataFrame, or dict of arrays when pandas is not installed
        One row per hyperparameter, in the order of ``cv_results_``: ``param``,
        ``type``, ``n_active`` (configurations where it is set), ``n_goal``,
        ``hsic``, ``r2_hsic``, ``pvalue``, ``bandwidth``. A hyperparameter
        taking a single value (or too few active configurations) has NaN indices.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.model_selection import RandomizedSearchCV
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> from sklearn_gi.inspection import hsic_importance
    >>> X, y = make_friedman1(n_samples=150, random_state=0)
    >>> space = {"n_neighbors": np.arange(1, 40), "leaf_size": np.arange(5, 60)}
    >>> search = RandomizedSearchCV(KNeighborsRegressor(), space, n_iter=40, cv=3,
    ...                             random_state=0).fit(X, y)
    >>> table = hsic_importance(search, quantile=0.2, random_state=0)
    >>> table[["param", "type", "n_goal"]]
             param     type  n_goal
    0  n_neighbors  integer       8
    1    leaf_size  integer       8
    >>> bool(table.pvalue[0] < 0.01), bool(table.pvalue[1] > 0.05)
    (True, True)
    """
    results = getattr(search_or_cv_results, "cv_results_", search_or_cv_results)
    if not isinstance(results, Mapping):
        raise ValueError(
            "search_or_cv_results must be a fitted search (with cv_results_) or its cv_results_ "
            f"dict, got {type(search_or_cv_results).__name__}."
        )
    if score not in results:
        keys = sorted(k for k in results if "score" in k)
        raise ValueError(f"score {score!r} is not in cv_results_ (score keys: {keys}).")
    names = [key[len("param_"):] for key in results if key.startswith("param_")]
    if not names:
        raise ValueError("cv_results_ has no 'param_*' entry: no hyperparameter to analyse.")
    types = {} if types is None else dict(types)
    unknown = set(types) - set(names)
    if unknown:
        raise ValueError(f"types names unknown hyperparameters {sorted(unknown)}; known: {names}.")
    for name, kind in types.items():
        if kind not in _TYPES:
            raise ValueError(f"types[{name!r}] must be one of {_TYPES}, got {kind!r}.")
    error = np.asarray(results[score], dtype=np.float64)
    if greater_is_better:
        error = -error
    finite = np.isfinite(error)
    # separate streams: the jitter does not depend on whether permutations are drawn
    jitter_seed, permutation_seed = check_random_state(random_state).randint(2**31, size=2)
    rng = np.random.RandomState(jitter_seed)
    permutation_rng = np.random.RandomState(permutation_seed)
    min_samples = 6 if pvalue == "asymptotic" else (4 if statistic == "U" else 2)

    table = {key: [] for key in ("param", "type", "n_active", "n_goal", "hsic", "r2_hsic",
                                 "pvalue", "bandwidth")}
    for name in names:
        column = results["param_" + name]
        active = ~np.ma.getmaskarray(column) & finite
        values = list(np.asarray(np.ma.getdata(column), dtype=object)[active])
        kind = types.get(name) or (_infer_type(values) if values else "categorical")
        row = dict(param=name, type=kind, n_active=int(active.sum()), n_goal=0, hsic=np.nan,
                   r2_hsic=np.nan, pvalue=np.nan, bandwidth=np.nan)
        y = error[active]
        distinct = len(set(map(repr, values)))
        if distinct >= 2 and len(y) >= min_samples and np.ptp(y) > 0:
            u = _to_unit(values, kind, rng)
            res = hsic_indices(u[:, None], y, kind="target", statistic=statistic,
                               bandwidth=bandwidth, target_quantile=quantile, pvalue=pvalue,
                               n_permutations=n_permutations, random_state=permutation_rng)
            row.update(n_goal=res.n_goal, hsic=res.hsic[0], r2_hsic=res.r2_hsic[0],
                       pvalue=np.nan if res.pvalues is None else res.pvalues[0],
                       bandwidth=res.bandwidth[0])
        for key, value in row.items():
            table[key].append(value)
    arrays = {key: np.asarray(value) for key, value in table.items()}
    try:
        import pandas as pd
    except ImportError:
        return arrays
    return pd.DataFrame(arrays)
