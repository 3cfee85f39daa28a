"""Goal-oriented HSIC importance of hyperparameters from search results."""

import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.utils import check_random_state

from ..utils._threads import limit_function_blas_threads
from ._hsic import (_centred, _dirac_gram, _draw_permutations, _gamma_pvalue, _gaussian_gram,
                    _goal_threshold, _hsic, _Summary, _target_counts, hsic_indices)

__all__ = ["hsic_importance"]

_TYPES = ("continuous", "log", "integer", "categorical")
_DISCRETE_KERNELS = ("jitter", "dirac")


def _distribution_type(dist):
    """The type a ``param_distributions`` entry declares, or None to infer it from the values."""
    family = getattr(getattr(dist, "dist", None), "name", None)
    if family in ("loguniform", "reciprocal"):
        return "log"
    if family is not None:
        # any other scipy distribution: discrete ones are integer, continuous ones linear
        return "integer" if hasattr(dist.dist, "pmf") else "continuous"
    return None


def _declared_types(search):
    """Types from a randomized search's ``param_distributions`` (scipy log-uniform -> "log")."""
    spaces = getattr(search, "param_distributions", None)
    if spaces is None:
        return {}
    declared = {}
    for space in [spaces] if isinstance(spaces, Mapping) else list(spaces):
        for name, dist in space.items():
            kind = _distribution_type(dist)
            if kind is not None:
                declared.setdefault(name, kind)
    return declared


def _infer_type(values):
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) for v in values):
        return "categorical"
    numeric = np.asarray(values, dtype=np.float64)
    if all(isinstance(v, numbers.Integral) for v in values):
        return "integer"
    if numeric.min() > 0 and numeric.max() >= 100 * numeric.min():
        return "log"
    return "continuous"


def _to_unit(values, kind, rng, jitter=True):
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
    if kind == "integer" and not jitter:
        return (np.round(x) - lo) / (hi - lo)
    if kind == "integer":
        # each integer level is its own bin of width 1 / (hi - lo + 1), jittered inside it
        return (np.round(x) - lo + rng.uniform(size=len(x))) / (hi - lo + 1)
    return (x - lo) / (hi - lo)


def _importance_work(search_or_cv_results, *, pvalue="permutation", n_permutations=1000,
                     **kwargs):
    # the Gram products of each hyperparameter over the configurations, times the permutations
    results = getattr(search_or_cv_results, "cv_results_", search_or_cv_results)
    n = len(results["params"])
    params = sum(key.startswith("param_") for key in results)
    return n**2 * (params + 1) * (n_permutations if pvalue == "permutation" else 1)


