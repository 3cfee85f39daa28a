"""Engineering test functions: the light-aircraft wing weight and the borehole water flow."""

import numpy as np

from ._base import GradientProblem, register_problem

# (name, lower, upper, exponent in the product term; None where the input enters otherwise)
_WING_INPUTS = (
    ("Sw", 150.0, 200.0, 0.758),  # wing area, ft^2
    ("Wfw", 220.0, 300.0, 0.0035),  # weight of fuel in the wing, lb
    ("A", 6.0, 10.0, 0.6),  # aspect ratio
    ("Lambda", -10.0, 10.0, None),  # quarter-chord sweep, degrees
    ("q", 16.0, 45.0, 0.006),  # dynamic pressure at cruise, lb/ft^2
    ("lambda", 0.5, 1.0, 0.04),  # taper ratio
    ("tc", 0.08, 0.18, -0.3),  # aerofoil thickness to chord ratio
    ("Nz", 2.5, 6.0, 0.49),  # ultimate load factor
    ("Wdg", 1700.0, 2500.0, 0.49),  # flight design gross weight, lb
    ("Wp", 0.025, 0.08, None),  # paint weight, lb/ft^2
)
_SWEEP = 3
_PAINT = 9
# cos(Lambda) enters as (1 / cos^2)^0.6 * (1 / cos)^-0.3 = cos^-0.9
_COS_EXPONENT = -0.9


@register_problem
class WingWeight(GradientProblem):
    r"""Weight of a light aircraft's wing (Forrester, Sobester and Keane, 2008).

    Ten inputs, in this order and these units (the bounds are the sampling box):

    ========  ==============  ==========================================
    input     bounds          meaning
    ========  ==============  ==========================================
    Sw        [150, 200]      wing area (ft^2)
    Wfw       [220, 300]      weight of fuel in the wing (lb)
    A         [6, 10]         aspect ratio
    Lambda    [-10, 10]       quarter-chord sweep (degrees)
    q         [16, 45]        dynamic pressure at cruise (lb/ft^2)
    lambda    [0.5, 1]        taper ratio
    tc        [0.08, 0.18]    aerofoil thickness to chord ratio
    Nz        [2.5, 6]        ultimate load factor
    Wdg       [1700, 2500]    flight design gross weight (lb)
    Wp        [0.025, 0.08]   paint weight (lb/ft^2)
    ========  ==============  ==========================================

    .. math::

        W = 0.036\, S_w^{0.758} W_{fw}^{0.0035}
            \left(\frac{A}{\cos^2 \Lambda}\right)^{0.6} q^{0.006} \lambda^{0.04}
            \left(\frac{100\, t_c}{\cos \Lambda}\right)^{-0.3}
            (N_z W_{dg})^{0.49} + S_w W_p

    The sweep is given in degrees and converted to radians inside, so its
    gradient component is per degree. Values and bounds are those of
    ``smt.problems.WingWeight``; the gradient is exact (analytic), where SMT
    uses complex steps. The value lies between about 123 and 518 lb on the
    box. The inputs span five orders of magnitude, so scale them (e.g. a
    ``StandardScaler`` in a GI pipeline) before a distance-based model.

    References
    ----------
    A. Forrester, A. Sobester and A. Keane, *Engineering Design via
    Surrogate Modelling: A Practical Guide*, Wiley, 2008.

    Examples
    --------
    >>> from sklearn_gi.datasets import get_problem
    >>> wing = get_problem("wing_weight")
    >>> wing.input_names[:4]
    ('Sw', 'Wfw', 'A', 'Lambda')
    >>> x = wing.bounds.mean(axis=1, keepdims=True).T
    >>> wing.value(x).round(2)
    array([267.62])
    >>> wing.gradient(x).shape
    (1, 10)
    """

    name = "wing_weight"
    input_names = tuple(row[0] for row in _WING_INPUTS)

    def __init__(self):
        super().__init__([row[1:3] for row in _WING_INPUTS])
        self._exponents = np.array([0.0 if row[3] is None else row[3] for row in _WING_INPUTS])

    def _product_term(self, X):
        # every factor but the sweep is a power of one input (100 tc only rescales the constant)
        powers = np.ones(len(X))
        for m, exponent in enumerate(self._exponents):
            if exponent:
                powers = powers * X[:, m] ** exponent
        cos_sweep = np.cos(np.deg2rad(X[:, _SWEEP]))
        return 0.036 * 100.0**-0.3 * powers * cos_sweep**_COS_EXPONENT

    def _value(self, X):
        return self._product_term(X) + X[:, 0] * X[:, _PAINT]

    def _gradient(self, X):
        P = self._product_term(X)[:, None]
        G = np.zeros_like(X)
        powered = self._exponents != 0  # all but the sweep and the paint
        G[:, powered] = P * self._exponents[powered] / X[:, powered]  # d(x^a)/dx = a x^(a-1)
        # d cos^-0.9 / dLambda_deg = 0.9 tan(Lambda) cos^-0.9 * pi / 180
        G[:, _SWEEP] = P[:, 0] * -_COS_EXPONENT * np.tan(np.deg2rad(X[:, _SWEEP])) * np.pi / 180.0
        G[:, 0] += X[:, _PAINT]
        G[:, _PAINT] = X[:, 0]
        return G


