"""HSICImportanceDisplay: R2-HSIC of each hyperparameter as horizontal bars."""

import numpy as np

from ._importance import hsic_importance


class HSICImportanceDisplay:
    """Goal-oriented R2-HSIC per hyperparameter (and pair), with p-values.

    Build it with :meth:`from_search` (a fitted search) or
    :meth:`from_importance` (a table of :func:`hsic_importance`), then
    :meth:`plot` (scikit-learn's ``Display`` conventions). Bars are sorted by
    R2-HSIC, the most influential on top; each is annotated with its p-value
    and drawn solid when ``p <= alpha_level``, hatched and pale otherwise.

    Parameters
    ----------
    params : list of str
        Hyperparameter names (``"a:b"`` for a pair).
    r2_hsic : array-like
    pvalues : array-like or None, default=None
    alpha_level : float, default=0.05
        Level below which a hyperparameter is drawn as influential.

    Attributes
    ----------
    ax_, figure_ : matplotlib Axes and Figure, set by :meth:`plot`.
    bars_ : matplotlib BarContainer

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_gi.inspection import HSICImportanceDisplay
    >>> display = HSICImportanceDisplay(["width", "dummy"], [0.3, 0.01], [0.001, 0.6]).plot()
    >>> [t.get_text() for t in display.ax_.get_yticklabels()]
    ['dummy', 'width']
    """

    def __init__(self, params, r2_hsic, pvalues=None, *, alpha_level=0.05):
        self.params = params
        self.r2_hsic = r2_hsic
        self.pvalues = pvalues
        self.alpha_level = alpha_level

    @classmethod
    def from_importance(cls, table, *, alpha_level=0.05, ax=None, **plot_kwargs):
        """Plot a table of :func:`hsic_importance` (DataFrame or dict of arrays).

        Rows with a NaN R2-HSIC (constant hyperparameters) are left out.

        Returns
        -------
        display : HSICImportanceDisplay
        """
        params = np.asarray(table["param"], dtype=object)
        r2 = np.asarray(table["r2_hsic"], dtype=np.float64)
        pvalues = np.asarray(table["pvalue"], dtype=np.float64)
        keep = np.isfinite(r2)
        display = cls(list(params[keep]), r2[keep],
                      None if np.isnan(pvalues).all() else pvalues[keep], alpha_level=alpha_level)
        return display.plot(ax=ax, **plot_kwargs)

    @classmethod
    def from_search(cls, search, *, quantile=0.1, interactions=False, alpha_level=0.05,
                    ax=None, plot_kwargs=None, **importance_kwargs):
        """Compute :func:`hsic_importance` of a fitted search (or its ``cv_results_``) and plot it.

        Parameters
        ----------
        search : fitted search or ``cv_results_`` dict
        quantile, interactions, **importance_kwargs :
            Passed to :func:`hsic_importance`.
        alpha_level : float, default=0.05
        ax : matplotlib Axes, default=None
        plot_kwargs : dict, default=None
            Passed to :meth:`plot`.

        Returns
        -------
        display : HSICImportanceDisplay
            ``display.table_`` holds the table.
        """
        table = hsic_importance(search, quantile=quantile, interactions=interactions,
                                **importance_kwargs)
        display = cls.from_importance(table, alpha_level=alpha_level, ax=ax, **(plot_kwargs or {}))
        display.table_ = table
        return display

    def plot(self, ax=None, *, color="C0", title=None):
        """Draw the bars.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            New figure when None.
        color : str, default="C0"
        title : str, default=None
            Default: ``"goal-oriented HSIC"``.

        Returns
        -------
        self : HSICImportanceDisplay
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6.4, 0.45 * len(self.params) + 1.4))
        r2 = np.asarray(self.r2_hsic, dtype=np.float64)
        pvalues = None if self.pvalues is None else np.asarray(self.pvalues, dtype=np.float64)
        order = np.argsort(r2, kind="stable")  # barh draws bottom-up: the largest on top
        positions = np.arange(len(order))
        significant = (np.ones(len(r2), dtype=bool) if pvalues is None
                       else pvalues <= self.alpha_level)
        self.bars_ = ax.barh(positions, r2[order], color=color, edgecolor=color)
        for bar, j in zip(self.bars_, order):
            if not significant[j]:
                bar.set_alpha(0.35)
                bar.set_hatch("//")
        if pvalues is not None:
            span = max(float(np.nanmax(r2)) if len(r2) else 0.0, 1e-12)
            for y, j in zip(positions, order):
                ax.text(r2[j] + 0.01 * span, y, f"p = {pvalues[j]:.3g}", va="center", fontsize=9)
            ax.set_xlim(0, 1.3 * span)
        ax.set_yticks(positions)
        ax.set_yticklabels([self.params[j] for j in order])
        ax.set_xlabel("R2-HSIC with the goal set"
                      + ("" if pvalues is None else f" (pale: p > {self.alpha_level:g})"))
        ax.set_title("goal-oriented HSIC" if title is None else title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
