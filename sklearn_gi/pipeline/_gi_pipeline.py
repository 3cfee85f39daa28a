"""GIPipeline: a Pipeline that carries input-gradients through its transformers."""

import inspect
import warnings

import numpy as np
from sklearn.base import TransformerMixin, _fit_context
from sklearn.pipeline import Pipeline, _name_estimators
from sklearn.utils._param_validation import StrOptions
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.metadata_routing import _routing_enabled, process_routing
from sklearn.utils.validation import _get_feature_names, _num_samples, check_is_fitted

from ..preprocessing._jacobian_types import Jacobian, chunk_slices
from ..preprocessing._jacobians import check_known_jacobian, jacobian_of
from ..utils._validation import check_finite_scale, check_gradient_inputs, named_input_errors


def _final_estimator_has(attr):
    def check(self):
        getattr(self._final_estimator, attr)
        return True

    return check


def _is_passthrough(step):
    return step is None or (isinstance(step, str) and step == "passthrough")


class GIPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that applies the chain rule to ``dYdX``.

    ``dYdX`` is given with respect to the raw inputs ``X``; the final
    estimator sees transformed features ``Z = T(X)``. A plain ``Pipeline``
    would hand it the raw-input gradients as if they were gradients with
    respect to ``Z``: a silently wrong fit. ``GIPipeline.fit`` fits the
    transformers, composes their Jacobians ``J = dZ/dX`` and then either

    * pulls the gradients back, ``dY/dZ = dYdX @ inv(J)``, when ``J`` is
      square and invertible (scalers, full-rank PCA, elementwise maps): the
      final estimator sees gradients in its own coordinates; or
    * passes ``dYdX`` with ``dZdX = J`` to the final estimator, which matches
      ``df/dZ @ J = dYdX`` (polynomial and spline features, reducing PCA).

    The per-sample Jacobians of kernel feature maps (``RBFSampler``,
    ``Nystroem``), ``(n_samples, n_components, n_inputs)``, are never built:
    they stay lazy through the composition and are read chunk by chunk by
    :class:`~sklearn_gi.linear_model.GIRidge`, so
    ``make_gi_pipeline(StandardScaler(), RBFSampler(), GIRidge())`` is a
    gradient-enhanced kernel model with time and memory linear in ``n``
    (other final estimators get the dense array). ``predict_gradient`` works
    in row chunks too.

    Without ``dYdX`` it is a plain ``Pipeline``. ``predict_gradient(X)``
    returns gradients with respect to the raw inputs. Jacobians are known for
    the transformers listed by
    :func:`sklearn_gi.preprocessing.supported_transformers` and for any
    transformer with a ``transform_jacobian(X)`` method; any other
    transformer is a ``TypeError`` when gradients are given, raised before
    anything is fitted.

    Parameters
    ----------
    steps : list of (name, estimator) tuples
        As in :class:`~sklearn.pipeline.Pipeline`; the last is a GI estimator.
    transform_input, memory, verbose
        As in :class:`~sklearn.pipeline.Pipeline` (the gradient path fits the
        transformers in place, without ``memory`` caching).
    gradient_mode : {"auto", "pullback", "jacobian"}, default="auto"
        "auto" pulls back when the composed Jacobian is square and
        invertible, else hands ``dZdX`` to the final estimator; "pullback"
        requires the former; "jacobian" always does the latter. A final
        estimator whose ``partial_weights`` is set ("rms" or an array of
        per-input weights of the gradient term, e.g. in
        :class:`~sklearn_gi.linear_model.GIRidge`; not None or "auto") always gets
        ``dYdX`` and ``dZdX``, so that its weights are those of the
        pipeline's inputs ("pullback" is then an error).

    Attributes
    ----------
    gradient_mode_ : str
        What the last fit with gradients did: "pullback", "jacobian" or
        "direct" (no transformers).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import PolynomialFeatures, StandardScaler
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.pipeline import make_gi_pipeline
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4, 2)) * [1.0, 1000.0]
    >>> y = X[:, 0] ** 2 + 1e-3 * X[:, 0] * X[:, 1]
    >>> dYdX = np.column_stack([2 * X[:, 0] + 1e-3 * X[:, 1], 1e-3 * X[:, 0]])
    >>> model = make_gi_pipeline(StandardScaler(), PolynomialFeatures(2), GIRidge(alpha=1e-9))
    >>> model = model.fit(X, y, dYdX)
    >>> X_test = rng.normal(size=(3, 2)) * [1.0, 1000.0]
    >>> y_test = X_test[:, 0] ** 2 + 1e-3 * X_test[:, 0] * X_test[:, 1]
    >>> bool(np.allclose(model.predict(X_test), y_test, atol=1e-6))
    True
    >>> model.predict_gradient(X_test).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        **Pipeline._parameter_constraints,
        "gradient_mode": [StrOptions({"auto", "pullback", "jacobian"})],
    }

    def __init__(
        self, steps, *, transform_input=None, memory=None, verbose=False, gradient_mode="auto"
    ):
        super().__init__(steps, transform_input=transform_input, memory=memory, verbose=verbose)
        self.gradient_mode = gradient_mode

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, dYdX=None, *, dZdX=None, **params):
        """Fit the transformers, then the final estimator with chained gradients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
            Raw inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        dYdX : array-like of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs), default=None
            Gradients of ``y`` with respect to the raw inputs (NaN: unknown).
        dZdX : array-like of shape (n_samples, n_inputs, n_raw) or (n_inputs, n_raw), \
                default=None
            When ``X`` is itself a feature map of rawer inputs: its Jacobian,
            composed with the pipeline's; ``dYdX`` then refers to those inputs.
        **params : dict
            Other fit parameters, ``step__param`` style (or routed).

        Returns
        -------
        self : GIPipeline
        """
        _check_raw_scale(X, y, None, self)
        if dYdX is None:
            if dZdX is not None:
                raise ValueError("dZdX was given without dYdX: pass dYdX as well.")
            with named_input_errors():
                return super().fit(X, y, **params)
        self._validate_steps()
        if self.transform_input is not None:
            raise ValueError(
                "transform_input pushes metadata through the transformers' values, not their "
                "Jacobians; it is not supported when fitting with dYdX."
            )
        if self.memory is not None:
            warnings.warn(
                "GIPipeline does not cache transformers (memory) when fitting with dYdX.",
                UserWarning,
                stacklevel=2,
            )
        names, final = self.steps[-1]
        if _is_passthrough(final) or "dYdX" not in inspect.signature(final.fit).parameters:
            raise ValueError(
                f"The final step {names!r} ({type(final).__name__}) does not take dYdX: "
                "GIPipeline needs a GI estimator last."
            )
        head = [(name, step) for name, step in self.steps[:-1] if not _is_passthrough(step)]
        for _, step in head:
            check_known_jacobian(step)  # before fitting anything

        n = _num_samples(X)
        if len(np.shape(X)) != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_inputs) to fit with dYdX, got shape "
                             f"{np.shape(X)}.")
        y_array = np.asarray(y)
        k = 1 if y_array.ndim == 1 else y_array.shape[1]
        G, J, _ = check_gradient_inputs(
            dYdX, dZdX, n_samples=n, n_model_features=np.shape(X)[1], n_outputs=k,
            y_ndim=y_array.ndim, feature_names=_get_feature_names(X),
        )
        _check_raw_scale(None, None, G, self)
        J = None if J is None else Jacobian.from_array(J)

        step_params = self._step_fit_params(params)
        Xt = X
        for index, (name, step) in enumerate(head):
            X_in = Xt
            fit_params = step_params.get(name, {}).get("fit_transform", {})
            # the final estimator's memory check runs before the last step builds the
            # (n, p) features, where fit + transform is exactly what fit_transform does
            check_first = (index == len(head) - 1 and not fit_params
                           and hasattr(final, "_check_memory_of_features")
                           and type(step).fit_transform is TransformerMixin.fit_transform)
            with named_input_errors(f"X (at step {name!r})"):
                if check_first:
                    step.fit(X_in, y)
                else:
                    Xt = step.fit_transform(X_in, y, **fit_params)
            step_jacobian = jacobian_of(step, X_in)
            J = step_jacobian if J is None else J.then(step_jacobian)
            if check_first:
                final._check_memory_of_features(n, J, y_array, G)
                with named_input_errors(f"X (at step {name!r})"):
                    Xt = step.transform(X_in)

        final_params = dict(step_params.get(names, {}).get("fit", {}))
        final_params.pop("dYdX", None)
        final_params.pop("dZdX", None)
        squeeze = y_array.ndim == 1

        def shaped(gradient):
            return gradient[:, 0, :] if squeeze else gradient

        if J is None:
            self.gradient_mode_ = "direct"
            final.fit(Xt, y, dYdX=shaped(G), **final_params)
            return self
        pulled = None
        # per-input partial weights refer to the pipeline's inputs: pulled-back gradients are
        # per feature, and a non-diagonal Jacobian mixes the inputs' errors, so keep dZdX
        # "auto" (GIMLPRegressor's default) leaves the gradient mode to the pipeline, as None does
        weights = getattr(final, "partial_weights", None)
        weighted = weights is not None and not (isinstance(weights, str) and weights == "auto")
        if weighted and self.gradient_mode == "pullback":
            raise ValueError(
                "gradient_mode='pullback' hands the final step gradients per feature, but its "
                "partial_weights weight the pipeline's inputs; use gradient_mode='auto' or "
                "'jacobian' (they pass dYdX with dZdX)."
            )
        if self.gradient_mode == "pullback" or (self.gradient_mode == "auto" and not weighted):
            pulled = J.pull_back(G)
            if pulled is None and self.gradient_mode == "pullback":
                raise ValueError(
                    "gradient_mode='pullback' needs a square, invertible Jacobian of the "
                    f"transformers; it is {J.shape_out_in[0]} x {J.shape_out_in[1]}"
                    + (" and singular." if J.is_square() else ".")
                    + " Use gradient_mode='auto' or 'jacobian'."
                )
        if pulled is not None:
            self.gradient_mode_ = "pullback"
            final.fit(Xt, y, dYdX=shaped(pulled), **final_params)
        else:
            self.gradient_mode_ = "jacobian"
            # lazy Jacobians (kernel feature maps) stay lazy for estimators that read them in chunks
            keep_lazy = J.is_lazy and getattr(final, "_accepts_lazy_jacobian", False)
            final.fit(Xt, y, dYdX=shaped(G), dZdX=J if keep_lazy else J.toarray(), **final_params)
        return self

    def _step_fit_params(self, params):
        """``{step: {"fit": ..., "fit_transform": ...}}`` from routed or prefixed params."""
        if _routing_enabled():
            routed = process_routing(self, "fit", **params)
            # the routed Bunch answers any name, so ask for each step's methods explicitly
            return {
                name: {
                    "fit": dict(getattr(routed, name).get("fit", {})),
                    "fit_transform": dict(getattr(routed, name).get("fit_transform", {})),
                }
                for name, _ in self.steps
            }
        split = {}
        for key, value in params.items():
            name, sep, param = key.partition("__")
            if not sep or name not in dict(self.steps):
                raise ValueError(
                    f"Pipeline.fit does not accept the {key} parameter. Pass step parameters "
                    "as step__param (e.g. giridge__sample_weight)."
                )
            bunch = split.setdefault(name, {"fit": {}, "fit_transform": {}})
            bunch["fit"][param] = value
            bunch["fit_transform"][param] = value
        return split

    def _raw_jacobian(self, X):
        """Features ``Z`` and the composed :class:`Jacobian` ``dZ/dX`` (None: no transformers)."""
        Xt, J = X, None
        for _, step in self.steps[:-1]:
            if _is_passthrough(step):
                continue
            step_jacobian = jacobian_of(step, Xt)
            J = step_jacobian if J is None else J.then(step_jacobian)
            Xt = step.transform(Xt)
        return Xt, J

    @available_if(_final_estimator_has("predict_gradient"))
    def predict_gradient(self, X):
        """Gradients of the prediction with respect to the raw inputs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)

        Returns
        -------
        gradient : ndarray of shape (n_samples, n_inputs) or \
                (n_samples, n_outputs, n_inputs)
        """
        check_is_fitted(self)
        n = _num_samples(X)
        width = getattr(self._final_estimator, "n_features_in_", None)
        if width is None:
            return self._predict_gradient_rows(X)
        # in row chunks: (chunk, n_outputs, n_features) model gradients, never (n, ...)
        rows = chunk_slices(n, 8 * width * (np.shape(X)[1] + 2))
        if len(rows) <= 1:
            return self._predict_gradient_rows(X)
        return np.concatenate(
            [self._predict_gradient_rows(_safe_indexing(X, np.arange(c.start, c.stop))) for c in rows],
            axis=0,
        )

    def _predict_gradient_rows(self, X):
        Z, J = self._raw_jacobian(X)
        gradient = np.asarray(self._final_estimator.predict_gradient(Z))
        if J is None:
            return gradient
        squeeze = gradient.ndim == 2
        chained = J.apply(gradient[:, None, :] if squeeze else gradient)
        return chained[:, 0, :] if squeeze else chained


