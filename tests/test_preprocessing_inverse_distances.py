"""InverseDistances: values, the sparse Jacobian against finite differences, pipelines, errors."""

import pickle

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.spatial.transform import Rotation
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import StandardScaler

from sklearn_gi.linear_model import GIRidge
from sklearn_gi.pipeline import make_gi_pipeline
from sklearn_gi.preprocessing import InverseDistances, supported_transformers, transform_jacobian
from sklearn_gi.preprocessing._inverse_distances import PairJacobian
from sklearn_gi.preprocessing._jacobians import jacobian_of

N_ATOMS = 5


def _molecules(rng, n_samples, n_atoms=N_ATOMS):
    """Random geometries with no two atoms closer than ~0.5."""
    grid = np.array([[i, j, k] for i in range(3) for j in range(3) for k in range(3)], dtype=float)
    base = 1.2 * grid[rng.choice(len(grid), n_atoms, replace=False)]
    return (base + 0.15 * rng.normal(size=(n_samples, n_atoms, 3))).reshape(n_samples, -1)


def test_values_are_inverse_pair_distances_in_triu_order(rng):
    X = _molecules(rng, 4)
    descriptor = InverseDistances().fit(X)
    Z = descriptor.transform(X)
    expected = np.array([1 / pdist(x.reshape(-1, 3)) for x in X])  # pdist: the same (a < b) order
    np.testing.assert_allclose(Z, expected, rtol=1e-14)
    assert descriptor.n_atoms_ == N_ATOMS and descriptor.pairs_.shape == (10, 2)
    assert descriptor.get_feature_names_out()[4] == "inverse_distance_1_2"


def test_invariant_to_rotations_and_translations(rng):
    X = _molecules(rng, 3)
    rotation = Rotation.random(random_state=0).as_matrix()
    moved = (X.reshape(3, -1, 3) @ rotation.T + np.array([1.0, -2.0, 0.5])).reshape(3, -1)
    descriptor = InverseDistances().fit(X)
    np.testing.assert_allclose(descriptor.transform(moved), descriptor.transform(X), rtol=1e-12)


def test_pair_permutations_follow_relabelled_atoms(rng):
    X = _molecules(rng, 3)
    descriptor = InverseDistances().fit(X)
    atom_permutations = np.array([[0, 1, 2, 3, 4], [2, 0, 1, 4, 3], [4, 3, 2, 1, 0]])
    pair_permutations = descriptor.pair_permutations(atom_permutations)
    assert pair_permutations.shape == (3, 10)
    for atoms, pairs in zip(atom_permutations, pair_permutations):
        relabelled = X.reshape(3, -1, 3)[:, atoms].reshape(3, -1)
        np.testing.assert_allclose(descriptor.transform(relabelled), descriptor.transform(X)[:, pairs])
    with pytest.raises(ValueError, match="permutations of range\\(5\\)"):
        descriptor.pair_permutations([[0, 1, 2, 3, 3]])


def test_jacobian_matches_finite_differences(rng):
    X = _molecules(rng, 3)
    descriptor = InverseDistances().fit(X)
    J = descriptor.transform_jacobian(X)
    assert J.shape == (3, 10, 3 * N_ATOMS)
    eps = 1e-6
    fd = np.stack([(descriptor.transform(X + eps * e) - descriptor.transform(X - eps * e)) / (2 * eps)
                   for e in np.eye(X.shape[1])], axis=-1)
    np.testing.assert_allclose(J, fd, atol=1e-8 * np.abs(fd).max())
    # each inverse distance moves with the 6 coordinates of its own two atoms only
    assert np.all(np.count_nonzero(J, axis=2) == 6)
    np.testing.assert_array_equal(transform_jacobian(descriptor, X), J)


def test_lazy_jacobian_applies_and_composes_like_the_dense_one(rng):
    X = _molecules(rng, 7)
    descriptor = InverseDistances().fit(X)
    J = jacobian_of(descriptor, X)
    assert isinstance(J, PairJacobian) and J.is_lazy
    dense = J.toarray()
    gradient = rng.normal(size=(7, 2, 10))
    np.testing.assert_allclose(J.apply(gradient), gradient @ dense, rtol=1e-12, atol=1e-14)
    # a following scaler keeps the pair form, scaled per feature
    scaler = StandardScaler().fit(descriptor.transform(X))
    composed = J.then(jacobian_of(scaler, descriptor.transform(X)))
    assert isinstance(composed, PairJacobian)
    np.testing.assert_allclose(composed.toarray(), dense / scaler.scale_[:, None], rtol=1e-12)
    assert "InverseDistances" in supported_transformers()


def _pair_potential(X):
    """Energy sum_ab c_ab / r_ab (linear in the descriptor) and its gradient."""
    descriptor = InverseDistances().fit(X)
    weights = np.linspace(1.0, 2.0, descriptor.pairs_.shape[0])
    energy = descriptor.transform(X) @ weights
    gradient = np.einsum("j,njd->nd", weights, descriptor.transform_jacobian(X))
    return energy, gradient


def test_pipeline_learns_forces_through_the_descriptor(rng):
    X, X_test = _molecules(rng, 40), _molecules(rng, 10)
    energy, gradient = _pair_potential(X)
    model = make_gi_pipeline(InverseDistances(), StandardScaler(), GIRidge(alpha=1e-10))
    model.fit(X, energy, dYdX=gradient)
    assert model.gradient_mode_ == "jacobian"  # 10 pairs, 15 coordinates: not invertible
    energy_test, gradient_test = _pair_potential(X_test)
    np.testing.assert_allclose(model.predict(X_test), energy_test, rtol=1e-8)
    np.testing.assert_allclose(model.predict_gradient(X_test), gradient_test, rtol=1e-7, atol=1e-8)


def test_n_atoms_given_and_estimator_api(rng):
    X = _molecules(rng, 2)
    descriptor = InverseDistances(n_atoms=N_ATOMS)
    assert clone(descriptor).get_params() == {"n_atoms": N_ATOMS}
    fitted = pickle.loads(pickle.dumps(descriptor.fit(X)))
    np.testing.assert_array_equal(fitted.transform(X), descriptor.transform(X))


@pytest.mark.parametrize(
    "X, params, message",
    [
        (np.ones((2, 7)), {}, "multiple of 3"),
        (np.ones((2, 3)), {}, "multiple of 3"),
        (np.ones((2, 9)), {"n_atoms": 4}, "3 \\* n_atoms = 12"),
        (np.full((2, 6), np.nan), {}, "NaN"),
    ],
)
def test_bad_coordinates_are_refused_at_fit(X, params, message):
    with pytest.raises(ValueError, match=message):
        InverseDistances(**params).fit(X)


def test_bad_inputs_at_transform(rng):
    X = _molecules(rng, 2)
    with pytest.raises(NotFittedError):
        InverseDistances().transform(X)
    descriptor = InverseDistances().fit(X)
    with pytest.raises(ValueError, match="features"):
        descriptor.transform(X[:, :-3])
    collided = X.copy()
    collided[1, 3:6] = collided[1, :3]
    with pytest.raises(ValueError, match="row 1: atoms 0 and 1 coincide"):
        descriptor.transform(collided)
    with pytest.raises(ValueError, match="n_atoms"):
        InverseDistances(n_atoms=1).fit(X)
