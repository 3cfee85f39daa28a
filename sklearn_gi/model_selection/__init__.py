"""Model selection with gradient information: complexity bounds from the GI gap, HSIC search."""

from ._complexity_search import GIComplexitySearchCV, gap_bound_index
from ._hsic_search import HSICSearchCV
from ._plot import ComplexityCurveDisplay

__all__ = ["GIComplexitySearchCV", "gap_bound_index", "HSICSearchCV", "ComplexityCurveDisplay"]