def make_gi_pipeline(*steps, memory=None, transform_input=None, verbose=False,
                     gradient_mode="auto"):
    """Build a :class:`GIPipeline` from estimators, naming them automatically.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_gi.linear_model import GIRidge
    >>> from sklearn_gi.pipeline import make_gi_pipeline
    >>> make_gi_pipeline(StandardScaler(), GIRidge()).steps[0][0]
    'standardscaler'
    """
    return GIPipeline(_name_estimators(steps), memory=memory, transform_input=transform_input,
                      verbose=verbose, gradient_mode=gradient_mode)


def _check_raw_scale(X, y, G, pipeline):
    """:func:`~sklearn_gi.utils.check_finite_scale` on the raw inputs (numeric ones only):
    a transformer such as StandardScaler would otherwise turn an overflowing column into
    zeros silently."""
    try:
        X = None if X is None else np.asarray(X)
        y = None if y is None else np.asarray(y)
    except Exception:  # ragged or exotic input: the steps validate it
        return
    # infinities are left to the steps (an imputer may handle them)
    X = np.where(np.isfinite(X), X, np.nan) if X is not None and X.dtype.kind in "biuf" else None
    y = np.where(np.isfinite(y), y, np.nan) if y is not None and y.dtype.kind in "biuf" else None
    check_finite_scale(X, y, G, dtype=np.float64, estimator=pipeline)
