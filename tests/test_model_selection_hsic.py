"""HSICSearchCV: rounds, budget, the narrowing rule, dYdX routing."""

import numpy as np
import pytest
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_friedman1
from sklearn.neighbors import KNeighborsRegressor

from sklearn_gi.linear_model import GIRidge
from sklearn_gi.model_selection import HSICSearchCV


class DummyKNN(RegressorMixin, BaseEstimator):
    """KNN with a hyperparameter that changes nothing: the perfect dummy."""

    def __init__(self, n_neighbors=5, weights="uniform", dummy=0.0, flag=False):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.dummy = dummy
        self.flag = flag

    def fit(self, X, y):
        self.model_ = KNeighborsRegressor(n_neighbors=self.n_neighbors,
                                          weights=self.weights).fit(X, y)
        return self

    def predict(self, X):
        return self.model_.predict(X)


@pytest.fixture(scope="module")
def data():
    return make_friedman1(n_samples=120, random_state=0)


SPACE = {"n_neighbors": randint(1, 40), "weights": ["uniform", "distance"],
         "dummy": loguniform(1e-3, 1e3), "flag": [True, False]}


def test_budget_rounds_and_history(data):
    X, y = data
    search = HSICSearchCV(DummyKNN(), SPACE, n_iter=50, n_rounds=3, cv=3,
                          n_permutations=200, random_state=0).fit(X, y)
    rounds = search.cv_results_["round"]
    assert len(search.cv_results_["params"]) == len(rounds) <= 50
    assert np.bincount(rounds)[0] == 17  # 50 = 17 + 17 + 16, the remainder first
    assert len(search.hsic_history_) == len(set(rounds)) == len(search.distributions_) - 1
    first = search.hsic_history_[0].set_index("param")
    assert first.type.to_dict() == {"n_neighbors": "integer", "weights": "categorical",
                                    "dummy": "log", "flag": "categorical"}
    assert first.kernel["weights"] == "dirac"
    assert first.decision["dummy"] == "fixed" and "dummy" in search.fixed_params_
    assert first.decision["n_neighbors"] == "narrowed"
    narrowed = search.distributions_[1]["n_neighbors"]
    assert narrowed.dist.name == "randint" and narrowed.support()[1] < 39
    assert search.best_score_ == np.nanmax(search.cv_results_["mean_test_score"])
    # every later candidate was drawn from its round's space
    fixed = search.distributions_[1]["dummy"]
    later = [p for p, r in zip(search.cv_results_["params"], rounds) if r == 1]
    assert all(p["dummy"] == fixed[0] for p in later)


@pytest.mark.parametrize("seed", range(5))
def test_a_dummy_hyperparameter_is_found_non_influential(data, seed):
    X, y = data
    search = HSICSearchCV(DummyKNN(), SPACE, n_iter=40, n_rounds=2, cv=3, n_permutations=300,
                          random_state=seed).fit(X, y)
    table = search.hsic_history_[0].set_index("param")
    assert table.pvalue["dummy"] > 0.05 and table.pvalue["flag"] > 0.05
    assert set(search.fixed_params_) >= {"dummy", "flag"}


def test_cheapest_value_rule():
    search = HSICSearchCV(DummyKNN(), SPACE)
    # size-like names: the smallest (tuples by their sum); others: the most frequent
    assert search._cheapest("n_neighbors", [12, 3, 7]) == 3
    assert search._cheapest("mlp__hidden_layer_sizes", [(8, 8), (30,), (4, 4, 4)]) == (4, 4, 4)
    assert search._cheapest("max_iter", [200, 50]) == 50
    assert search._cheapest("alpha", [0.1, 0.3, 0.3, 0.1]) == 0.1  # tie: the best-ranked
    assert search._cheapest("activation", ["relu", "tanh", "tanh"]) == "tanh"
    costly = HSICSearchCV(DummyKNN(), SPACE,
                          cost=lambda name, v: {"relu": 1, "tanh": 2}.get(v) if name == "act" else None)
    assert costly._cheapest("act", ["tanh", "relu", "tanh"]) == "relu"
    assert costly._cheapest("n_neighbors", [12, 3]) == 3  # None: the default rule


def test_narrowing_rule():
    search = HSICSearchCV(DummyKNN(), SPACE, widen=0.1)
    log = search._narrowed(loguniform(1e-4, 1e2), [1e-2, 1e0])
    assert log.dist.name == "loguniform"
    np.testing.assert_allclose(np.log10(log.support()), [-2.2, 0.2])
    clipped = search._narrowed(loguniform(1e-4, 1e2), [1e-4, 1e2])
    np.testing.assert_allclose(clipped.support(), [1e-4, 1e2])
    lin = search._narrowed(uniform(0, 10), [2.0, 4.0, 3.0])
    np.testing.assert_allclose(lin.support(), [1.8, 4.2])
    assert search._narrowed(uniform(0, 10), [2.0, 2.0]) == [2.0]
    ints = search._narrowed(randint(1, 100), [10, 30])
    assert ints.support() == (8, 32)
    assert search._narrowed(["a", "b", "c"], ["c", "a"]) == ["a", "c"]
    assert search._narrowed([(8,), (16,), (8, 8)], [(8, 8)]) == [(8, 8)]
    assert search._narrowed([1, 2, 4, 8, 16, 32, 64, 128, 256], [8, 32]) == [8, 16, 32]
    assert search._narrowed([True, False], [np.True_]) == [True]


def test_gradients_reach_the_estimator_in_every_round():
    seen = []

    class RecordingGIRidge(GIRidge):
        def fit(self, X, y, dYdX=None, *, dZdX=None, sample_weight=None):
            seen.append(None if dYdX is None else np.array(dYdX))
            return super().fit(X, y, dYdX, dZdX=dZdX, sample_weight=sample_weight)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y, G = X @ [1.0, 2.0, 3.0], np.tile([1.0, 2.0, 3.0], (40, 1))
    search = HSICSearchCV(RecordingGIRidge(), {"alpha": loguniform(1e-6, 1e2)}, n_iter=12,
                          n_rounds=2, cv=3, random_state=0).fit(X, y, dYdX=G)
    # every fold of every candidate, and the refit (alpha is fixed after round 0: the data are
    # exact, so round 1 has a single configuration)
    assert len(seen) == 3 * len(search.cv_results_["params"]) + 1
    assert all(g is not None for g in seen) and seen[0].shape == (26, 3)
    assert sorted(set(search.cv_results_["round"])) == [0, 1]


def test_bad_arguments(data):
    X, y = data
    with pytest.raises(ValueError, match="single scoring metric"):
        HSICSearchCV(DummyKNN(), SPACE, scoring=["r2", "neg_mean_squared_error"]).fit(X, y)
    with pytest.raises(ValueError, match="param_distributions"):
        HSICSearchCV(DummyKNN(), [SPACE]).fit(X, y)
    with pytest.raises(ValueError, match="n_rounds"):
        HSICSearchCV(DummyKNN(), SPACE, n_rounds=0).fit(X, y)
