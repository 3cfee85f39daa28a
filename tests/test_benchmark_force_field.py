"""The committed force-field data, the benchmark's loader and split, and a small cell (no chemistry)."""

import numpy as np
import pytest

from benchmarks import force_field


@pytest.mark.parametrize("name, n_atoms", [("ethanol", 9), ("aspirin", 21)])
def test_data_are_physical(name, n_atoms):
    data = force_field.load_molecule(name)
    assert data["z"].shape == (n_atoms,)
    for part in ("train", "test"):
        R, E, F = (data[f"{key}_{part}"] for key in "REF")
        assert R.shape == F.shape == (len(E), n_atoms, 3) and E.dtype == np.float64
        # an isolated molecule: no net force and no net torque (energies invariant to rigid motions)
        F = F.astype(float)
        assert np.abs(F.sum(axis=1)).max() < 1e-3
        torque = np.cross(R - R.mean(axis=1, keepdims=True), F).sum(axis=1)
        assert np.abs(torque).max() < 1e-2  # SCC convergence noise is ~2e-3
        assert 5 < np.abs(F).mean() < 50  # kcal/mol/A at 500 K
    assert "kcal/mol" in str(data["units"])


def test_split_is_disjoint_and_seeded():
    data = force_field.load_molecule("ethanol")
    train, valid = force_field.split(data, 200, 200)
    assert len(np.intersect1d(train, valid)) == 0 and len(train) == len(valid) == 200
    np.testing.assert_array_equal(force_field.split(data, 200, 200)[0], train)
    X, y, dYdX = force_field.arrays(data, "train", train[:3])
    np.testing.assert_array_equal(dYdX, -data["F_train"][train[:3]].reshape(3, -1).astype(float))
    assert X.shape == (3, 27) and y.shape == (3,)
    with pytest.raises(ValueError, match="no validation geometries"):
        force_field.split(data, 1500, 10)


def test_augmentation_permutes_atoms_and_forces():
    data = force_field.load_molecule("ethanol")
    X, y, G = force_field.arrays(data, "train", np.arange(4))
    swap = np.arange(9)
    swap[[3, 4]] = [4, 3]
    X_all, y_all, G_all = force_field._augment(X, y, G, np.array([np.arange(9), swap]))
    assert X_all.shape == (8, 27)
    np.testing.assert_array_equal(X_all[:4], X)
    np.testing.assert_array_equal(X_all[4:].reshape(4, 9, 3)[:, 3], X.reshape(4, 9, 3)[:, 4])
    np.testing.assert_array_equal(G_all[4:].reshape(4, 9, 3)[:, 4], G.reshape(4, 9, 3)[:, 3])
    np.testing.assert_array_equal(y_all, np.tile(y, 2))


def test_kernel_ridge_cell_learns_forces(monkeypatch):
    monkeypatch.setattr(force_field, "_sigma_grid", [30])
    row = force_field.run_cell("ethanol", "gikrr_sgdml_kernel", 30, n_valid=20, n_test=50, max_gb=1)
    # 30 geometries: far from converged, but well below the forces' own mean magnitude (~17)
    assert row["status"] == "ok" and row["force_mae"] < 4.0 and row["energy_mae"] < 1.5
