"""What the package's searches share: storing their parameters and the single-metric check."""

from sklearn.model_selection._search import BaseSearchCV


class _SingleMetricSearchCV(BaseSearchCV):
    """A ``BaseSearchCV`` scored by one metric.

    Subclasses list every parameter in their ``__init__`` signature (scikit-learn's
    ``get_params`` reads it) and store them all with ``self._store_params(locals())``,
    which sets exactly what ``BaseSearchCV.__init__`` and their own assignments set.
    """

    def _store_params(self, init_locals):
        """Store ``__init__``'s arguments (its ``locals()``) as attributes of the same names."""
        for name, value in init_locals.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def _check_single_metric(self):
        if not (self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)):
            raise ValueError(f"{type(self).__name__} takes a single scoring metric.")
