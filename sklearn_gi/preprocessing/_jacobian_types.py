"""Cheap representations of Jacobians ``dZ/dX`` for the chain rule.

A Jacobian is one of:

* ``constant``: one ``(p, d)`` matrix for every sample (linear maps: PCA);
* ``diagonal``: ``(d,)`` (the same for every sample: scalers) or ``(n, d)``
  (elementwise maps, clipping), never expanded to ``(n, d, d)`` unless asked;
* ``dense``: ``(n, p, d)``.

Composition, pull-back of gradients and application to model gradients keep
the cheapest form.
"""

import numpy as np


class Jacobian:
    """Jacobian of a feature map at ``n`` samples, in its cheapest form.

    Parameters
    ----------
    kind : {"constant", "diagonal", "dense"}
    values : ndarray
        ``(p, d)``, ``(d,)`` or ``(n, d)``, or ``(n, p, d)`` respectively.
    """

    def __init__(self, kind, values):
        self.kind = kind
        self.values = np.asarray(values)

    @classmethod
    def from_array(cls, array):
        """A 2-D array is a constant Jacobian, a 3-D one a per-sample one."""
        array = np.asarray(array, dtype=float)
        if array.ndim == 2:
            return cls("constant", array)
        if array.ndim == 3:
            return cls("dense", array)
        raise ValueError(
            f"A Jacobian must be 2-D (n_outputs, n_inputs) or 3-D (n_samples, n_outputs, "
            f"n_inputs), got shape {array.shape}."
        )

    @property
    def shape_out_in(self):
        """``(p, d)``: output and input widths."""
        if self.kind == "diagonal":
            return (self.values.shape[-1],) * 2
        return self.values.shape[-2:]

    def then(self, outer):
        """The composition ``outer @ self`` (``self`` applied first)."""
        a, b = outer, self
        if a.kind == "diagonal" and b.kind == "diagonal":
            return Jacobian("diagonal", a.values * b.values)
        if a.kind == "diagonal":
            # rows of b scaled by a
            scaled = a.values[..., :, None] * (b.values if b.kind == "dense" else b.values)
            kind = "constant" if a.values.ndim == 1 and b.kind == "constant" else "dense"
            return Jacobian(kind, scaled)
        if b.kind == "diagonal":
            scaled = a.values * b.values[..., None, :]
            kind = "constant" if b.values.ndim == 1 and a.kind == "constant" else "dense"
            return Jacobian(kind, scaled)
        kind = "constant" if a.kind == b.kind == "constant" else "dense"
        return Jacobian(kind, a.values @ b.values)

    def toarray(self):
        """``(p, d)`` when the same for every sample, else ``(n, p, d)``."""
        if self.kind == "diagonal":
            if self.values.ndim == 1:
                return np.diag(self.values)
            n, d = self.values.shape
            out = np.zeros((n, d, d), dtype=self.values.dtype)
            out[:, np.arange(d), np.arange(d)] = self.values
            return out
        return self.values

    def apply(self, gradient):
        """Chain a model gradient ``(n, k, p)`` through: ``(n, k, d)``."""
        if self.kind == "diagonal":
            return gradient * self.values[..., None, :]
        return gradient @ self.values

    def is_square(self):
        p, d = self.shape_out_in
        return p == d

    def pull_back(self, gradient):
        """``gradient @ inv(J)`` for ``gradient (n, k, d)``, or None when J is singular."""
        if not self.is_square():
            return None
        if self.kind == "diagonal":
            if np.any(self.values == 0):
                return None
            return gradient / self.values[..., None, :]
        J = self.values
        # G @ inv(J) = solve(J^T, G^T)^T, without forming the inverse
        try:
            if self.kind == "constant":
                if _ill_conditioned(J):
                    return None
                flat = gradient.reshape(-1, J.shape[0])
                # an unknown (NaN) partial makes every partial it mixes into unknown
                return np.linalg.solve(J.T, flat.T).T.reshape(gradient.shape)
            if any(_ill_conditioned(Ji) for Ji in J):
                return None
            return np.swapaxes(np.linalg.solve(np.swapaxes(J, 1, 2),
                                               np.swapaxes(gradient, 1, 2)), 1, 2)
        except np.linalg.LinAlgError:
            return None


def _ill_conditioned(J):
    return np.linalg.cond(J) > 1.0 / np.finfo(float).eps ** 0.5