# (name, lower, upper) of the borehole inputs, in the order of Surrogates.jl's test
_WATER_FLOW_INPUTS = (
    ("rw", 0.05, 0.15),  # radius of the borehole, m
    ("r", 100.0, 50000.0),  # radius of influence, m
    ("Tu", 63070.0, 115600.0),  # transmissivity of the upper aquifer, m^2/yr
    ("Hu", 990.0, 1110.0),  # potentiometric head of the upper aquifer, m
    ("Tl", 63.1, 116.0),  # transmissivity of the lower aquifer, m^2/yr
    ("Hl", 700.0, 820.0),  # potentiometric head of the lower aquifer, m
    ("L", 1120.0, 1680.0),  # length of the borehole, m
    ("Kw", 9855.0, 12045.0),  # hydraulic conductivity of the borehole, m/yr
)


@register_problem
class WaterFlow(GradientProblem):
    r"""Water flow through a borehole (Harper and Gupta, 1983; the "borehole function").

    Eight inputs, in this order (the bounds are the sampling box, those of
    Surrogates.jl's GEKPLS water-flow test and of SMT):

    ======  ===================  =========================================
    input   bounds               meaning
    ======  ===================  =========================================
    rw      [0.05, 0.15]         radius of the borehole (m)
    r       [100, 50000]         radius of influence (m)
    Tu      [63070, 115600]      transmissivity of the upper aquifer (m^2/yr)
    Hu      [990, 1110]          potentiometric head of the upper aquifer (m)
    Tl      [63.1, 116]          transmissivity of the lower aquifer (m^2/yr)
    Hl      [700, 820]           potentiometric head of the lower aquifer (m)
    L       [1120, 1680]         length of the borehole (m)
    Kw      [9855, 12045]        hydraulic conductivity of the borehole (m/yr)
    ======  ===================  =========================================

    .. math::

        Q = \frac{2 \pi T_u (H_u - H_l)}{\ln(r / r_w)
            \left(1 + \frac{2 L T_u}{\ln(r / r_w) r_w^2 K_w} + \frac{T_u}{T_l}\right)}

    in m^3/yr, between about 9 and 280 on the box. The gradient is exact
    (analytic). The inputs span six orders of magnitude: scale them before a
    distance-based model.

    References
    ----------
    W. V. Harper and S. K. Gupta, *Sensitivity/uncertainty analysis of a
    borehole scenario comparing Latin hypercube sampling and deterministic
    sensitivity approaches*, Office of Nuclear Waste Isolation, 1983.

    Examples
    --------
    >>> from sklearn_gi.datasets import get_problem
    >>> water = get_problem("water_flow")
    >>> water.input_names[:3]
    ('rw', 'r', 'Tu')
    >>> x = water.bounds.mean(axis=1, keepdims=True).T
    >>> water.value(x).round(3)
    array([70.873])
    >>> water.gradient(x).shape
    (1, 8)
    """

    name = "water_flow"
    input_names = tuple(row[0] for row in _WATER_FLOW_INPUTS)

    def __init__(self):
        super().__init__([row[1:3] for row in _WATER_FLOW_INPUTS])

    @staticmethod
    def _parts(X):
        rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
        log_ratio = np.log(r / rw)
        numerator = 2.0 * np.pi * Tu * (Hu - Hl)
        # the denominator multiplied out: log(r/rw) (1 + Tu/Tl) + 2 L Tu / (rw^2 Kw)
        denominator = log_ratio * (1.0 + Tu / Tl) + 2.0 * L * Tu / (rw**2 * Kw)
        return numerator, denominator, log_ratio

    def _value(self, X):
        numerator, denominator, _ = self._parts(X)
        return numerator / denominator

    def _gradient(self, X):
        rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
        numerator, denominator, log_ratio = self._parts(X)
        d_num = np.zeros_like(X)
        d_num[:, 2] = 2.0 * np.pi * (Hu - Hl)
        d_num[:, 3] = 2.0 * np.pi * Tu
        d_num[:, 5] = -2.0 * np.pi * Tu
        ratio = 1.0 + Tu / Tl
        well = 2.0 * L * Tu / (rw**2 * Kw)  # the borehole's term of the denominator
        d_den = np.zeros_like(X)
        d_den[:, 0] = -ratio / rw - 2.0 * well / rw
        d_den[:, 1] = ratio / r
        d_den[:, 2] = log_ratio / Tl + well / Tu
        d_den[:, 4] = -log_ratio * Tu / Tl**2
        d_den[:, 6] = well / L
        d_den[:, 7] = -well / Kw
        return (d_num * denominator[:, None] - numerator[:, None] * d_den) / denominator[:, None] ** 2
