"""HSIC sensitivity indices: global, goal-oriented (target) and conditional.

Every statistic is computed from sums over Gram matrices (row sums, diagonals
and one elementwise product), so each index costs O(n^2) time for the V- and
the U-statistic alike; no n x n matrix product is ever formed. The output's
Gram matrix is built once and each input's Gram matrix in turn, in a buffer
reused from one input to the next.
"""

import numbers

import numpy as np
from scipy import optimize, stats
from sklearn.utils import Bunch, check_random_state

from ..utils._threads import limit_function_blas_threads
from ..utils._validation import _as_float_array

__all__ = ["hsic_indices"]

_KINDS = ("global", "target", "conditional")
_STATISTICS = ("V", "U")
_PVALUES = (None, "asymptotic", "permutation")
_RULES = ("std", "median", "max")
# input Gram matrices held together while the permuted output Gram matrices of
# the global kind are gathered once for all of them
_GROUP_BYTES = 256 * 2**20
# permutations handled by one matrix product (target kind) or one gather
_CHUNK = 128


# ---------------------------------------------------------------------------
# Gram matrices and their summaries


def _gaussian_gram(x, theta, out):
    """``out[i, j] = exp(-(x_i - x_j)^2 / (2 theta^2))``, written in place."""
    xs = x / (theta * np.sqrt(2.0))
    np.subtract.outer(xs, xs, out=out)
    np.multiply(out, out, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    return out


def _dirac_gram(z, out):
    """``out[i, j] = 1{z_i == z_j}``: the Dirac (categorical) kernel."""
    np.equal.outer(z, z, out=out)
    return out


class _Summary:
    """Row sums, diagonal and total of a symmetric Gram matrix."""

    def __init__(self, G):
        self.rows = G.sum(axis=1)
        self.diag = G.diagonal().copy()
        self.total = self.rows.sum()
        self.trace = self.diag.sum()


def _statistic(n, statistic, skl, rk_rl, sk, sl, dk_dl, rk_dl, dk_rl, tk, tl):
    """HSIC from the sums of two Gram matrices K and L (scalars or arrays).

    ``skl = sum(K * L)``, ``rk_rl = (K 1).(L 1)``, ``sk = 1'K1``, ``sl = 1'L1``,
    ``dk_dl = diag(K).diag(L)``, ``rk_dl = (K 1).diag(L)``, ``dk_rl = diag(K).(L 1)``,
    ``tk = tr K``, ``tl = tr L``.

    V-statistic: ``tr(K H L H) / n^2 = (skl - 2 rk_rl / n + sk sl / n^2) / n^2``.
    U-statistic (Song et al. 2012) with K~, L~ the zero-diagonal matrices:
    ``[tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2 / (n-2) (K~1).(L~1)] / (n(n-3))``.
    """
    if statistic == "V":
        return (skl - 2.0 * rk_rl / n + sk * sl / n**2) / n**2
    trace = skl - dk_dl
    cross = rk_rl - rk_dl - dk_rl + dk_dl
    return (trace + (sk - tk) * (sl - tl) / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2)) / (
        n * (n - 3)
    )


def _hsic(K, sk, L, sl, statistic, skl=None):
    """HSIC of two Gram matrices given their summaries (``skl`` if already known)."""
    if skl is None:
        skl = np.dot(K.ravel(), L.ravel())
    return _statistic(
        K.shape[0], statistic, skl, sk.rows @ sl.rows, sk.total, sl.total,
        sk.diag @ sl.diag, sk.rows @ sl.diag, sk.diag @ sl.rows, sk.trace, sl.trace,
    )


def _centred(G, s, out):
    """``H G H`` written into ``out`` (may be ``G`` itself)."""
    n = G.shape[0]
    mean = s.rows / n
    np.subtract(G, mean[:, None], out=out)
    out -= mean[None, :]
    out += s.total / n**2
    return out


def _gamma_pvalue(K, sk, Lc, sl, hsic, statistic):
    """Gamma approximation of the null distribution (Gretton et al. 2007), as OpenTURNS.

    ``K`` is overwritten. Both kernels must satisfy ``k(x, x) = 1``.
    """
    n = K.shape[0]
    ex = (sk.total - sk.trace) / (n * (n - 1))
    ey = (sl.total - sl.trace) / (n * (n - 1))
    mean = (1.0 + ex * ey - ex - ey) / n
    B = _centred(K, sk, out=K)
    B *= Lc
    np.multiply(B, B, out=B)
    off_diagonal = B.sum() - np.trace(B)
    var = off_diagonal * 2.0 * (n - 4) * (n - 5) / (n * (n - 1) * (n - 2) * (n - 3)) / (n * (n - 1))
    if not (mean > 0 and var > 0):
        return np.nan
    shape, scale = mean**2 / var, n * var / mean
    value = n * hsic if statistic == "V" else n * hsic + n * mean
    return float(stats.gamma.sf(value, shape, scale=scale))


# ---------------------------------------------------------------------------
# Validation


def _check_X_y(X, y):
    X = _as_float_array(X, input_name="X", dtype=np.float64, allow_nan=False)
    y = _as_float_array(y, input_name="y", dtype=np.float64, allow_nan=False)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}."
        )
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of shape (n_samples,), got shape {y.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y have different numbers of samples: X has shape {X.shape}, y has shape "
            f"{y.shape}; y must have shape ({X.shape[0]},)."
        )
    if X.shape[1] == 0:
        raise ValueError("X has no column: its shape must be (n_samples, n_features >= 1).")
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def _check_choice(value, name, choices):
    if not (isinstance(value, str) or value is None) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def _median_rule(x, buffer):
    """Median of ``|x_i - x_j|`` over all n^2 pairs, diagonal zeros included (authors' rule)."""
    n = x.shape[0]
    D = buffer[:n, :n] if buffer is not None else np.empty((n, n))
    np.subtract.outer(x, x, out=D)
    np.abs(D, out=D)
    flat = D.reshape(-1)
    size = flat.shape[0]
    if size % 2:
        flat.partition(size // 2)
        return float(flat[size // 2])
    flat.partition([size // 2 - 1, size // 2])
    return float(0.5 * (flat[size // 2 - 1] + flat[size // 2]))


def _rule_bandwidth(x, rule, name, buffer=None):
    if rule == "std":
        theta = float(np.std(x, ddof=1))
    else:
        theta = _median_rule(x, buffer)
    if not theta > 0:
        raise ValueError(
            f"the {rule!r} bandwidth of {name} is zero ({name} is constant"
            + (" or more than half of its pairs are equal" if rule == "median" else "")
            + "): its Gaussian kernel is degenerate. Drop it or give a positive bandwidth."
        )
    return theta


def _input_bandwidths(X, bandwidth, buffer):
    """Bandwidth per column, or None where it is chosen by maximising HSIC ("max")."""
    d = X.shape[1]
    if isinstance(bandwidth, str):
        _check_choice(bandwidth, "bandwidth", _RULES)
        if bandwidth == "max":
            return [None] * d
        return [_rule_bandwidth(X[:, j], bandwidth, f"X[:, {j}]", buffer) for j in range(d)]
    if isinstance(bandwidth, numbers.Real) and not isinstance(bandwidth, bool):
        values = np.full(d, float(bandwidth))
    else:
        try:
            values = np.asarray(bandwidth, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"bandwidth must be 'std', 'median', 'max', a positive float or an array of shape "
                f"({d},), got {bandwidth!r}."
            ) from None
        if values.shape != (d,):
            raise ValueError(
                f"bandwidth must be 'std', 'median', 'max', a positive float or an array of shape "
                f"(n_features,) = ({d},), got an array of shape {values.shape}."
            )
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"bandwidth must be positive and finite, got {bandwidth!r}.")
    return [float(v) for v in values]


def _output_bandwidth(y, output_bandwidth, bandwidth, buffer):
    rule = output_bandwidth
    if rule is None:
        rule = bandwidth if isinstance(bandwidth, str) and bandwidth in ("std", "median") else "std"
    if isinstance(rule, str):
        _check_choice(rule, "output_bandwidth", (None, "std", "median"))
        return _rule_bandwidth(y, rule, "y", buffer)
    if not (isinstance(rule, numbers.Real) and not isinstance(rule, bool) and np.isfinite(rule)
            and rule > 0):
        raise ValueError(
            f"output_bandwidth must be None, 'std', 'median' or a positive float, got {rule!r}."
        )
    return float(rule)


def _goal_threshold(y, target_threshold, target_quantile):
    if target_threshold is not None:
        if not (isinstance(target_threshold, numbers.Real) and np.isfinite(target_threshold)):
            raise ValueError(f"target_threshold must be a finite number, got {target_threshold!r}.")
        return float(target_threshold)
    if not (isinstance(target_quantile, numbers.Real) and 0 < target_quantile < 1):
        raise ValueError(f"target_quantile must be in (0, 1), got {target_quantile!r}.")
    # the authors' order statistic (numpy's 'lower' quantile): no interpolation
    return float(np.quantile(y, target_quantile, method="lower"))


# ---------------------------------------------------------------------------
# Permutation null distributions


def _draw_permutations(rng, n, n_permutations):
    """One ``permutation(n)`` per replicate, in order (the output row i gets y[p[i]])."""
    perms = np.empty((n_permutations, n), dtype=np.intp)
    for b in range(n_permutations):
        perms[b] = rng.permutation(n)
    return perms


def _count_at_least(null, observed):
    """How many null statistics are >= the observed one (ties within rounding count)."""
    return int(np.count_nonzero(null >= observed - 1e-9 * abs(observed)))


class _GlobalPermutations:
    """Null of the global kind: permute rows and columns of L, once for a group of inputs."""

    def __init__(self, L, sl, perms, statistic):
        self.L, self.sl, self.perms, self.statistic = L, sl, perms, statistic
        n = L.shape[0]
        self.rows_buffer = np.empty((n, n))
        self.permuted = np.empty((n, n))

    def counts(self, Ks, summaries, observed):
        """``Ks``: the group's Gram matrices, one C-contiguous (group, n, n) array."""
        n = self.L.shape[0]
        group = len(Ks)
        flat = Ks.reshape(group, n * n)
        null = np.empty((group, len(self.perms)))
        sl = self.sl
        for b, p in enumerate(self.perms):
            np.take(self.L, p, axis=0, out=self.rows_buffer)
            np.take(self.rows_buffer, p, axis=1, out=self.permuted)
            skl = flat @ self.permuted.ravel()
            rl, dl = sl.rows[p], sl.diag[p]
            for k, s in enumerate(summaries):
                null[k, b] = _statistic(n, self.statistic, skl[k], s.rows @ rl, s.total, sl.total,
                                        s.diag @ dl, s.rows @ dl, s.diag @ rl, s.trace, sl.trace)
        return [_count_at_least(null[k], observed[k]) for k in range(group)]


def _target_counts(K, sk, z, perms, statistic):
    """Null of the target kind with the Dirac output kernel, all permutations by GEMM.

    With L_ij = 1{z_i == z_j} = 1 - z_i - z_j + 2 z_i z_j, every sum entering the
    statistic is a linear or quadratic form in z: ``q = z'Kz``, ``l = (K1)'z``,
    ``e = diag(K)'z``. The permuted indicators of a chunk form an n x B matrix.
    """
    n = K.shape[0]
    m = float(z.sum())

    def stat(Z):
        KZ = K @ Z
        q = np.einsum("ib,ib->b", Z, KZ)
        lin = sk.rows @ Z
        e = sk.diag @ Z
        skl = sk.total - 2.0 * lin + 2.0 * q
        rk_rl = (n - m) * sk.total + (2 * m - n) * lin
        dk_rl = (n - m) * sk.trace + (2 * m - n) * e
        sl = (n - m) ** 2 + m**2
        return _statistic(n, statistic, skl, rk_rl, sk.total, sl, sk.trace, sk.total, dk_rl,
                          sk.trace, float(n))

    observed = stat(z[:, None].astype(np.float64))[0]
    count = 0
    for start in range(0, len(perms), _CHUNK):
        Z = z[perms[start:start + _CHUNK]].T.astype(np.float64)
        count += _count_at_least(stat(Z), observed)
    return observed, count


def _conditional_counts(K, L_goal, sl_goal, goal_rows, perms, statistic):
    """Null of the conditional kind: the permuted goal rows are ``inverse(p)[goal]``.

    Permuting y moves the weights with it (OpenTURNS recomputes the weight matrix
    of the shuffled sample), so the statistic is again a V-statistic on m rows
    of X, now paired with the goal set's outputs in a random order.
    """
    def stat(rows):
        sub = K[np.ix_(rows, rows)]
        return _hsic(sub, _Summary(sub), L_goal, sl_goal, statistic)

    observed = stat(goal_rows)
    n = K.shape[0]
    inverse = np.empty(n, dtype=np.intp)
    null = np.empty(len(perms))
    for b, p in enumerate(perms):
        inverse[p] = np.arange(n)
        null[b] = stat(inverse[goal_rows])
    return observed, _count_at_least(null, observed)


# ---------------------------------------------------------------------------
# Public function


def _hsic_work(X, y, *, pvalue=None, n_permutations=1000, **kwargs):
    # the n x n Gram products per input, times the permutations when they are drawn
    n, d = np.shape(X)[0], np.shape(X)[1] if np.ndim(X) > 1 else 1
    return n**2 * (d + 1) * (n_permutations if pvalue == "permutation" else 1)


@limit_function_blas_threads(_hsic_work)
def hsic_indices(
    X,
    y,
    *,
    kind="global",
    statistic="V",
    bandwidth="std",
    output_bandwidth=None,
    target_threshold=None,
    target_quantile=0.1,
    pvalue=None,
    n_permutations=1000,
    random_state=None,
    n_threads=None,
):
    """HSIC sensitivity indices of each column of ``X`` for the output ``y``.

    The Hilbert-Schmidt independence criterion HSIC(X_j, Y) measures the
    dependence between one input and the output through Gaussian kernels;
    it is zero (in population) exactly when they are independent. The
    normalised index ``R2-HSIC = HSIC(X_j, Y) / sqrt(HSIC(X_j, X_j) HSIC(Y, Y))``
    lies in [0, 1]. The estimators, the R2 normalisation and the asymptotic
    p-values are those of OpenTURNS' ``HSICEstimator*Sensitivity`` classes
    (checked against OpenTURNS 1.27 on the Ishigami function to 1e-8 relative),
    computed in O(n^2) time per input for the V- and the U-statistic alike.

    Three kinds of analysis (Novello et al. 2023 for the goal-oriented one):

    * ``"global"``: HSIC(X_j, Y), Gaussian kernels on the input and the output.
    * ``"target"``: HSIC(X_j, Z) with the goal indicator
      ``Z = 1{y <= threshold}`` ("good" samples: lower y is better) and the
      Dirac kernel ``1{z == z'}`` on Z (OpenTURNS' ``DiracCovarianceModel``).
      For a binary Z every output kernel is ``a + b 1{z == z'}`` (``b > 0``),
      so R2-HSIC and the asymptotic p-values do not depend on it; raw HSIC is
      only rescaled (by ``1 - exp(-1 / (2 theta^2))`` for a Gaussian kernel of
      bandwidth theta on Z). The authors' estimator ``p^2 MMD^2`` is half of
      this V-statistic HSIC when ``target_quantile = m / n``.
    * ``"conditional"``: OpenTURNS' conditional HSIC, with the weights
      ``w = 1{y <= threshold}``, ``W = diag(w) / mean(w)``,
      ``HSIC = tr(W K W H1 L H2) / n^2``, ``H1 = I - 1 1'W / n``,
      ``H2 = I - W 1 1' / n``, Gaussian kernel on y. With an indicator weight this
      equals the V-statistic HSIC on the sub-sample ``y <= threshold`` (kernel
      bandwidths from the whole sample), which is how it is computed here.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Inputs (e.g. hyperparameters mapped to [0, 1]); one index per column.
    y : array-like of shape (n_samples,)
        Output (e.g. an error: lower is better for the goal set).
    kind : {"global", "target", "conditional"}, default="global"
    statistic : {"V", "U"}, default="V"
        Biased V-statistic ``tr(K H L H) / n^2`` or the unbiased U-statistic
        (Song et al. 2012, needs ``n_samples >= 4``; on the goal set's rows for
        ``kind="conditional"``, an extension: OpenTURNS 1.27 offers the
        V-statistic only there).
    bandwidth : {"std", "median", "max"}, float or array-like of shape (n_features,), \
            default="std"
        Bandwidth theta_j of the input kernels ``exp(-(x - x')^2 / (2 theta_j^2))``:
        ``"std"`` is the standard deviation of the column (``ddof=1``, the
        OpenTURNS convention); ``"median"`` the median of ``|x_i - x_k|`` over
        all n^2 pairs, zeros of the diagonal included (the authors' rule);
        ``"max"`` the bandwidth maximising the HSIC statistic over
        ``[1e-4, 5] * (max(x) - min(x))`` (the authors' bounds on [0, 1]-scaled
        inputs; bounded scalar search, about 25 Gram matrices per input). Choosing
        theta on the data biases HSIC upwards and makes the p-values
        anti-conservative. The bandwidth matters: a multi-modal dependence is
        averaged out by a wide kernel.
    output_bandwidth : {None, "std", "median"} or float, default=None
        Bandwidth of the Gaussian output kernel (global and conditional kinds,
        computed on the whole y). None follows ``bandwidth`` when it is
        ``"std"`` or ``"median"`` and uses ``"std"`` otherwise.
    target_threshold : float, default=None
        Threshold of the goal set ``y <= target_threshold`` (target and
        conditional kinds). None uses the lower ``target_quantile`` of y.
    target_quantile : float in (0, 1), default=0.1
        Used when ``target_threshold`` is None: the threshold is the order
        statistic ``numpy.quantile(y, target_quantile, method="lower")`` (the
        authors' definition), so without ties the goal set holds the
        ``floor(target_quantile * (n - 1)) + 1`` smallest values of y (the
        100 smallest of 1000 for 0.1).
    pvalue : {None, "asymptotic", "permutation"}, default=None
        Test of independence of X_j and the output, one p-value per column.
        ``"asymptotic"``: Gamma approximation of the null distribution
        (Gretton et al. 2007) exactly as OpenTURNS computes it, for the V- and
        the U-statistic (global and target kinds; OpenTURNS defines none for the
        conditional kind, which raises a ``ValueError``; needs n >= 6).
        ``"permutation"``: the output is permuted ``n_permutations`` times (for
        the conditional kind the weights move with it, as in OpenTURNS) and
        ``p = (1 + #{b : HSIC_b >= HSIC_obs}) / (B + 1)``, which is never zero and
        is a valid p-value. OpenTURNS reports ``#{b : HSIC_b > HSIC_obs} / (B + 1)``,
        which can be 0 and is smaller by at least ``1 / (B + 1)``; the count
        is returned as ``permutation_count`` to form it.
    n_permutations : int, default=1000
        Number B of permutations for ``pvalue="permutation"``.
    random_state : int, RandomState, Generator or None, default=None
        Draws the permutations: a ``numpy.random.Generator`` is used as is (one
        ``permutation(n_samples)`` per replicate, in order), anything else goes
        through ``sklearn.utils.check_random_state``.
    n_threads : int or None, default=None
        BLAS threads used. None: one thread for small problems (below about
        3e9 floating-point operations), where more are slower (see
        :ref:`threads`), else the BLAS library's setting.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``hsic`` (n_features,) the HSIC indices; ``r2_hsic`` (n_features,) the
        R2-HSIC indices (NaN where a U-statistic normaliser is not positive);
        ``pvalues`` (n_features,) or None; ``bandwidth`` (n_features,) the
        input bandwidths used; ``output_bandwidth`` (float, None for the target
        kind); ``hsic_yy`` HSIC of the output with itself; ``threshold`` and
        ``n_goal`` (None for the global kind); ``permutation_count``
        (n_features,) or None; ``kind``, ``statistic``, ``pvalue_method``.

    Notes
    -----
    Cost: O(n^2) time per input and per permutation of the global and
    conditional kinds, memory a few n x n float64 arrays (200 MB each at
    n = 5000). The V-statistic is ``sum(Kc * L) / n^2`` from row means, the
    U-statistic uses ``1'K~L~1 = (K~1).(L~1)``. Permutations never recompute a
    kernel: the global kind gathers the permuted output Gram matrix once per
    permutation for a group of inputs; the target kind evaluates the
    statistic, a quadratic form in the goal indicator, for a chunk of
    permutations with one n x n by n x B matrix product; the conditional kind
    gathers the m x m sub-matrix of the input Gram matrix.

    References
    ----------
    P. Novello, G. Poette, D. Lugato, P. M. Congedo, "Goal-oriented sensitivity
    analysis of hyperparameters in deep learning", J. Sci. Comput. 94 (2023).
    A. Gretton et al., "A kernel statistical test of independence", NIPS 2007.
    L. Song et al., "Feature selection via dependence maximization", JMLR 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.inspection import hsic_indices
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(200, 2))
    >>> y = np.sin(6 * X[:, 0]) + 0.1 * rng.normal(size=200)
    >>> result = hsic_indices(X, y, pvalue="asymptotic")
    >>> result.r2_hsic.round(3)
    array([0.793, 0.019])
    >>> bool(result.pvalues[0] < 1e-10), bool(result.pvalues[1] > 0.05)
    (True, True)

    Goal-oriented: which input matters for reaching the lowest 10 % of y?

    >>> goal = hsic_indices(X, y, kind="target", pvalue="permutation", random_state=0)
    >>> goal.n_goal, goal.r2_hsic.round(3), goal.pvalues.round(3)
    (20, array([0.107, 0.003]), array([0.001, 0.649]))
    """
    X, y = _check_X_y(X, y)
    _check_choice(kind, "kind", _KINDS)
    _check_choice(statistic, "statistic", _STATISTICS)
    _check_choice(pvalue, "pvalue", _PVALUES)
    n, d = X.shape
    if pvalue == "asymptotic" and kind == "conditional":
        raise ValueError(
            "pvalue='asymptotic' is not defined for kind='conditional' (OpenTURNS defines no "
            "asymptotic test for the conditional HSIC); use pvalue='permutation'."
        )
    if pvalue == "permutation":
        if not (isinstance(n_permutations, numbers.Integral) and n_permutations >= 1):
            raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}.")
    min_samples = 4 if statistic == "U" else 2
    if pvalue == "asymptotic":
        min_samples = 6
    if n < min_samples:
        raise ValueError(
            f"X and y have {n} samples; statistic={statistic!r}"
            + (" with pvalue='asymptotic'" if pvalue == "asymptotic" else "")
            + f" needs at least {min_samples}."
        )

    buffer = np.empty((n, n))  # one input Gram matrix, reused for every input
    thetas = _input_bandwidths(X, bandwidth, buffer)

    threshold = n_goal = theta_y = None
    if kind == "global":
        theta_y = _output_bandwidth(y, output_bandwidth, bandwidth, buffer)
        L = _gaussian_gram(y, theta_y, np.empty((n, n)))
    else:
        threshold = _goal_threshold(y, target_threshold, target_quantile)
        goal = y <= threshold
        n_goal = int(goal.sum())
        if n_goal == 0:
            raise ValueError(
                f"the goal set y <= {threshold!r} is empty (min(y) = {y.min()!r}): raise "
                "target_threshold."
            )
        if kind == "target":
            if n_goal == n:
                raise ValueError(
                    f"the goal set y <= {threshold!r} holds every sample, so its indicator is "
                    "constant: lower target_threshold or target_quantile."
                )
            L = _dirac_gram(goal, np.empty((n, n)))
        else:
            if n_goal < min_samples:
                raise ValueError(
                    f"the goal set y <= {threshold!r} has {n_goal} samples; kind='conditional' "
                    f"with statistic={statistic!r} needs at least {min_samples}."
                )
            theta_y = _output_bandwidth(y, output_bandwidth, bandwidth, buffer)
            goal_rows = np.flatnonzero(goal)
            L = _gaussian_gram(y[goal_rows], theta_y, np.empty((n_goal, n_goal)))
    sl = _Summary(L)
    hsic_yy = _hsic(L, sl, L, sl, statistic)
    Lc = _centred(L, sl, np.empty_like(L)) if pvalue == "asymptotic" else None

    perms = None
    if pvalue == "permutation":
        rng = random_state if isinstance(random_state, np.random.Generator) else \
            check_random_state(random_state)
        perms = _draw_permutations(rng, n, n_permutations)

    def input_gram(j, theta, rows=None):
        x = X[:, j] if rows is None else X[rows, j]
        size = x.shape[0]
        return _gaussian_gram(x, theta, buffer[:size, :size] if size == n else np.empty((size,) * 2))

    def maximise(j):
        rows = goal_rows if kind == "conditional" else None
        x = X[:, j]
        span = float(np.ptp(x))
        if not span > 0:
            raise ValueError(f"X[:, {j}] is constant: its Gaussian kernel is degenerate.")

        def loss(log_theta):
            K = input_gram(j, np.exp(log_theta), rows)
            return -_hsic(K, _Summary(K), L, sl, statistic)

        # search the log of theta: the authors' interval spans 4.7 decades
        res = optimize.minimize_scalar(loss, bounds=(np.log(1e-4 * span), np.log(5 * span)),
                                       method="bounded", options={"xatol": 1e-3})
        return float(np.exp(res.x))

    hsic = np.empty(d)
    hsic_xx = np.empty(d)
    pvalues = np.full(d, np.nan) if pvalue is not None else None
    counts = np.zeros(d, dtype=np.intp) if pvalue == "permutation" else None

    global_perm = kind == "global" and pvalue == "permutation"
    if global_perm:
        null = _GlobalPermutations(L, sl, perms, statistic)
        group_size = int(np.clip(_GROUP_BYTES // (8 * n * n), 1, d))
        group = buffer[None] if group_size == 1 else np.empty((group_size, n, n))
    else:
        group_size = 1
    for start in range(0, d, group_size):
        columns = range(start, min(start + group_size, d))
        summaries = []
        for j in columns:
            if thetas[j] is None:
                thetas[j] = maximise(j)
            if kind == "conditional":
                full = pvalue == "permutation"
                K = input_gram(j, thetas[j], None if full else goal_rows)
                Ksub = K[np.ix_(goal_rows, goal_rows)] if full else K
            else:
                K = _gaussian_gram(X[:, j], thetas[j], group[j - start] if global_perm else buffer)
                Ksub = K
            sk = _Summary(Ksub)
            hsic[j] = _hsic(Ksub, sk, L, sl, statistic)
            hsic_xx[j] = _hsic(Ksub, sk, Ksub, sk, statistic)
            if pvalue == "permutation" and kind == "target":
                _, counts[j] = _target_counts(K, sk, goal, perms, statistic)
            elif pvalue == "permutation" and kind == "conditional":
                _, counts[j] = _conditional_counts(K, L, sl, goal_rows, perms, statistic)
            elif pvalue == "asymptotic":
                pvalues[j] = _gamma_pvalue(K, sk, Lc, sl, hsic[j], statistic)
            summaries.append(sk)
        if global_perm:
            observed = [hsic[j] for j in columns]
            for j, count in zip(columns, null.counts(group[:len(columns)], summaries, observed)):
                counts[j] = count
    if pvalue == "permutation":
        pvalues = (1.0 + counts) / (n_permutations + 1.0)

    with np.errstate(invalid="ignore", divide="ignore"):
        norm = hsic_xx * hsic_yy
        r2 = np.where(norm > 0, hsic / np.sqrt(np.where(norm > 0, norm, 1.0)), np.nan)
    return Bunch(
        hsic=hsic,
        r2_hsic=r2,
        pvalues=pvalues,
        bandwidth=np.asarray(thetas, dtype=np.float64),
        output_bandwidth=theta_y,
        hsic_yy=float(hsic_yy),
        threshold=threshold,
        n_goal=n_goal,
        permutation_count=counts,
        kind=kind,
        statistic=statistic,
        pvalue_method=pvalue,
    )
