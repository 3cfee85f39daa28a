"""HSICSearchCV: rounds of random search, narrowed by goal-oriented HSIC after each."""

import copy
import re
from collections import Counter
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval

from ..inspection._importance import _distribution_type, hsic_importance
from ._search_base import _SingleMetricSearchCV

# a hyperparameter whose (last) name looks like this sizes the model or its training:
# by default its cheapest value is its smallest one
_SIZE_NAME = re.compile(
    r"(^|_)(n|max|num)_|size|width|depth|layers|units|neurons|iter|epoch|estimators|degree"
    r"|components|rank"
)


def _is_size(name):
    return bool(_SIZE_NAME.search(name.rsplit("__", 1)[-1]))


def _size_of(value):
    """A comparable size: numbers as they are, tuples of numbers by their sum."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, tuple) and value and all(isinstance(v, Real) for v in value):
        return float(sum(value))
    return None


def _round_budgets(n_iter, n_rounds):
    base, extra = divmod(n_iter, n_rounds)
    return [base + (r < extra) for r in range(n_rounds)]


def _grid_size(space):
    """Number of distinct configurations when every entry is a list, else None."""
    if any(hasattr(v, "rvs") for v in space.values()):
        return None
    return len(ParameterGrid(space))


def _key(params):
    return tuple((name, repr(_plain(params[name]))) for name in sorted(params))


def _draw(space, k, rng, seen):
    """Up to ``k`` configurations of ``space`` not in ``seen`` (which they are added to).

    A finite grid is sampled without replacement among its unseen points; any
    other space by ``ParameterSampler``, one draw at a time, redrawing a
    configuration already seen (at most ``20 k`` draws).
    """
    out = []
    if _grid_size(space) is not None:
        grid = [p for p in ParameterGrid(space) if _key(p) not in seen]
        chosen = [grid[i] for i in rng.permutation(len(grid))[:k]]
        out = chosen
    else:
        for _ in range(20 * k):
            if len(out) == k:
                break
            params = next(iter(ParameterSampler(space, 1, random_state=rng)))
            if _key(params) not in seen:
                seen.add(_key(params))
                out.append(params)
    seen.update(_key(p) for p in out)
    return out


def _plain(value):
    """NumPy scalars as Python ones (cv_results_ stores np.int64 where the list had int)."""
    return value.item() if isinstance(value, np.generic) else value


def _same(a, b):
    return repr(_plain(a)) == repr(_plain(b))


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


class HSICSearchCV(_SingleMetricSearchCV):
    """Random search in rounds, narrowed by goal-oriented HSIC after each round.

    After each round, the goal-oriented HSIC of each hyperparameter with the
    best ``quantile`` of the scores of *every candidate so far* (Novello et
    al., 2023, see :func:`~sklearn_gi.inspection.hsic_importance`) and its
    permutation p-value decide which hyperparameters matter. A hyperparameter
    found non-influential ``n_confirm`` times in a row is fixed at its
    cheapest value for the following rounds; an influential one is narrowed
    to where the best configurations are. ``n_iter`` is the total budget of
    candidates over all rounds and it is always spent, so the search costs as
    many fits as a ``RandomizedSearchCV`` with the same ``n_iter``.

    Parameters
    ----------
    estimator : estimator object
        GI estimators get ``dYdX`` (and ``dZdX``) passed to ``fit``, sliced per
        fold, as with ``RandomizedSearchCV``.
    param_distributions : dict
        ``{name: list or scipy.stats distribution}`` as for ``ParameterSampler``
        (one dict; lists of dicts, i.e. conditional spaces, are not supported).
    n_iter : int, default=60
        Total budget of candidates, split as evenly as possible over the rounds
        (the first rounds get the remainder). All are evaluated, and no
        configuration twice, unless ``param_distributions`` is a finite grid
        with fewer points (``RandomizedSearchCV`` then evaluates the grid too).
    n_rounds : int, default=3
        Number of rounds; 1 is a plain randomized search with an HSIC report.
    quantile : float in (0, 1), default=0.2
        The goal set is the best ``quantile`` fraction of ``mean_test_score``
        of all the candidates so far (numpy's ``'lower'`` quantile of the
        error).
    alpha_level : float in (0, 1), default=0.05
        A hyperparameter whose permutation p-value exceeds ``alpha_level`` is
        found non-influential; one with ``p <= alpha_level`` influential.
    n_confirm : int, default=2
        Number of consecutive decisions (one after each round, on the pooled
        candidates) that must find a hyperparameter non-influential before it
        is fixed. 1 fixes it on a single test, which a round of a few tens of
        candidates passes with little power.
    cost : callable, default=None
        ``cost(name, value) -> float or None``: the cost of one value of one
        hyperparameter (lower is cheaper; None falls back on the default rule).
    widen : float, default=0.1
        Fraction of the goal set's span added on each side of a narrowed
        numeric range.
    n_permutations : int, default=500
        Permutations of each p-value.
    scoring : str, callable or None, default=None
        A single metric (greater is better).
    cv, n_jobs, refit, verbose, pre_dispatch, error_score, return_train_score :
        As in ``RandomizedSearchCV``.
    random_state : int, RandomState or None, default=None
        Seeds the sampling of every round and the permutations (a separate
        stream): with the same ``random_state``, round 0 draws the first
        candidates of a ``RandomizedSearchCV``, and later rounds draw them too
        as long as nothing is narrowed or fixed.

    Attributes
    ----------
    cv_results_ : dict of arrays
        Every candidate of every round, as in ``RandomizedSearchCV``, plus
        ``round`` (0-based) per candidate.
    hsic_history_ : list of DataFrame (or dict)
        After each round, the :func:`~sklearn_gi.inspection.hsic_importance`
        table of all the candidates so far (p-values permuted within rounds),
        with the column ``decision``: ``"fixed"`` (now or before),
        ``"narrowed"`` (influential now), ``"kept narrowed"`` (influential
        before, not now, not yet fixed), ``"kept"`` (not influential, not yet
        fixed: full range) or ``"constant"`` (a single value in
        ``param_distributions``). The last table's decisions are only reported.
    distributions_ : list of dict
        The space each round sampled from first (``distributions_[0]`` is
        ``param_distributions``), and after the last round the space the next
        round would have used.
    fixed_params_ : dict
        ``{name: value}`` of the hyperparameters fixed as non-influential.
    best_estimator_, best_params_, best_score_, best_index_, refit_time_, \
            n_splits_, scorer_, multimetric_
        As in ``RandomizedSearchCV``: the best candidate over every round.

    Notes
    -----
    The rule after round r (the paper's own algorithm is not published; this
    is ours):

    1. Pool the candidates of rounds 0 to r. The goal set Z is the best
       ``quantile`` fraction of the pool by ``mean_test_score`` (failed fits,
       NaN, are dropped). Each hyperparameter gets its target HSIC with Z on
       the pool, typed by its entry of ``param_distributions``
       (``loguniform``: log scale; the Dirac kernel on the levels of
       categorical ones, ``discrete_kernel="dirac"``). The rounds sample from
       different spaces, so the pool is not an i.i.d. sample and a plain
       permutation test would find every narrowed hyperparameter influential
       (its later, narrowed values come with better scores). The p-value
       therefore permutes Z *within rounds* (``groups=round`` of
       :func:`~sklearn_gi.inspection.hsic_importance`): it tests independence
       of the hyperparameter and the goal given the round, and stays uniform
       for a hyperparameter that does not change the score.
    2. ``p > alpha_level`` in ``n_confirm`` consecutive decisions:
       non-influential, fixed for good at its cheapest value *among the goal
       set's values* (so a missed influential hyperparameter is not fixed at
       a bad value): the lowest ``cost(name, value)`` when ``cost`` is given;
       otherwise, for a hyperparameter whose name looks like a size or a
       number of iterations (``n_*``, ``max_*``, ``*size*``, ``width``,
       ``depth``, ``layers``, ``iter``, ``estimators``, ``degree``,
       ``components``...), the smallest value (tuples such as
       ``hidden_layer_sizes`` by the sum of their entries); for any other
       one the most frequent value of the goal set (ties: the best-ranked).
    3. ``p <= alpha_level``: influential, narrowed, and it stays narrowed
       (re-narrowed after every round on the pooled goal set) until it is
       fixed. The narrowed entry is derived from the entry of
       ``param_distributions`` and the goal set's values, so the region of
       all the best configurations is kept, with a margin: a list of numbers
       (an ordinal hyperparameter) keeps its levels inside the goal set's
       range widened by ``widen`` times its span on each side (in the log when
       the levels span two decades or more); any other list (categorical,
       boolean, tuples) keeps the levels present in the goal set, in its
       order; a continuous scipy distribution becomes uniform (log-uniform
       for ``loguniform``) on the goal set's widened range, clipped to its
       support; a discrete one (``randint``) the same on integers.
    4. Round r + 1 draws its share of ``n_iter`` from the new space, never a
       configuration already evaluated. When the space has fewer new points
       than the share (a finite grid, or everything fixed), the rest is drawn
       from the un-narrowed space (the fixed hyperparameters fixed, the others
       on their full range), then from the space where only the fixed
       hyperparameters that set a cost (sizes, or ``cost`` not None) stay
       fixed, then from ``param_distributions``.

    ``best_params_`` is the best candidate over all rounds, as in any search;
    the narrowing only decides where the later candidates are drawn. A
    dummy hyperparameter (one that does not change the score) has p-values
    uniform on (0, 1], so it is found non-influential with probability about
    1 - alpha_level at each decision.

    References
    ----------
    P. Novello, G. Poette, D. Lugato, P. M. Congedo, "Goal-oriented sensitivity
    analysis of hyperparameters in deep learning", J. Sci. Comput. 94 (2023).

    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> from sklearn_gi.model_selection import HSICSearchCV
    >>> X, y = make_friedman1(n_samples=120, random_state=0)
    >>> space = {"n_neighbors": list(range(1, 40)), "leaf_size": list(range(5, 60)),
    ...          "p": loguniform(1, 4)}
    >>> search = HSICSearchCV(KNeighborsRegressor(), space, n_iter=45, n_rounds=3, cv=3,
    ...                       random_state=0).fit(X, y)
    >>> search.hsic_history_[0][["param", "n_goal", "decision"]]
             param  n_goal  decision
    0  n_neighbors       3  narrowed
    1    leaf_size       3      kept
    2            p       3      kept
    >>> search.distributions_[1]["n_neighbors"]
    [10, 11, 12, 13, 14, 15, 16, 17]
    >>> search.hsic_history_[1][["param", "n_goal", "decision"]]
             param  n_goal       decision
    0  n_neighbors       6  kept narrowed
    1    leaf_size       6          fixed
    2            p       6       narrowed
    >>> search.fixed_params_
    {'leaf_size': 25}

    ``leaf_size`` only changes the speed of the neighbour search: found
    non-influential after rounds 0 and 1, it is fixed at the smallest value of
    the goal set. Every round spends its share of the budget, and the best
    candidate came from the last, narrowed one:

    >>> import numpy as np
    >>> np.bincount(search.cv_results_["round"]).tolist()
    [15, 15, 15]
    >>> int(search.cv_results_["round"][search.best_index_])
    2
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_distributions": [dict],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
        "alpha_level": [Interval(Real, 0, 1, closed="neither")],
        "n_confirm": [Interval(Integral, 1, None, closed="left")],
        "cost": [callable, None],
        "widen": [Interval(Real, 0, None, closed="left")],
        "n_permutations": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=60,
        n_rounds=3,
        quantile=0.2,
        alpha_level=0.05,
        n_confirm=2,
        cost=None,
        widen=0.1,
        n_permutations=500,
        scoring=None,
        cv=None,
        n_jobs=None,
        refit=True,
        verbose=0,
        pre_dispatch="2*n_jobs",
        random_state=None,
        error_score=np.nan,
        return_train_score=False,
    ):
        self._store_params(locals())

    def fit(self, X, y=None, **params):
        """Run the rounds; ``dYdX`` and other fit parameters go to the estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            Fit parameters (e.g. ``dYdX``), sliced per fold by scikit-learn.

        Returns
        -------
        self : HSICSearchCV
        """
        self._check_single_metric()
        if not isinstance(self.param_distributions, Mapping) or not self.param_distributions:
            raise ValueError("param_distributions must be a non-empty dict.")
        self._rounds, self.hsic_history_, self.fixed_params_ = [], [], {}
        self.distributions_ = [dict(self.param_distributions)]
        super().fit(X, y, **params)
        self.cv_results_["round"] = np.asarray(self._rounds)
        del self._rounds
        return self

    # --------------------------------------------------------------- search
    def _run_search(self, evaluate_candidates, **kwargs):
        rng = check_random_state(self.random_state)
        # the permutations get their own stream, so that the candidates are drawn as by
        # RandomizedSearchCV with the same random_state (paired comparisons)
        self._permutation_rng = np.random.RandomState(copy.deepcopy(rng).randint(2**31))
        original = dict(self.param_distributions)
        self._streak = {name: 0 for name in original}
        self._narrowed_names = set()
        space, seen = original, set()
        budgets = _round_budgets(self.n_iter, self.n_rounds)
        for r, budget in enumerate(budgets):
            candidates = []
            for source in self._sources(space, original):
                if len(candidates) == budget:
                    break
                candidates += _draw(source, budget - len(candidates), rng, seen)
            if not candidates:  # the whole (finite) space has been evaluated
                break
            results = evaluate_candidates(candidates)
            self._rounds.extend([r] * len(candidates))
            space = self._decide(original, results, rng, last=r == len(budgets) - 1)
            self.distributions_.append(space)
        del self._streak, self._narrowed_names, self._permutation_rng

    def _sources(self, space, original):
        """Rule 4 of the Notes: where a round's candidates come from, in order."""
        yield space
        # un-narrowed: the fixed hyperparameters stay fixed, the others get their full range
        wider = {name: ([self.fixed_params_[name]] if name in self.fixed_params_ else dist)
                 for name, dist in original.items()}
        yield wider
        # widened: the fixed hyperparameters that do not set a cost are released (the fixed
        # cost ones stay at their cheapest value), then every one
        cheap = {name: value for name, value in self.fixed_params_.items()
                 if self._sets_cost(name, value)}
        if len(cheap) < len(self.fixed_params_):
            yield {name: ([cheap[name]] if name in cheap else dist)
                   for name, dist in original.items()}
        yield original

    def _sets_cost(self, name, value):
        """Whether ``value`` of ``name`` has a cost (by ``cost`` or the size rule)."""
        if self.cost is not None and self.cost(name, value) is not None:
            return True
        return _is_size(name) and _size_of(value) is not None

    def _decide(self, original, results, rng, last):
        """Rules 1-3 of the Notes, on every candidate so far."""
        names = list(original)
        pooled = {f"param_{name}": results[f"param_{name}"] for name in names}
        pooled["mean_test_score"] = np.asarray(results["mean_test_score"])
        rounds = np.asarray(self._rounds)
        types = {n: t for n, t in ((n, _distribution_type(d)) for n, d in original.items()) if t}
        table = hsic_importance(pooled, quantile=self.quantile, types=types,
                                discrete_kernel="dirac", pvalue="permutation",
                                n_permutations=self.n_permutations, groups=rounds,
                                random_state=self._permutation_rng)
        scores = pooled["mean_test_score"]
        finite = np.isfinite(scores)
        order = np.argsort(-np.where(finite, scores, -np.inf), kind="stable")
        n_goal = int(np.floor(self.quantile * (finite.sum() - 1))) + 1 if finite.any() else 0
        goal_rows = order[:n_goal]
        new, decisions = {}, []
        for name, pvalue in zip(table["param"], table["pvalue"]):
            dist = original[name]
            goal_values = [_plain(np.ma.getdata(pooled[f"param_{name}"])[i]) for i in goal_rows]
            if not hasattr(dist, "rvs") and len(dist) == 1:
                new[name] = dist
                decisions.append("constant")
                continue
            if name in self.fixed_params_:
                new[name] = [self.fixed_params_[name]]
                decisions.append("fixed")
                continue
            if np.isfinite(pvalue) and goal_values:
                if pvalue > self.alpha_level:
                    self._streak[name] += 1
                else:
                    self._streak[name] = 0
                    self._narrowed_names.add(name)
            if np.isfinite(pvalue) and goal_values and self._streak[name] >= self.n_confirm:
                value = self._cheapest(name, goal_values)
                new[name] = [value]
                if not last:
                    self.fixed_params_[name] = value
                decisions.append("fixed")
            elif name in self._narrowed_names and goal_values:
                new[name] = self._narrowed(dist, goal_values)
                decisions.append("narrowed" if pvalue <= self.alpha_level else "kept narrowed")
            else:
                new[name] = dist
                decisions.append("kept")
        if isinstance(table, Mapping):
            table = dict(table, decision=np.asarray(decisions))
        else:
            table = table.assign(decision=decisions)
        self.hsic_history_.append(table)
        return new

    def _cheapest(self, name, goal_values):
        """Rule 2 of the Notes: the cheapest of the goal set's values (in rank order)."""
        if self.cost is not None:
            costs = [self.cost(name, v) for v in goal_values]
            if all(c is not None for c in costs):
                return goal_values[int(np.argmin(costs))]
        if _is_size(name):
            sizes = [_size_of(v) for v in goal_values]
            if all(s is not None for s in sizes):
                return goal_values[int(np.argmin(sizes))]
        counts = Counter(repr(v) for v in goal_values)
        best = max(counts.values())
        return next(v for v in goal_values if counts[repr(v)] == best)

    def _range(self, x, lo_support, hi_support):
        margin = self.widen * np.ptp(x)
        return max(x.min() - margin, lo_support), min(x.max() + margin, hi_support)

    def _narrowed(self, dist, goal_values):
        """Rule 3 of the Notes."""
        if not hasattr(dist, "rvs"):
            levels = list(dist)
            if all(_is_number(v) for v in levels):
                # an ordinal list: the levels inside the goal set's widened range
                x = np.asarray(goal_values, dtype=np.float64)
                log = min(levels) > 0 and max(levels) >= 100 * min(levels)
                lo, hi = self._range(np.log(x) if log else x, -np.inf, np.inf)
                inside = [v for v in levels if lo - 1e-12 <= (np.log(v) if log else v) <= hi + 1e-12]
                return inside or levels
            kept = [v for v in levels if any(_same(v, g) for g in goal_values)]
            return kept or levels
        kind = _distribution_type(dist)
        x = np.asarray(goal_values, dtype=np.float64)
        lo_support, hi_support = (float(b) for b in dist.support())
        if kind == "log":
            x, lo_support, hi_support = np.log(x), np.log(lo_support), np.log(hi_support)
        lo, hi = self._range(x, lo_support, hi_support)
        if kind == "integer":
            lo, hi = int(np.floor(lo)), int(np.ceil(hi))
            if lo == hi:
                return [lo]
            from scipy.stats import randint

            return randint(lo, hi + 1)
        if not hi > lo:
            return [float(np.exp(lo)) if kind == "log" else float(lo)]
        from scipy.stats import loguniform, uniform

        if kind == "log":
            return loguniform(np.exp(lo), np.exp(hi))
        return uniform(lo, hi - lo)
