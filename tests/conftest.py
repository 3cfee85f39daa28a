"""Shared fixtures: seeded generators and the reference data in tests/data."""

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mcdonagh_reference():
    """McDonagh and Chen's data and curves (a subset, see tests/data/README.md)."""
    return DATA / "mcdonagh2021"


def augmented_lstsq(Z, Y, G, J, w, alpha, gamma, fit_intercept):
    """Brute-force reference: stack every value and gradient equation and call lstsq.

    This materialises the (n (1 + d), p) system the estimators must avoid; it
    is only for checking them on small data.
    """
    n, p = Z.shape
    k = Y.shape[1]
    d = G.shape[2]
    Jfull = np.broadcast_to(np.eye(p) if J is None else J, (n, p, d))
    coefs, intercepts = [], []
    for j in range(k):
        rows, rhs = [], []
        icol = np.ones((n, 1)) if fit_intercept else np.zeros((n, 0))
        rows.append(np.sqrt(w)[:, None] * np.hstack([Z, icol]))
        rhs.append(np.sqrt(w) * Y[:, j])
        for i in range(n):
            for m in range(d):
                if np.isnan(G[i, j, m]):
                    continue
                s = np.sqrt(gamma * w[i])
                rows.append(s * np.r_[Jfull[i, :, m], np.zeros(icol.shape[1])][None])
                rhs.append(np.atleast_1d(s * G[i, j, m]))
        pen = np.hstack([np.sqrt(alpha) * np.eye(p), np.zeros((p, icol.shape[1]))])
        rows.append(pen)
        rhs.append(np.zeros(p))
        sol = np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]
        coefs.append(sol[:p])
        intercepts.append(sol[p] if fit_intercept else 0.0)
    return np.array(coefs), np.array(intercepts)


@pytest.fixture
def brute_force():
    return augmented_lstsq


@pytest.fixture(scope="session")
def hsic_reference():
    """OpenTURNS 1.27 HSIC results on Ishigami (n = 1000) and the data they were computed on."""
    import json

    path = DATA / "hsic"
    data = np.loadtxt(path / "ishigami_n1000_seed0.csv", delimiter=",", skiprows=1)
    results = json.loads((path / "hsic_reference_results.json").read_text())
    return {"X": data[:, :3], "y": data[:, 3], **results}
