"""GIComplexitySearchCV: an upper bound on useful model complexity from the GI gap."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.model_selection import ParameterGrid
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples

from ..utils._validation import check_gradient_inputs
from ._search_base import _SingleMetricSearchCV


def _inner_has(attr):
    def check(self):
        getattr(self.estimator, attr)
        return True

    return check


class _GradientSwitch(MetaEstimatorMixin, RegressorMixin, BaseEstimator):
    """Fit ``estimator`` with its gradients, or with them dropped (the baseline)."""

    __metadata_request__fit = {"dYdX": True, "dZdX": True}

    def __init__(self, estimator, use_gradients=True):
        self.estimator = estimator
        self.use_gradients = use_gradients

    def fit(self, X, y, dYdX=None, *, dZdX=None, **params):
        if self.use_gradients and dYdX is not None:
            params["dYdX"] = dYdX
            if dZdX is not None:
                params["dZdX"] = dZdX
        self.estimator_ = clone(self.estimator).fit(X, y, **params)
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    @available_if(_inner_has("predict_gradient"))
    def predict_gradient(self, X):
        return self.estimator_.predict_gradient(X)

    def score(self, X, y, sample_weight=None):
        return self.estimator_.score(X, y, sample_weight=sample_weight)


def gap_bound_index(gi_scores, baseline_scores, *, gap_tol=0.1, patience=2, perfect_score=None,
                    plateau=False, complete=True):
    """Index of the upper bound on useful complexity, or None if not established yet.

    Candidates are in increasing complexity; scores are greater-is-better.
    The gap is ``gi_score - baseline_score``; with ``perfect_score`` (the
    score of an exact model: 0 for ``neg_*`` error scorers, 1 for R^2) it is
    relative, divided by the baseline's shortfall ``perfect_score -
    baseline_score``, so that "the gradients cut the error by 40%" reads the
    same at every error level. (An absolute gap shrinks as both models improve,
    and would look closed while the gradients still cut the error fourfold.)

    From the first candidate where the GI model wins (``gap > 0``; a model too
    simple for the data can be hurt by gradients it cannot match, and says
    nothing about overfitting), the bound is the first of:

    1. **flip**: the first later candidate where the gap is ``<= 0`` (the GI
       model no longer wins);
    2. **closed**: the first of ``patience`` consecutive candidates whose gap
       has shrunk to ``gap <= gap_tol * (largest gap so far)``;
    3. **plateau** (only with ``plateau=True``): when neither model has beaten
       its best score for ``patience`` consecutive candidates, more complexity
       helps neither: the bound is the later of the two best candidates, so
       it covers the baseline's optimum so far. It prunes where rules 1 and 2
       never fire (a flat GI curve above an overfitting baseline), but an
       erratic baseline can improve again after the window: on noisy data
       (``make_problem("runge", 40, noise=0.05)``, 2 tanh layers of 4 to 64
       units, L-BFGS) it put the bound at 8 units where the value-only
       optimum was 64. Hence off by default;
    4. else, once every candidate is scored (``complete``), the last
       candidate: the grid does not reach the bound, and nothing can be
       pruned. (McDonagh and Chen's notebook took the smallest gap here, which
       can fall below the useful complexity when the gap grows with it.)

    Each rule only looks at the candidates up to where it fires, so stopping
    the search there gives the same bound as scoring the whole grid.

    Parameters
    ----------
    gi_scores, baseline_scores : sequence of float
        Mean validation scores with and without gradients, by complexity.
    gap_tol : float, default=0.1
    patience : int, default=2
    perfect_score : float or None, default=None
        None: the absolute gap.
    plateau : bool, default=False
        Apply rule 3.
    complete : bool, default=True
        Whether the scores cover the whole grid (rule 4 applies).

    Returns
    -------
    index : int or None

    Examples
    --------
    >>> from sklearn_gi.model_selection import gap_bound_index
    >>> gap_bound_index([0.5, 0.8, 0.9, 0.88], [0.3, 0.7, 0.85, 0.9])
    3
    >>> gap_bound_index([0.1, 0.5, 0.8], [0.2, 0.3, 0.7], complete=False) is None
    True

    RMSE (as ``neg_root_mean_squared_error``) falling fortyfold with the
    gradients' fourfold advantage intact: the relative gap stays open.

    >>> gi, base = [-0.4, -0.1, -0.04, -0.01], [-1.6, -0.4, -0.16, -0.04]
    >>> gap_bound_index(gi, base, perfect_score=0.0, complete=False) is None
    True
    >>> gap_bound_index(gi, base, complete=False)  # the absolute gap "closed"
    2
    """
    gi = np.asarray(gi_scores, dtype=float)
    base = np.asarray(baseline_scores, dtype=float)
    gap = gi - base
    if perfect_score is not None:
        if np.any(gi > perfect_score) or np.any(base > perfect_score):
            raise ValueError(
                f"Scores above perfect_score={perfect_score}: it is not the score of an exact "
                "model for this scorer; pass the right value, or None for the absolute gap."
            )
        shortfall = perfect_score - base
        # a perfect baseline leaves nothing for the gradients to improve: gap 0
        gap = np.divide(gap, shortfall, out=np.zeros_like(gap), where=shortfall > 0)
    wins = np.flatnonzero(gap > 0)
    if len(wins) == 0:
        return len(gap) - 1 if complete and len(gap) else None
    closed_run, peak = 0, 0.0
    best_gi = best_base = None
    stale = 0
    for i in range(len(gap)):
        improved = False
        if best_gi is None or gi[i] > gi[best_gi]:
            best_gi, improved = i, True
        if best_base is None or base[i] > base[best_base]:
            best_base, improved = i, True
        stale = 0 if improved else stale + 1
        if i < wins[0]:
            stale = 0
            continue
        if gap[i] <= 0:
            return i
        peak = max(peak, gap[i])
        closed_run = closed_run + 1 if gap[i] <= gap_tol * peak else 0
        if closed_run >= patience:
            return i - patience + 1
        if plateau and stale >= patience:
            return max(best_gi, best_base)
    return len(gap) - 1 if complete else None


class GIComplexitySearchCV(_SingleMetricSearchCV):
    """Search model complexity up to the bound where gradient information stops helping.

    What holds: the bound is safe. On all nine of McDonagh and Chen's
    published curves (2-D and 8-D simulators) it is at or above their
    exhaustive value-only optimum, and so it is on all nine of our cases
    (``benchmarks/results/complexity_search_authors_curves.md`` and
    ``complexity_search.md``). Searching at or below it does not miss the
    value-only optimum there.

    When it saves time, and when it does not: each candidate it reaches is
    trained twice (with and without the gradients), so the scan is cheaper than
    an exhaustive value-only search only when the gradients stop helping early
    in the grid and ``early_exit`` skips the costlier candidates above the
    bound. On the authors' curves, from our per-epoch timings of their
    networks, that is 1 case of 9 (0.66 times the exhaustive cost; 3 of 9 with
    ``plateau=True``); the others cost 1.1 to 2.8 times. Where the gradients
    keep helping at every complexity in the grid, as with our networks (their
    gain grows with width), there is no bound inside it: the bound is the last
    candidate, every candidate is trained twice, and the scan costs 2.0 to 2.7
    times an exhaustive search. Use it for the bound, or where large models
    are much costlier than small ones; not to save time on a grid the
    gradients help throughout.

    The method (McDonagh and Chen's complexity metric): each candidate
    complexity (in increasing order) is cross-validated with the gradients
    ``dYdX`` and without them, on the same folds. While the model is too
    simple to overfit, the gradients improve it; where the (relative) gap
    between the two closes, or the GI model starts to lose, is an upper bound
    on the useful complexity (see :func:`gap_bound_index` for the exact rule).
    With ``early_exit`` the search stops as soon as the bound is established.
    ``best_params_`` is the best GI candidate at or below the bound.

    Parameters
    ----------
    estimator : GI estimator
        Takes ``fit(X, y, dYdX=...)``.
    param_grid : dict
        The complexity parameter (``complexity_param``, by default the first
        key) maps to candidates in increasing complexity; other keys are
        gridded as in ``GridSearchCV``, and the rule applies per combination.
    scoring : str, callable or None, default=None
        A single metric (greater is better); None uses the estimator's
        ``score`` (R^2).
    cv : int, cross-validation generator or iterable, default=5
    n_jobs : int, default=None
        Parallel fits through joblib (any joblib backend, e.g. Dask's).
    refit : bool, default=True
        Refit the best GI candidate on the whole data (with the gradients).
    early_exit : bool, default=True
        Stop each combination's scan once its bound is established.
    complexity_param : str or None, default=None
        The key of ``param_grid`` that is the complexity; None: the first key.
    gap_tol : float, default=0.1
        The gap has closed when it has shrunk to at most ``gap_tol`` times the
        largest gap seen at lower complexity.
    patience : int, default=2
        Consecutive closed candidates (or, with ``plateau``, candidates where
        neither model improves on its best score) that establish the bound.
    plateau : bool, default=False
        Also end the scan when neither model has improved for ``patience``
        candidates (rule 3 of :func:`gap_bound_index`; it can cut below the
        value-only optimum when the value-only scores are erratic).
    perfect_score : float, "auto" or None, default="auto"
        The score of an exact model. The gap is then relative: ``(gi_score -
        baseline_score) / (perfect_score - baseline_score)``, the fraction of
        the baseline's error that the gradients remove, which does not shrink
        merely because both models improve. ``"auto"``: 1 for R^2
        (``scoring=None``, ``"r2"``, ``"explained_variance"``), 0 for the
        ``"neg_*"`` error scorers, else None. None: the absolute gap.
    verbose : int, default=0
    pre_dispatch : str or int, default="2*n_jobs"
    error_score : "raise" or float, default=np.nan
    return_train_score : bool, default=False

    Attributes
    ----------
    cv_results_ : dict of arrays
        One row per evaluated candidate, as in ``GridSearchCV``, for the GI
        fits; the baseline's columns carry the suffix ``_without_gradients``
        (e.g. ``mean_test_score_without_gradients``); ``gap_test_score`` is
        their difference and ``at_or_below_bound`` marks the admissible rows.
    upper_bound_ : dict
        Parameters at the bound, for the combination of ``best_params_``.
    upper_bounds_ : list of dict
        The bound of every combination of the other parameters.
    n_candidates_evaluated_ : int
        Candidates scored (each with and without gradients).
    n_candidates_total_ : int
        Candidates in the grid.
    best_estimator_, best_params_, best_score_, best_index_, refit_time_, \
            n_splits_, scorer_
        As in ``GridSearchCV``.

    Examples
    --------
    >>> from sklearn.preprocessing import PolynomialFeatures
    >>> from sklearn_gi.datasets import make_problem
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.model_selection import GIComplexitySearchCV
    >>> from sklearn_gi.pipeline import make_gi_pipeline
    >>> X, y, dYdX = make_problem("runge", 30, noise=0.01, random_state=0)
    >>> model = make_gi_pipeline(PolynomialFeatures(), GIRidge(alpha=1e-8))
    >>> search = GIComplexitySearchCV(
    ...     model, {"polynomialfeatures__degree": [1, 2, 4, 6, 8, 10, 12, 14]}, cv=3)
    >>> search = search.fit(X, y, dYdX=dYdX)
    >>> search.n_candidates_evaluated_ <= search.n_candidates_total_
    True
    >>> sorted(search.upper_bound_)
    ['polynomialfeatures__degree']
    """

    _parameter_constraints: dict = {
        **BaseSearchCV._parameter_constraints,
        "param_grid": [dict],
        "early_exit": ["boolean"],
        "complexity_param": [str, None],
        "gap_tol": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "perfect_score": [Real, StrOptions({"auto"}), None],
        "plateau": ["boolean"],
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        scoring=None,
        cv=5,
        n_jobs=None,
        refit=True,
        early_exit=True,
        complexity_param=None,
        gap_tol=0.1,
        patience=2,
        perfect_score="auto",
        plateau=False,
        verbose=0,
        pre_dispatch="2*n_jobs",
        error_score=np.nan,
        return_train_score=False,
    ):
        self._store_params(locals())

    # --------------------------------------------------------------- search
    def _complexity_name(self):
        if not self.param_grid:
            raise ValueError("param_grid must name at least the complexity parameter.")
        name = self.complexity_param or next(iter(self.param_grid))
        if name not in self.param_grid:
            raise ValueError(f"complexity_param {name!r} is not a key of param_grid.")
        values = self.param_grid[name]
        if isinstance(values, str) or not hasattr(values, "__len__") or len(values) == 0:
            raise ValueError(
                f"param_grid[{name!r}] must be a non-empty sequence of candidates in increasing "
                "complexity."
            )
        return name

    def _perfect_score(self):
        if self.perfect_score != "auto":
            return self.perfect_score
        if self.scoring is None or self.scoring in ("r2", "explained_variance"):
            return 1.0
        if isinstance(self.scoring, str) and self.scoring.startswith("neg_"):
            return 0.0
        return None

    def _rule(self):
        return {"gap_tol": self.gap_tol, "patience": self.patience,
                "perfect_score": self._perfect_score(), "plateau": self.plateau}

    def _combinations(self):
        name = self._complexity_name()
        others = {k: v for k, v in self.param_grid.items() if k != name}
        return name, list(ParameterGrid(others)) if others else [{}]

    def fit(self, X, y=None, **params):
        """Scan complexities with and without ``dYdX`` (pass it as ``dYdX=``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **params : dict
            ``dYdX`` (required), ``dZdX`` and other fit parameters, sliced per
            fold by scikit-learn.

        Returns
        -------
        self : GIComplexitySearchCV
        """
        if params.get("dYdX") is None:
            raise ValueError(
                "GIComplexitySearchCV compares fits with and without gradients: pass dYdX."
            )
        self._check_single_metric()
        self._complexity_name()
        # a wrong dYdX would otherwise fail in every fold, hidden behind error_score
        y_array = np.asarray(y)
        check_gradient_inputs(
            params["dYdX"], params.get("dZdX"), n_samples=_num_samples(X),
            n_model_features=np.shape(X)[1],
            n_outputs=1 if y_array.ndim == 1 else y_array.shape[1], y_ndim=y_array.ndim,
        )
        user_estimator = self.estimator
        self.estimator = _GradientSwitch(user_estimator)
        try:
            super().fit(X, y, **params)
        finally:
            self.estimator = user_estimator
        self._merge_results()
        if self.refit:
            self.best_estimator_ = self.best_estimator_.estimator_
        return self

    def _run_search(self, evaluate_candidates, **kwargs):
        name, combinations = self._combinations()
        values = list(self.param_grid[name])
        for other in combinations:
            gi_scores, baseline_scores = [], []
            for value in values:
                inner = {f"estimator__{k}": v for k, v in {**other, name: value}.items()}
                results = evaluate_candidates(
                    [{**inner, "use_gradients": True}, {**inner, "use_gradients": False}]
                )
                gi_scores.append(results["mean_test_score"][-2])
                baseline_scores.append(results["mean_test_score"][-1])
                if self.early_exit and gap_bound_index(
                    gi_scores, baseline_scores, **self._rule(), complete=False
                ) is not None:
                    break

    # -------------------------------------------------------------- results
    def _pairs(self, results):
        """Rows of GI fits and of their baselines (they alternate)."""
        use = np.array([p["use_gradients"] for p in results["params"]])
        return np.flatnonzero(use), np.flatnonzero(~use)

    def _bounds(self, results):
        """Per combination: GI row indices in order, and the bound's position among them."""
        _, combinations = self._combinations()
        gi_rows, base_rows = self._pairs(results)
        groups = []
        for other in combinations:
            rows = [
                (g, b) for g, b in zip(gi_rows, base_rows)
                if all(results["params"][g][f"estimator__{k}"] == v for k, v in other.items())
            ]
            gi = [results["mean_test_score"][g] for g, _ in rows]
            base = [results["mean_test_score"][b] for _, b in rows]
            # complete=True: a scan stopped early ends on its bound, which this finds again
            bound = gap_bound_index(gi, base, **self._rule(), complete=True)
            groups.append((other, [g for g, _ in rows], bound))
        return groups

    def _select_best_index(self, refit, refit_metric, results):
        """The best GI candidate at or below its combination's bound (an index of the raw rows)."""
        return self._best_row(results, self._bounds(results))

    @staticmethod
    def _best_row(results, groups):
        best, best_score = None, -np.inf
        for _, rows, bound in groups:
            for row in rows[: bound + 1]:
                score = results["mean_test_score"][row]
                if best is None or score > best_score:
                    best, best_score = row, score
        return int(best)

    def _merge_results(self):
        raw = self.cv_results_
        groups = self._bounds(raw)
        gi_rows, base_rows = self._pairs(raw)
        order = {row: i for i, row in enumerate(gi_rows)}
        merged = {}
        for key, column in raw.items():
            if key in ("params", "param_use_gradients"):
                continue
            if key.startswith("param_estimator__"):
                merged["param_" + key[len("param_estimator__"):]] = column[gi_rows]
                continue
            merged[key] = np.asarray(column)[gi_rows]
            if key.startswith(("mean_", "std_", "split")):
                merged[key + "_without_gradients"] = np.asarray(column)[base_rows]
        merged["params"] = [
            {k[len("estimator__"):]: v for k, v in raw["params"][row].items()
             if k.startswith("estimator__")}
            for row in gi_rows
        ]
        merged["gap_test_score"] = (
            merged["mean_test_score"] - merged["mean_test_score_without_gradients"]
        )
        for key in [k for k in merged if k.startswith("rank_test")]:
            merged[key] = _rank(merged[key.replace("rank_", "mean_")])
        admissible = np.zeros(len(gi_rows), dtype=bool)
        self.upper_bounds_ = []
        name = self._complexity_name()
        best_group_bound = None
        best_raw = self._best_row(raw, groups)
        for other, rows, bound in groups:
            admissible[[order[r] for r in rows[: bound + 1]]] = True
            bound_params = {**other, name: merged["params"][order[rows[bound]]][name]}
            self.upper_bounds_.append(bound_params)
            if best_raw in rows:
                best_group_bound = bound_params
        merged["at_or_below_bound"] = admissible
        self.cv_results_ = merged
        self.upper_bound_ = best_group_bound
        self.best_index_ = order[best_raw]
        self.best_params_ = merged["params"][self.best_index_]
        self.best_score_ = float(merged["mean_test_score"][self.best_index_])
        self.n_candidates_evaluated_ = len(gi_rows)
        self.n_candidates_total_ = len(self.param_grid[name]) * len(self._combinations()[1])


def _rank(scores):
    """Rank 1 for the best (greatest) mean score, as in ``GridSearchCV``."""
    scores = np.asarray(scores, dtype=float)
    filled = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-filled, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int32)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks
