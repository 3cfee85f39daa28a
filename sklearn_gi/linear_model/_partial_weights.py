"""Per-input weights of the gradient term (Huge and Savine's differential regression)."""

import numpy as np


def resolve_partial_weights(partial_weights, Y, G, sample_weight, *, center, estimator=None):
    """The weights ``lambda_jm`` of partial ``m`` of output ``j``: ndarray (k, d), or None (all 1).

    Parameters
    ----------
    partial_weights : None, "rms" or array-like of shape (d,)
        The estimator's parameter.
    Y : ndarray of shape (n, k)
        Targets as the estimator fits them.
    G : ndarray of shape (n, k, d) or None
        Gradient targets (NaN: unknown).
    sample_weight : ndarray of shape (n,)
    center : bool
        Whether the values term sees centred targets (``fit_intercept``).

    With ``"rms"``: ``lambda_jm = E_w[yc_j^2] / E_w[g_jm^2]``, ``yc`` the targets
    centred on their weighted mean when ``center`` (the value errors are then
    measured about it), ``E_w`` the ``sample_weight``-weighted mean (over the
    known partials for ``g``). Each partial's squared error is thus scaled to
    the values' variance: the weights are invariant to the units of ``y`` and
    make the loss invariant to the units of each input. Degenerate cases: a
    partial with no known non-zero entry (all zero, or all NaN) has no scale of
    its own and gets the largest weight of the other partials of its output
    (it is taken to be as precise as the best known one), or 1 when none has
    a scale; constant targets (``E_w[yc^2] = 0``) use ``1 / E_w[g_jm^2]``.
    """
    if partial_weights is None or G is None:
        return None
    name = type(estimator).__name__ + "." if estimator is not None else ""
    n, k, d = G.shape
    if isinstance(partial_weights, str):  # "rms", validated by _parameter_constraints
        w = sample_weight / sample_weight.sum()
        Yc = Y - w @ Y if center else Y
        value_ms = w @ (Yc.astype(np.float64) ** 2)  # (k,)
        known = ~np.isnan(G)
        known_weight = np.einsum("i,ikd->kd", sample_weight, known)
        squares = np.einsum("i,ikd->kd", sample_weight, np.where(known, G, 0.0).astype(np.float64) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            gradient_ms = squares / known_weight
        has_scale = np.isfinite(gradient_ms) & (gradient_ms > 0)
        # centring a constant leaves rounding of about eps * |y|, not 0
        rounding = (64 * np.finfo(np.float64).eps * np.abs(Y).max(axis=0, initial=0.0)) ** 2
        numerator = np.where(value_ms > rounding, value_ms, 1.0)[:, None]
        weights = np.ones((k, d))
        np.divide(numerator, gradient_ms, out=weights, where=has_scale)
        for j in range(k):
            if has_scale[j].any():
                weights[j, ~has_scale[j]] = weights[j, has_scale[j]].max()
        return weights
    weights = np.asarray(partial_weights)
    if weights.dtype.kind not in "biuf":
        raise ValueError(f"{name}partial_weights must be None, 'rms' or an array of non-negative "
                         f"numbers, got an array of dtype {weights.dtype}.")
    weights = weights.astype(np.float64)
    if weights.shape != (d,):
        raise ValueError(
            f"{name}partial_weights has shape {weights.shape}, expected (n_inputs,) = ({d},): one "
            "weight per partial derivative (per column of dYdX)."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"{name}partial_weights must be finite and non-negative, got {weights}.")
    return np.broadcast_to(weights, (k, d)).copy()
