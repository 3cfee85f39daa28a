"""Built-in problems with exact input-gradients.

Every problem is a :class:`GradientProblem` with ``value``, ``gradient`` and
``sample``; :func:`make_problem` draws a seeded training set ``X, y, dYdX``,
uniformly or as a Latin hypercube (``sampling="lhs"``). Problems: the seven
2-D Sobolev-training functions of Czarnecki et al. (2017), McDonagh and
Chen's two simulators, Runge's function, a sine, and ``"wing_weight"``, the
10-input light-aircraft wing weight of Forrester, Sobester and Keane (2008),
in the units of ``smt.problems.WingWeight`` (sweep in degrees), and
``"bateman"``, the amounts of a radioactive decay chain at fixed times as
functions of the decay rates (Bateman, 1910; multi-output).

Stochastic processes with pathwise derivatives (for conditional generative
models such as :class:`sklearn_gi.generative.GIConditionalGAN`) are a
separate family: :func:`make_stochastic_problem` draws simulator runs
``X, Y, dYdX`` of ``"heteroscedastic"``, ``"garch"`` (McDonagh and Chen's
GARCH(1,1)) and ``"blob_image"``, and each :class:`StochasticProblem` has an
exact reference sampler and conditional mean.

Huge and Savine's Monte Carlo pricing problems ("Differential Machine
Learning", 2020): :func:`make_bachelier` (a basket option on correlated
Bachelier assets, any dimension, seeded market) and
:func:`make_black_scholes` draw paths labelled with one noisy payoff and its
pathwise derivative; :class:`BachelierBasket` and :class:`BlackScholesCall`
give the exact prices and deltas and the authors' test spots.
"""

from . import _bateman, _classic, _engineering, _mcdonagh, _sobolev_functions  # noqa: F401  (registration)
from ._base import GradientProblem, get_problem, list_problems, make_problem
from ._differential_ml import BachelierBasket, BlackScholesCall, make_bachelier, make_black_scholes
from ._sobolev_functions import SOBOLEV_FUNCTIONS
from ._stochastic import (
    StochasticProblem,
    get_stochastic_problem,
    list_stochastic_problems,
    make_stochastic_problem,
)

__all__ = [
    "GradientProblem",
    "SOBOLEV_FUNCTIONS",
    "get_problem",
    "list_problems",
    "make_problem",
    "StochasticProblem",
    "get_stochastic_problem",
    "list_stochastic_problems",
    "make_stochastic_problem",
    "BachelierBasket",
    "BlackScholesCall",
    "make_bachelier",
    "make_black_scholes",
]
