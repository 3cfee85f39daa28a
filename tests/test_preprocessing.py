import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from sklearn_gi.preprocessing import transform_jacobian


@pytest.mark.parametrize(
    "transformer",
    [
        PolynomialFeatures(3),
        PolynomialFeatures(2, interaction_only=True, include_bias=False),
        StandardScaler(),
    ],
)
def test_jacobian_matches_finite_differences(rng, transformer):
    X = rng.normal(size=(6, 3))
    X[0, 1] = 0.0  # x ** 0 at x == 0 must still give the right derivative
    transformer.fit(X)
    J = np.broadcast_to(transform_jacobian(transformer, X), (6,) + transformer.transform(X[:1]).shape[1:] + (3,))
    eps = 1e-6
    for m in range(3):
        step = np.zeros(3)
        step[m] = eps
        fd = (transformer.transform(X + step) - transformer.transform(X - step)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, m], fd, atol=1e-6)


def test_constant_jacobian_is_not_expanded(rng):
    X = rng.normal(size=(1000, 3))
    assert transform_jacobian(StandardScaler().fit(X), X).shape == (3, 3)


def test_unknown_transformer_is_a_type_error(rng):
    X = rng.normal(size=(5, 3))
    with pytest.raises(TypeError, match="No Jacobian is known for PCA. Supported: PolynomialFeatures"):
        transform_jacobian(PCA().fit(X), X)


def test_protocol_method_is_used(rng):
    class Doubler:
        def transform_jacobian(self, X):
            return 2 * np.eye(np.shape(X)[1])

    np.testing.assert_array_equal(transform_jacobian(Doubler(), np.ones((2, 2))), 2 * np.eye(2))
