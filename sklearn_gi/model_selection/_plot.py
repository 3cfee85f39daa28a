"""ComplexityCurveDisplay: scores with and without gradients against complexity."""

import numpy as np


class ComplexityCurveDisplay:
    """Test score with and without gradients against complexity, with the bound marked.

    Build it with :meth:`from_estimator` from a fitted
    :class:`GIComplexitySearchCV`, then :meth:`plot` (scikit-learn's ``Display``
    conventions).

    Parameters
    ----------
    complexity : array-like
        Candidate values (or their positions, for non-numeric candidates).
    gi_scores, baseline_scores : array-like
        Mean test scores with and without gradients.
    bound_index : int
        Position of the upper bound among the candidates.
    gi_std, baseline_std : array-like or None, default=None
        Standard deviations over folds, drawn as bands.
    complexity_name : str, default="complexity"
    score_name : str, default="score"
    tick_labels : list of str or None, default=None

    Attributes
    ----------
    ax_, figure_, lines_ : matplotlib objects, set by :meth:`plot`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_gi.model_selection import ComplexityCurveDisplay
    >>> display = ComplexityCurveDisplay([1, 2, 4], [0.5, 0.8, 0.79], [0.3, 0.7, 0.8], 2)
    >>> display = display.plot()
    >>> len(display.lines_)
    2
    """

    def __init__(self, complexity, gi_scores, baseline_scores, bound_index, *, gi_std=None,
                 baseline_std=None, complexity_name="complexity", score_name="score",
                 tick_labels=None):
        self.complexity = complexity
        self.gi_scores = gi_scores
        self.baseline_scores = baseline_scores
        self.bound_index = bound_index
        self.gi_std = gi_std
        self.baseline_std = baseline_std
        self.complexity_name = complexity_name
        self.score_name = score_name
        self.tick_labels = tick_labels

    @classmethod
    def from_estimator(cls, search, *, combination=None, ax=None, **plot_kwargs):
        """Plot from a fitted :class:`GIComplexitySearchCV`.

        Parameters
        ----------
        search : fitted GIComplexitySearchCV
        combination : dict or None, default=None
            Values of the other gridded parameters; None: those of ``best_params_``.
        ax : matplotlib Axes or None, default=None
        **plot_kwargs
            Passed to :meth:`plot`.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(search, "upper_bounds_")
        name = search._complexity_name()
        if combination is None:
            combination = {k: v for k, v in search.best_params_.items() if k != name}
        results = search.cv_results_
        rows = [i for i, params in enumerate(results["params"])
                if all(params[k] == v for k, v in combination.items())]
        if not rows:
            raise ValueError(f"No evaluated candidate matches {combination!r}.")
        values = [results["params"][i][name] for i in rows]
        bound = next(b[name] for b in search.upper_bounds_
                     if all(b[k] == v for k, v in combination.items()))
        numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in values)
        display = cls(
            values if numeric else list(range(len(values))),
            results["mean_test_score"][rows],
            results["mean_test_score_without_gradients"][rows],
            values.index(bound),
            gi_std=results["std_test_score"][rows],
            baseline_std=results["std_test_score_without_gradients"][rows],
            complexity_name=name,
            score_name="score" if search.scoring is None else str(search.scoring),
            tick_labels=None if numeric else [str(v) for v in values],
        )
        return display.plot(ax=ax, **plot_kwargs)

    def plot(self, ax=None):
        """Draw the two curves and the bound.

        Parameters
        ----------
        ax : matplotlib Axes or None, default=None

        Returns
        -------
        self : ComplexityCurveDisplay
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        x = np.asarray(self.complexity, dtype=float)
        lines = []
        for scores, std, label in (
            (self.gi_scores, self.gi_std, "with gradients"),
            (self.baseline_scores, self.baseline_std, "without gradients"),
        ):
            (line,) = ax.plot(x, scores, marker="o", label=label)
            if std is not None:
                scores, std = np.asarray(scores), np.asarray(std)
                ax.fill_between(x, scores - std, scores + std, alpha=0.2, color=line.get_color())
            lines.append(line)
        ax.axvline(x[self.bound_index], color="k", linestyle="--", label="upper bound")
        if self.tick_labels is not None:
            ax.set_xticks(x, self.tick_labels)
        ax.set_xlabel(self.complexity_name)
        ax.set_ylabel(f"mean test {self.score_name}")
        ax.legend()
        self.ax_, self.figure_, self.lines_ = ax, ax.figure, lines
        return self
