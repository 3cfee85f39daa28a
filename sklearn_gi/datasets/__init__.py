"""Built-in problems with exact input-gradients.

Every problem is a :class:`GradientProblem` with ``value``, ``gradient`` and
``sample``; :func:`make_problem` draws a seeded training set ``X, y, dYdX``.
"""

from . import _classic, _mcdonagh, _sobolev_functions  # noqa: F401  (registration)
from ._base import GradientProblem, get_problem, list_problems, make_problem
from ._sobolev_functions import SOBOLEV_FUNCTIONS

__all__ = [
    "GradientProblem",
    "SOBOLEV_FUNCTIONS",
    "get_problem",
    "list_problems",
    "make_problem",
]
