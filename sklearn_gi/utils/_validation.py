"""Validation of gradient arrays shared by every GI estimator.

scikit-learn slices any fit parameter whose first dimension equals ``n_samples``
and passes anything else through silently, so the exact shape checks here are the
only line of defence against, e.g., a transposed ``dYdX``.
"""

import contextlib
import numbers

import numpy as np
from sklearn.utils.validation import _check_sample_weight, _get_feature_names, check_array

__all__ = [
    "check_gradient_targets",
    "check_feature_jacobian",
    "check_finite_scale",
    "expected_gradient_shape",
]


def expected_gradient_shape(n_samples, n_outputs, n_features, y_ndim):
    """Return the shape ``dYdX`` must have for a target of ``y_ndim`` dimensions."""
    if y_ndim == 1:
        return (n_samples, n_features)
    return (n_samples, n_outputs, n_features)


def _as_float_array(array, *, input_name, dtype, allow_nan):
    """Convert to a float ndarray, naming ``input_name`` in every error."""
    try:
        raw = np.asarray(array)
    except Exception as exc:  # ragged nested lists, etc.
        raise ValueError(f"{input_name} could not be converted to an array: {exc}") from exc
    if isinstance(array, numbers.Number) or raw.ndim == 0:
        raise ValueError(f"{input_name} must be an array, got the scalar {array!r}.")
    if raw.dtype.kind not in "biuf" and raw.dtype != object:
        raise ValueError(
            f"{input_name} must be numeric (real-valued), got an array of dtype {raw.dtype}."
        )
    try:
        return check_array(
            raw,
            dtype=dtype,
            allow_nd=True,
            ensure_2d=False,
            ensure_all_finite="allow-nan" if allow_nan else True,
            ensure_min_samples=0,
            input_name=input_name,
        )
    except (TypeError, ValueError) as exc:
        if "infinity" in str(exc) or "NaN" in str(exc):
            raise ValueError(str(exc)) from exc
        raise ValueError(
            f"{input_name} must be numeric (got {raw.dtype}): {exc}"
        ) from exc


def _align_named_gradients(dYdX, feature_names):
    """Reorder the columns of a named 2-D ``dYdX`` to ``feature_names`` (the names of X)."""
    if feature_names is None or np.ndim(dYdX) != 2:
        return dYdX
    try:
        names = _get_feature_names(dYdX)
    except TypeError:  # mixed column types: no names to align by
        return dYdX
    if names is None:
        return dYdX  # an unnamed dYdX keeps its positional meaning
    feature_names = [str(name) for name in feature_names]
    names = [str(name) for name in names]
    missing = [name for name in feature_names if name not in names]
    unexpected = [name for name in names if name not in feature_names]
    if missing or unexpected:
        raise ValueError(
            "dYdX has column names that do not match the feature names of X: missing "
            f"{missing}, unexpected {unexpected}. Name its columns after X's columns "
            "(they are matched by name), or pass an unnamed array (matched by position)."
        )
    order = [names.index(name) for name in feature_names]
    return np.asarray(dYdX)[:, order]


def check_gradient_targets(dYdX, *, n_samples, n_outputs, n_features, y_ndim, dtype=np.float64,
                           feature_names=None):
    """Validate ``dYdX`` and return it as a ``(n_samples, n_outputs, n_features)`` array.

    NaN entries are kept: they mark unknown partial derivatives. Infinite
    entries, non-numeric data and any shape other than the expected one raise
    a ``ValueError`` that states the expected shape.

    Parameters
    ----------
    dYdX : array-like
        Gradient targets, ``(n_samples, n_features)`` for a 1-D ``y`` and
        ``(n_samples, n_outputs, n_features)`` for a 2-D ``y``.
    n_samples, n_outputs, n_features : int
        Expected sizes. ``n_features`` is the number of inputs the gradient is
        taken with respect to.
    y_ndim : {1, 2}
        Number of dimensions of the target ``y``.
    dtype : numpy dtype, default=np.float64
        Floating dtype of the returned array.
    feature_names : array-like of str, default=None
        Column names of ``X``. A 2-D ``dYdX`` with column names (a DataFrame)
        is then matched to them by name, whatever its column order; names
        that do not match are a ``ValueError``.

    Returns
    -------
    dYdX : ndarray of shape (n_samples, n_outputs, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.utils import check_gradient_targets
    >>> G = check_gradient_targets(np.ones((4, 2)), n_samples=4, n_outputs=1,
    ...                            n_features=2, y_ndim=1)
    >>> G.shape
    (4, 1, 2)
    >>> check_gradient_targets(np.ones((2, 4)), n_samples=4, n_outputs=1,
    ...                        n_features=2, y_ndim=1)
    Traceback (most recent call last):
        ...
    ValueError: dYdX has shape (2, 4), expected (n_samples, n_features) = (4, 2) ...
    """
    expected = expected_gradient_shape(n_samples, n_outputs, n_features, y_ndim)
    if y_ndim == 1:
        names = "(n_samples, n_features)"
        context = "for a 1-D y"
    else:
        names = "(n_samples, n_outputs, n_features)"
        context = f"for y of shape ({n_samples}, {n_outputs})"
    shape = tuple(np.shape(dYdX)) if hasattr(dYdX, "shape") else None
    dYdX = _align_named_gradients(dYdX, feature_names)
    G = _as_float_array(dYdX, input_name="dYdX", dtype=dtype, allow_nan=True)
    shape = G.shape if shape is None else shape
    if G.shape != expected:
        hint = ""
        if G.ndim == len(expected) and G.shape == tuple(reversed(expected)):
            hint = " It looks transposed."
        elif G.ndim != len(expected):
            hint = f" Got {G.ndim} dimensions, expected {len(expected)} {context}."
        raise ValueError(
            f"dYdX has shape {shape}, expected {names} = {expected} {context} "
            f"(one gradient row per sample of X).{hint}"
        )
    return G.reshape(n_samples, n_outputs, n_features)