@limit_function_blas_threads(_importance_work)
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
    discrete_kernel="jitter",
    interactions=False,
    groups=None,
    random_state=None,
    n_threads=None,
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
    categorical hyperparameters random (``random_state``); with
    ``discrete_kernel="dirac"`` they are deterministic instead: categorical
    (and boolean) hyperparameters get the Dirac kernel ``1{level == level'}``
    (no order, no jitter; OpenTURNS' ``DiracCovarianceModel``) and integers the
    Gaussian kernel on ``(x - lo) / (hi - lo)`` without jitter (they stay ordinal).

    When the search has ``param_distributions`` (``RandomizedSearchCV``,
    ``HalvingRandomSearchCV``, :class:`~sklearn_gi.model_selection.HSICSearchCV`),
    the types are read from it rather than guessed: ``scipy.stats.loguniform``
    (``reciprocal``) is ``"log"``, other discrete scipy distributions
    ``"integer"``, other continuous ones ``"continuous"``; lists are inferred
    from their values.

    Interactions (``interactions=True``): for every pair of hyperparameters,
    the target HSIC of the product kernel ``k_a k_b`` (the authors' 2-D kernel
    when both are Gaussian), on the configurations where both are active. A
    pair whose R2-HSIC clearly exceeds both marginal ones signals an
    interaction (the good configurations need a joint setting).

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
    discrete_kernel : {"jitter", "dirac"}, default="jitter"
        Kernel of integer and categorical hyperparameters, see above.
    interactions : bool, default=False
        Also one row per pair of hyperparameters (costs d (d - 1) / 2 more
        indices and their permutations).
    groups : array-like of shape (n_candidates,), default=None
        Group label of each configuration (e.g. the round of a multi-round
        search). The permutation p-values then permute the goal indicator
        within each group only: a test of independence of the hyperparameter
        and the goal *given the group*, valid when the groups sample from
        different spaces (a configuration of a later, narrowed round is more
        likely to be good whatever the hyperparameter). The goal set and the
        indices are those of all configurations pooled. Needs
        ``pvalue="permutation"``.
    random_state : int, RandomState or None, default=None
        Jitter of integer and categorical values, and the permutations.
    n_threads : int or None, default=None
        BLAS threads used. None: one thread for small problems (below about
        3e9 floating-point operations), where more are slower (see
        :ref:`threads`), else the BLAS library's setting.

    Returns
    -------
    table : pandas.DataFrame, or dict of arrays when pandas is not installed
        One row per hyperparameter, in the order of ``cv_results_``: ``param``,
        ``type``, ``order`` (1), ``kernel`` (``"gaussian"`` or ``"dirac"``),
        ``n_active`` (configurations where it is set), ``n_goal``, ``hsic``,
        ``r2_hsic``, ``pvalue``, ``bandwidth`` (NaN for the Dirac kernel). A
        hyperparameter taking a single value (or too few active configurations)
        has NaN indices. With ``interactions``, then one row per pair: ``param``
        ``"a:b"``, ``type`` ``"type_a:type_b"``, ``order`` 2, ``kernel`` e.g.
        ``"gaussian*dirac"``, ``n_active`` the configurations where both are set.

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
    >>> pairs = hsic_importance(search, quantile=0.2, interactions=True, random_state=0)
    >>> list(pairs.param)
    ['n_neighbors', 'leaf_size', 'n_neighbors:leaf_size']
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
    if discrete_kernel not in _DISCRETE_KERNELS:
        raise ValueError(f"discrete_kernel must be one of {_DISCRETE_KERNELS}, got {discrete_kernel!r}.")
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (len(results[score]),):
            raise ValueError(
                f"groups must have shape ({len(results[score])},) (one label per configuration), "
                f"got {groups.shape}."
            )
        if pvalue != "permutation":
            raise ValueError(f"groups needs pvalue='permutation', got pvalue={pvalue!r}.")
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
    declared = _declared_types(search_or_cv_results)
    types = {**{k: v for k, v in declared.items() if k in names}, **types}
    error = np.asarray(results[score], dtype=np.float64)
    if greater_is_better:
        error = -error
    finite = np.isfinite(error)
    # separate streams: the jitter does not depend on whether permutations are drawn
    jitter_seed, permutation_seed = check_random_state(random_state).randint(2**31, size=2)
    rng = np.random.RandomState(jitter_seed)
    permutation_rng = np.random.RandomState(permutation_seed)
    min_samples = 6 if pvalue == "asymptotic" else (4 if statistic == "U" else 2)
    n = len(error)

    table = {key: [] for key in ("param", "type", "order", "kernel", "n_active", "n_goal", "hsic",
                                 "r2_hsic", "pvalue", "bandwidth")}

    def add(row):
        for key, value in row.items():
            table[key].append(value)

    # per hyperparameter, on all rows: its kernel's input (u or level codes) and bandwidth
    kernels = {}
    for name in names:
        column = results["param_" + name]
        active = ~np.ma.getmaskarray(column) & finite
        values = list(np.asarray(np.ma.getdata(column), dtype=object)[active])
        kind = types.get(name) or (_infer_type(values) if values else "categorical")
        dirac = discrete_kernel == "dirac" and kind == "categorical"
        row = dict(param=name, type=kind, order=1, kernel="dirac" if dirac else "gaussian",
                   n_active=int(active.sum()), n_goal=0, hsic=np.nan, r2_hsic=np.nan,
                   pvalue=np.nan, bandwidth=np.nan)
        y = error[active]
        distinct = len(set(map(repr, values)))
        if distinct >= 2 and len(y) >= min_samples and np.ptp(y) > 0:
            x = np.full(n, np.nan)
            if dirac:
                levels = list(dict.fromkeys(repr(v) for v in values))
                x[active] = [levels.index(repr(v)) for v in values]
                res = _target_from_gram(_dirac_gram(x[active], np.empty((len(y),) * 2)), y,
                                        quantile, statistic, pvalue, n_permutations,
                                        permutation_rng, None if groups is None else groups[active])
                theta = None
            else:
                x[active] = _to_unit(values, kind, rng, jitter=discrete_kernel == "jitter")
                res = hsic_indices(x[active][:, None], y, kind="target", statistic=statistic,
                                   bandwidth=bandwidth, target_quantile=quantile,
                                   pvalue=pvalue if groups is None else None,
                                   n_permutations=n_permutations, random_state=permutation_rng)
                res = dict(n_goal=res.n_goal, hsic=res.hsic[0], r2_hsic=res.r2_hsic[0],
                           pvalue=np.nan if res.pvalues is None else res.pvalues[0],
                           bandwidth=res.bandwidth[0])
                theta = res["bandwidth"]
                if groups is not None:
                    m = len(y)
                    K = _gaussian_gram(x[active], theta, np.empty((m, m)))
                    res["pvalue"] = _target_from_gram(K, y, quantile, statistic, pvalue,
                                                      n_permutations, permutation_rng,
                                                      groups[active])["pvalue"]
            row.update(res)
            kernels[name] = (x, theta, kind)
        add(row)

    if interactions:
        analysed = [name for name in names if name in kernels]
        for a_index, a in enumerate(analysed):
            for b in analysed[a_index + 1:]:
                (xa, ta, kind_a), (xb, tb, kind_b) = kernels[a], kernels[b]
                rows = np.isfinite(xa) & np.isfinite(xb)
                row = dict(param=f"{a}:{b}", type=f"{kind_a}:{kind_b}", order=2,
                           kernel=f"{'dirac' if ta is None else 'gaussian'}*"
                           f"{'dirac' if tb is None else 'gaussian'}",
                           n_active=int(rows.sum()), n_goal=0, hsic=np.nan, r2_hsic=np.nan,
                           pvalue=np.nan, bandwidth=np.nan)
                y = error[rows]
                if rows.sum() >= min_samples and np.ptp(y) > 0:
                    m = int(rows.sum())
                    K = _gram(xa[rows], ta, np.empty((m, m)))
                    K *= _gram(xb[rows], tb, np.empty((m, m)))
                    row.update(_target_from_gram(K, y, quantile, statistic, pvalue,
                                                 n_permutations, permutation_rng,
                                                 None if groups is None else groups[rows]))
                add(row)

    arrays = {key: np.asarray(value) for key, value in table.items()}
    try:
        import pandas as pd
    except ImportError:
        return arrays
    return pd.DataFrame(arrays)


def _gram(x, theta, out):
    """Dirac Gram matrix of level codes (``theta`` None) or Gaussian of [0, 1] values."""
    return _dirac_gram(x, out) if theta is None else _gaussian_gram(x, theta, out)


def _group_permutations(rng, groups, n_permutations):
    """Permutations of ``range(n)`` that move rows only within their group."""
    n = len(groups)
    perms = np.tile(np.arange(n), (n_permutations, 1))
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    for b in range(n_permutations):
        for rows in members:
            perms[b, rows] = rows[rng.permutation(len(rows))]
    return perms


def _target_from_gram(K, y, quantile, statistic, pvalue, n_permutations, rng, groups=None):
    """Target HSIC (Dirac kernel on the goal indicator) of one input Gram matrix ``K``.

    The same estimators and p-values as :func:`hsic_indices` (``kind="target"``), for
    kernels it does not build: the Dirac kernel on levels, and products of kernels.
    With ``groups``, the goal indicator is permuted within each group only.
    """
    n = len(y)
    goal = y <= _goal_threshold(y, None, quantile)
    L = _dirac_gram(goal, np.empty((n, n)))
    sk, sl = _Summary(K), _Summary(L)
    hsic = _hsic(K, sk, L, sl, statistic)
    norm = _hsic(K, sk, K, sk, statistic) * _hsic(L, sl, L, sl, statistic)
    p = np.nan
    if pvalue == "permutation":
        perms = (_draw_permutations(rng, n, n_permutations) if groups is None
                 else _group_permutations(rng, groups, n_permutations))
        _, count = _target_counts(K, sk, goal, perms, statistic)
        p = (1.0 + count) / (n_permutations + 1.0)
    elif pvalue == "asymptotic":
        p = _gamma_pvalue(K.copy(), sk, _centred(L, sl, np.empty_like(L)), sl, hsic, statistic)
    return dict(n_goal=int(goal.sum()), hsic=float(hsic),
                r2_hsic=float(hsic / np.sqrt(norm)) if norm > 0 else np.nan, pvalue=p)
