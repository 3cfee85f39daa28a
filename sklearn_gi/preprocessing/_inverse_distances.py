"""Inverse interatomic distances: a rotation- and translation-invariant descriptor with its Jacobian."""

from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ._jacobian_types import _LazyBase

__all__ = ["InverseDistances"]


class InverseDistances(TransformerMixin, BaseEstimator):
    """Inverse interatomic distances ``1 / |r_a - r_b|`` of every pair of atoms ``a < b``.

    The descriptor of (s)GDML and of many kernel force fields: invariant to
    translations and rotations of the molecule, smooth, and largest for the
    closest (most strongly interacting) pairs. Inputs are flattened Cartesian
    coordinates ``[x_0, y_0, z_0, x_1, ...]``, so that the forces of a
    molecule, ``dYdX = -forces.reshape(n, -1)``, are gradients with respect to
    ``X`` and flow through a :class:`~sklearn_gi.pipeline.GIPipeline`.

    Each inverse distance depends on the 6 coordinates of its two atoms only:
    the Jacobian is kept in that sparse form (``O(n p)`` numbers for ``p``
    pairs instead of ``O(n p d)`` dense), and the pipeline's
    ``predict_gradient`` chains gradients through it in ``O(n p)`` operations.

    Parameters
    ----------
    n_atoms : int or None, default=None
        Number of atoms; None infers it as ``n_features // 3``.

    Attributes
    ----------
    n_atoms_ : int
        Number of atoms.
    pairs_ : ndarray of shape (n_pairs, 2)
        Atom indices ``(a, b)``, ``a < b``, of each output column, in the order of
        ``numpy.triu_indices(n_atoms_, 1)``.
    n_features_in_ : int
        ``3 * n_atoms_``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the input columns, when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_gi.preprocessing import InverseDistances
    >>> water = np.array([[0.0, 0.0, 0.0, 0.96, 0.0, 0.0, -0.24, 0.93, 0.0]])
    >>> descriptor = InverseDistances().fit(water)
    >>> descriptor.get_feature_names_out().tolist()
    ['inverse_distance_0_1', 'inverse_distance_0_2', 'inverse_distance_1_2']
    >>> descriptor.transform(water).round(3)
    array([[1.042, 1.041, 0.659]])
    >>> descriptor.transform_jacobian(water).shape
    (1, 3, 9)
    """

    _parameter_constraints: dict = {
        "n_atoms": [Interval(Integral, 2, None, closed="left"), None],
    }

    def __init__(self, n_atoms=None):
        self.n_atoms = n_atoms

    def fit(self, X, y=None):
        """Check the coordinates' layout and record the atom pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, 3 * n_atoms)
            Flattened Cartesian coordinates.
        y : None
            Ignored.

        Returns
        -------
        self : InverseDistances
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n_features = X.shape[1]
        n_atoms = self.n_atoms if self.n_atoms is not None else n_features // 3
        if n_features != 3 * n_atoms or n_atoms < 2:
            expected = (f"3 * n_atoms = {3 * self.n_atoms}" if self.n_atoms is not None
                        else "a multiple of 3, at least 6")
            raise ValueError(
                f"X must hold flattened 3-D coordinates, shape (n_samples, {expected}); got "
                f"{n_features} columns."
            )
        self.n_atoms_ = n_atoms
        first, second = np.triu_indices(n_atoms, 1)
        self.pairs_ = np.column_stack([first, second])
        return self

    def _differences(self, X):
        """Validated coordinates' pair differences ``(n, p, 3)`` and distances ``(n, p)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        positions = X.reshape(X.shape[0], self.n_atoms_, 3)
        differences = positions[:, self.pairs_[:, 0]] - positions[:, self.pairs_[:, 1]]
        distances = np.sqrt(np.einsum("npc,npc->np", differences, differences))
        if np.any(distances == 0):
            sample, pair = np.argwhere(distances == 0)[0]
            a, b = self.pairs_[pair]
            raise ValueError(
                f"X row {sample}: atoms {a} and {b} coincide; their inverse distance is infinite."
            )
        return differences, distances

    def transform(self, X):
        """Inverse distances of every pair of atoms.

        Parameters
        ----------
        X : array-like of shape (n_samples, 3 * n_atoms)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_atoms * (n_atoms - 1) // 2)
        """
        _, distances = self._differences(X)
        return 1.0 / distances

    def _gi_jacobian(self, X):
        """The Jacobian in its sparse, lazy form (what :class:`GIPipeline` uses)."""
        differences, distances = self._differences(X)
        # d(1/r)/dr_a = -(r_a - r_b) / r^3, d(1/r)/dr_b = +(r_a - r_b) / r^3
        return PairJacobian(-differences / distances[..., None] ** 3, self.pairs_, self.n_atoms_)

    def transform_jacobian(self, X):
        """Dense Jacobian ``dZ/dX`` at ``X`` (materialised: ``n * p * 3 n_atoms`` numbers).

        Parameters
        ----------
        X : array-like of shape (n_samples, 3 * n_atoms)

        Returns
        -------
        jacobian : ndarray of shape (n_samples, n_pairs, 3 * n_atoms)
        """
        return self._gi_jacobian(X).toarray()

    def pair_permutations(self, atom_permutations):
        """The permutations of the output columns that permutations of the atoms induce.

        Relabelling the atoms by ``perm`` (atom ``i`` of the new geometry is atom
        ``perm[i]`` of the old one) permutes the inverse distances:
        ``transform(X_relabelled) == transform(X)[:, q]``. With like atoms,
        these ``q`` are what
        :class:`~sklearn_gi.kernels.PermutationInvariantKernel` needs to make a
        model on this descriptor invariant to their exchange, as sGDML does.

        Parameters
        ----------
        atom_permutations : array-like of int of shape (n_permutations, n_atoms)

        Returns
        -------
        pair_permutations : ndarray of shape (n_permutations, n_pairs)
        """
        check_is_fitted(self)
        perms = np.asarray(atom_permutations)
        if perms.ndim != 2 or perms.shape[1] != self.n_atoms_ or np.any(
                np.sort(perms, axis=1) != np.arange(self.n_atoms_)):
            raise ValueError(
                f"atom_permutations must be permutations of range({self.n_atoms_}), shape "
                f"(n_permutations, {self.n_atoms_}); got shape {perms.shape}."
            )
        index = np.zeros((self.n_atoms_, self.n_atoms_), dtype=np.intp)
        index[self.pairs_[:, 0], self.pairs_[:, 1]] = np.arange(len(self.pairs_))
        first, second = perms[:, self.pairs_[:, 0]], perms[:, self.pairs_[:, 1]]
        return index[np.minimum(first, second), np.maximum(first, second)]

    def get_feature_names_out(self, input_features=None):
        """Names ``inverse_distance_a_b`` of the output columns.

        Parameters
        ----------
        input_features : None
            Ignored (the names follow the atom indices).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return np.array([f"inverse_distance_{a}_{b}" for a, b in self.pairs_], dtype=object)


class PairJacobian(_LazyBase):
    """Jacobian of features that each depend on the positions of one pair of atoms.

    Feature ``j`` of sample ``i`` depends on atoms ``a = pairs[j, 0]`` and
    ``b = pairs[j, 1]`` only, through ``dz/dr_a = v[i, j]`` and
    ``dz/dr_b = -v[i, j]`` (a function of ``r_a - r_b``, as every distance
    feature). Stored as ``v`` (``n x p x 3``), optionally scaled per feature
    (a following scaler); dense rows are built only on demand.

    Parameters
    ----------
    vectors : ndarray of shape (n_samples, n_pairs, 3)
        ``dz_j / dr_a`` for each sample and pair.
    pairs : ndarray of shape (n_pairs, 2)
        Atom indices of each feature.
    n_atoms : int
    """

    kind = "pair"

    def __init__(self, vectors, pairs, n_atoms):
        self.vectors = vectors
        self.pairs = pairs
        self.n_atoms = int(n_atoms)
        p = pairs.shape[0]
        # (n_atoms, p) incidence: +1 at the first atom of a pair, -1 at the second
        features = np.arange(p)
        self._incidence = sparse.csr_matrix(
            (np.r_[np.ones(p), -np.ones(p)], (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[features, features])),
            shape=(self.n_atoms, p),
        )

    @property
    def n_samples(self):
        return self.vectors.shape[0]

    @property
    def shape_out_in(self):
        return (self.pairs.shape[0], 3 * self.n_atoms)

    def rows(self, start, stop):
        v = self.vectors[start:stop]
        m, p = v.shape[:2]
        out = np.zeros((m, p, self.n_atoms, 3), dtype=v.dtype)
        features = np.arange(p)
        out[:, features, self.pairs[:, 0]] = v
        out[:, features, self.pairs[:, 1]] = -v
        return out.reshape(m, p, 3 * self.n_atoms)

    def _apply_rows(self, gradient, start, stop):
        # sum_j g_j dz_j/dr_a = sum_j incidence[a, j] g_j v_j: one sparse product, O(m k p)
        v = self.vectors[start:stop]
        m, k, p = gradient.shape
        weighted = gradient[..., None] * v[:, None]  # (m, k, p, 3)
        by_pair = weighted.transpose(2, 0, 1, 3).reshape(p, m * k * 3)
        by_atom = self._incidence @ by_pair  # (n_atoms, m k 3)
        return by_atom.reshape(self.n_atoms, m, k, 3).transpose(1, 2, 0, 3).reshape(
            m, k, 3 * self.n_atoms)

    def then(self, outer):
        """``outer @ self``; a per-feature scale (a fitted scaler) keeps the pair form."""
        if not outer.is_lazy and outer.kind == "diagonal":
            scale = outer.values[..., None]  # (p, 1) shared or (n, p, 1) per sample
            return PairJacobian(self.vectors * scale, self.pairs, self.n_atoms)
        return super().then(outer)