def check_feature_jacobian(dZdX, *, n_samples, n_model_features, dtype=np.float64):
    """Validate the Jacobian ``dZdX`` of model features with respect to raw inputs.

    Parameters
    ----------
    dZdX : array-like of shape (n_samples, n_model_features, n_inputs) or \
            (n_model_features, n_inputs)
        The 2-D form is a Jacobian shared by every sample (a linear feature map).
    n_samples : int
        Number of samples of ``X``.
    n_model_features : int
        Number of columns of ``X`` (the model's features ``Z``).
    dtype : numpy dtype, default=np.float64

    Returns
    -------
    dZdX : ndarray
        Validated array, 2-D or 3-D as given.
    n_inputs : int
        Number of raw inputs, the size of the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.utils import check_feature_jacobian
    >>> J, d = check_feature_jacobian(np.ones((5, 3, 2)), n_samples=5, n_model_features=3)
    >>> J.shape, d
    ((5, 3, 2), 2)
    """
    J = _as_float_array(dZdX, input_name="dZdX", dtype=dtype, allow_nan=False)
    names = (
        f"(n_samples, n_features, n_inputs) = ({n_samples}, {n_model_features}, n_inputs)"
        f" or (n_features, n_inputs) = ({n_model_features}, n_inputs)"
    )
    if J.ndim == 3:
        ok = J.shape[0] == n_samples and J.shape[1] == n_model_features
    elif J.ndim == 2:
        ok = J.shape[0] == n_model_features
    else:
        ok = False
    if not ok or J.shape[-1] == 0:
        raise ValueError(f"dZdX has shape {J.shape}, expected {names}.")
    return J, J.shape[-1]


def is_lazy_jacobian(dZdX):
    """Whether ``dZdX`` is a lazy Jacobian (rows computed on demand), not an array.

    The protocol, met by the row-scaled and lazy Jacobians that
    :class:`~sklearn_gi.pipeline.GIPipeline` builds for kernel feature maps:
    attributes ``is_lazy = True``, ``n_samples`` and ``shape_out_in = (p, d)``
    and a method ``rows(start, stop)`` returning ``J[start:stop]`` of shape
    ``(stop - start, p, d)``.
    """
    return getattr(dZdX, "is_lazy", False) is True and callable(getattr(dZdX, "rows", None))


def _check_lazy_jacobian(J, n_samples, n_model_features):
    p, d = J.shape_out_in
    if J.n_samples != n_samples or p != n_model_features or d == 0:
        raise ValueError(
            f"dZdX is a lazy Jacobian of shape ({J.n_samples}, {p}, {d}), expected "
            f"(n_samples, n_features, n_inputs) = ({n_samples}, {n_model_features}, n_inputs)."
        )
    return J, d


def check_gradient_inputs(dYdX, dZdX, *, n_samples, n_model_features, n_outputs, y_ndim,
                          feature_names=None):
    """Validate a fit's ``dYdX`` and ``dZdX`` together.

    ``dZdX`` (the Jacobian of the model's features with respect to raw inputs)
    is only meaningful with ``dYdX``, whose last axis then counts the raw
    inputs rather than the features. ``feature_names`` (the column names of
    ``X``) align a named ``dYdX`` by name when there is no ``dZdX``.

    Returns
    -------
    dYdX : ndarray of shape (n_samples, n_outputs, n_inputs) or None
    dZdX : ndarray (2-D or 3-D, as given), lazy Jacobian (see :func:`is_lazy_jacobian`) or None
    n_inputs : int
    """
    J = None
    n_inputs = n_model_features
    if dZdX is not None:
        if dYdX is None:
            raise ValueError(
                "dZdX was given without dYdX: the feature Jacobian is only used "
                "to match gradient targets, pass dYdX as well."
            )
        if is_lazy_jacobian(dZdX):
            J, n_inputs = _check_lazy_jacobian(dZdX, n_samples, n_model_features)
        else:
            J, n_inputs = check_feature_jacobian(
                dZdX, n_samples=n_samples, n_model_features=n_model_features
            )
    G = None
    if dYdX is not None:
        G = check_gradient_targets(
            dYdX, n_samples=n_samples, n_outputs=n_outputs, n_features=n_inputs, y_ndim=y_ndim,
            feature_names=feature_names if dZdX is None else None,
        )
    return G, J, n_inputs


