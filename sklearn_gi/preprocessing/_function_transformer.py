"""FunctionTransformer with a known derivative, usable in GI pipelines."""

import numpy as np
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from ._jacobian_types import Jacobian


class GIFunctionTransformer(FunctionTransformer):
    """A :class:`~sklearn.preprocessing.FunctionTransformer` that knows its Jacobian.

    Give either ``derivative`` for an elementwise ``func`` (its Jacobian is
    diagonal and is never expanded to ``(n, d, d)``), or ``jacobian`` for any
    ``func``.

    Parameters
    ----------
    func, inverse_func, validate, accept_sparse, check_inverse, feature_names_out, \
            kw_args, inv_kw_args
        As in :class:`~sklearn.preprocessing.FunctionTransformer`; ``func=None``
        is the identity.
    derivative : callable or None, default=None
        ``derivative(X)`` returns ``d func(X) / dX`` elementwise, shape
        ``(n_samples, n_features)``. Receives ``kw_args`` like ``func``.
    jacobian : callable or None, default=None
        ``jacobian(X)`` returns the full Jacobian, shape
        ``(n_samples, n_outputs, n_features)`` or ``(n_outputs, n_features)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.preprocessing import GIFunctionTransformer
    >>> log = GIFunctionTransformer(np.log, np.exp, derivative=lambda X: 1 / X)
    >>> X = np.array([[1.0, 2.0], [4.0, 8.0]])
    >>> log.fit(X).transform_jacobian(X)[1]
    array([[0.25 , 0.   ],
           [0.   , 0.125]])
    """

    _parameter_constraints: dict = {
        **FunctionTransformer._parameter_constraints,
        "derivative": [callable, None],
        "jacobian": [callable, None],
    }

    def __init__(
        self,
        func=None,
        inverse_func=None,
        *,
        derivative=None,
        jacobian=None,
        validate=False,
        accept_sparse=False,
        check_inverse=True,
        feature_names_out=None,
        kw_args=None,
        inv_kw_args=None,
    ):
        super().__init__(
            func,
            inverse_func,
            validate=validate,
            accept_sparse=accept_sparse,
            check_inverse=check_inverse,
            feature_names_out=feature_names_out,
            kw_args=kw_args,
            inv_kw_args=inv_kw_args,
        )
        self.derivative = derivative
        self.jacobian = jacobian

    def _gi_jacobian(self, X):
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        kwargs = self.kw_args or {}
        if self.derivative is not None and self.jacobian is not None:
            raise ValueError("Give either derivative or jacobian, not both.")
        if self.func is None:
            return Jacobian("diagonal", np.ones(X.shape[1]))
        if self.derivative is not None:
            values = np.asarray(self.derivative(X, **kwargs), dtype=float)
            if values.shape != X.shape:
                raise ValueError(
                    f"derivative(X) must return the shape of X, {X.shape}, got {values.shape}."
                )
            return Jacobian("diagonal", values)
        if self.jacobian is not None:
            J = Jacobian.from_array(self.jacobian(X, **kwargs))
            if J.kind == "dense" and J.values.shape[0] != X.shape[0]:
                raise ValueError(
                    f"jacobian(X) returned {J.values.shape[0]} samples for {X.shape[0]}."
                )
            if J.shape_out_in[1] != X.shape[1]:
                raise ValueError(
                    f"jacobian(X) must end with n_features = {X.shape[1]}, got shape "
                    f"{J.values.shape}."
                )
            return J
        raise TypeError(
            "GIFunctionTransformer needs derivative= (elementwise func) or jacobian= to "
            "propagate gradients."
        )

    def transform_jacobian(self, X):
        """Jacobian of ``transform`` at ``X``: ``(n, p, d)``, or ``(p, d)`` when constant."""
        return self._gi_jacobian(X).toarray()