def check_positive_sample_weight(sample_weight, X):
    """``sample_weight`` as float64, non-negative with a positive sum (None: all ones)."""
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight must be non-negative.")
    if sample_weight.sum() <= 0:
        raise ValueError("sample_weight must have a positive sum.")
    return sample_weight


@contextlib.contextmanager
def no_half_fitted_model(estimator):
    """Context of a ``fit``: if it raises, remove the fitted attributes and any state it added.

    Validation sets ``n_features_in_`` before the later checks can fail, so
    without this a failed fit would leave an estimator that looks fitted.
    """
    before = set(vars(estimator))
    try:
        yield
    except BaseException:
        params = set(estimator.get_params(deep=False))
        for name in list(vars(estimator)):
            fitted = name.endswith("_") and not name.startswith("__")
            if name not in params and (fitted or name not in before):
                delattr(estimator, name)
        raise


def check_finite_scale(X, y=None, dYdX=None, *, dtype=None, estimator=None):
    """Reject inputs whose scale overflows the working floating dtype, before any heavy work.

    Every GI estimator squares its inputs somewhere: the standardization
    (variances), the normal equations (``X^T X``, ``X^T y``, the gradient
    terms), the kernel matrices (squared distances) and the losses (squared
    errors). For each array ``A`` of ``X``, ``y`` and ``dYdX`` (NaN entries
    ignored), with ``s = max |A|``, ``n`` its rows and ``w`` its other
    entries per row, the rule is

        ``(2 s)^2 * n * w <= finfo(dtype).max``

    i.e. a sum of squares of centred values (a centred value is at most
    ``2 s``) cannot overflow. In float64 this allows ``s`` up to about
    ``1e153 / sqrt(n w)``, far beyond any physical data; in float32 about
    ``1e19 / sqrt(n w)``.

    Parameters
    ----------
    X, y, dYdX : array-like or None
        Validated arrays (finite except NaN partials in ``dYdX``).
    dtype : numpy dtype, default=None
        The working dtype; None uses that of ``X``.
    estimator : estimator, default=None
        Named in the message.

    Raises
    ------
    ValueError
        Naming the array, its largest magnitude and the dtype, with a hint to rescale.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.utils import check_finite_scale
    >>> check_finite_scale(np.ones((3, 2)), np.r_[1.0, 2.0, 1e300])
    Traceback (most recent call last):
        ...
    ValueError: y has values up to 1e+300 in magnitude: ...
    """
    dtype = np.dtype(np.asarray(X).dtype if dtype is None else dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    log_max = np.log(np.finfo(dtype).max)
    who = f"{type(estimator).__name__}: " if estimator is not None else ""
    for name, array in (("X", X), ("y", y), ("dYdX", dYdX)):
        if array is None:
            continue
        A = np.asarray(array)
        if A.size == 0 or A.dtype.kind not in "biuf":
            continue
        # largest magnitude without an |A| or isnan(A) copy (A may be GBs of features);
        # fmax/fmin skip NaN and give NaN only when every entry is NaN
        s = max(abs(float(np.fmax.reduce(A, axis=None))), abs(float(np.fmin.reduce(A, axis=None))))
        s = 0.0 if np.isnan(s) else s
        if not np.isfinite(s):
            raise ValueError(f"{who}{name} contains infinity or a value too large for {dtype}.")
        if s == 0:
            continue
        n = A.shape[0] if A.ndim else 1
        w = max(1, A.size // max(n, 1))
        if 2 * np.log(2 * s) + np.log(n) + np.log(w) > log_max:
            limit = np.exp((log_max - np.log(n) - np.log(w)) / 2) / 2
            raise ValueError(
                f"{who}{name} has values up to {s:.3g} in magnitude: their squares (in "
                f"standardization, normal equations, kernel matrices and losses) overflow "
                f"{dtype.name} (max {np.finfo(dtype).max:.3g}) over {n} samples. Rescale {name} "
                f"(with these shapes its magnitude must stay below {limit:.3g}), e.g. divide it "
                "by a typical scale, or change its units."
            )


def check_finite_output(values, *, method, estimator=None):
    """Raise a ``ValueError`` when a prediction of finite input is not finite (overflow).

    Used by ``predict`` and ``predict_gradient``: an input far outside the
    scale of the training data can overflow the model's arithmetic, and a
    NaN or infinite prediction must never be returned silently.
    """
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        who = type(estimator).__name__ if estimator is not None else "the model"
        raise ValueError(
            f"{method} of {who} overflowed to non-finite values: X is too far outside the "
            "scale of the training data for the model's arithmetic. Rescale X (as the "
            "training data were) or check it for outliers."
        )
    return values


@contextlib.contextmanager
def named_input_errors(names="X or y"):
    """Re-raise scikit-learn's validation errors that do not say which input failed (e.g.
    "could not convert string to float") as a ``ValueError`` naming ``names``."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        if any(word in message for word in ("X", "y ", "y,", "dYdX", "sample", "feature")):
            raise
        raise ValueError(f"{names} is invalid: {message}") from exc
