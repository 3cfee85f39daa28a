"""HSICSearchCV: rounds, budget, the narrowing rule, dYdX routing."""

import numpy as np
import pytest
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_friedman1
from sklearn.neighbors import KNeighborsRegressor

from sklearn_gi.inspection import hsic_importance
from sklearn_gi.inspection._importance import _group_permutations
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


def _keys(search):
    return [tuple(sorted((k, repr(v)) for k, v in p.items())) for p in search.cv_results_["params"]]


def test_budget_rounds_and_history(data):
    X, y = data
    search = HSICSearchCV(DummyKNN(), SPACE, n_iter=50, n_rounds=3, cv=3,
                          n_permutations=200, random_state=0).fit(X, y)
    rounds = search.cv_results_["round"]
    # the budget is spent exactly: as many candidates (and fits) as RandomizedSearchCV(n_iter=50)
    assert len(search.cv_results_["params"]) == len(rounds) == 50
    assert np.bincount(rounds).tolist() == [17, 17, 16]  # the remainder first
    assert len(set(_keys(search))) == 50  # no configuration twice
    assert len(search.hsic_history_) == 3 == len(search.distributions_) - 1
    first = search.hsic_history_[0].set_index("param")
    assert first.type.to_dict() == {"n_neighbors": "integer", "weights": "categorical",
                                    "dummy": "log", "flag": "categorical"}
    assert first.kernel["weights"] == "dirac"
    # one decision with p > alpha is not enough to fix (n_confirm=2): the dummy stays free
    assert first.pvalue["dummy"] > 0.05 and first.decision["dummy"] == "kept"
    assert search.distributions_[1]["dummy"] is SPACE["dummy"]
    assert first.decision["n_neighbors"] == "narrowed"
    narrowed = search.distributions_[1]["n_neighbors"]
    assert narrowed.dist.name == "randint" and narrowed.support()[1] < 39
    # the refit picks the best candidate over every round
    assert search.best_index_ == np.nanargmax(search.cv_results_["mean_test_score"])
    # every candidate of round 1 was drawn from its round's space
    later = [p for p, r in zip(search.cv_results_["params"], rounds) if r == 1]
    lo, hi = narrowed.support()
    assert all(lo <= p["n_neighbors"] <= hi for p in later)


def test_the_decisions_use_every_candidate_so_far(data):
    X, y = data
    search = HSICSearchCV(DummyKNN(), SPACE, n_iter=40, n_rounds=2, cv=3, n_permutations=50,
                          random_state=0).fit(X, y)
    rounds = search.cv_results_["round"]
    for r, table in enumerate(search.hsic_history_):
        rows = rounds <= r
        n = int(rows.sum())
        assert n == 20 * (r + 1)
        error = -search.cv_results_["mean_test_score"][rows]  # the pooled goal set (with ties)
        assert (table.n_goal == np.sum(error <= np.quantile(error, 0.2, method="lower"))).all()
        assert (table.n_goal >= int(np.floor(0.2 * (n - 1))) + 1).all()
        pooled = {key: search.cv_results_[key][rows]
                  for key in search.cv_results_ if key.startswith("param_")}
        pooled["mean_test_score"] = search.cv_results_["mean_test_score"][rows]
        expected = hsic_importance(pooled, quantile=0.2, types={"dummy": "log"},
                                   discrete_kernel="dirac", pvalue=None)
        expected = expected.set_index("param").hsic[table.param]
        np.testing.assert_allclose(table.hsic, expected, rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_a_dummy_hyperparameter_is_fixed_and_an_influential_one_stays_free(data, seed):
    X, y = data
    search = HSICSearchCV(DummyKNN(), SPACE, n_iter=45, n_rounds=3, cv=3, n_permutations=300,
                          random_state=seed).fit(X, y)
    first = search.hsic_history_[0].set_index("param")
    assert first.pvalue["dummy"] > 0.05 and first.pvalue["flag"] > 0.05
    assert set(search.fixed_params_) >= {"dummy", "flag"}
    assert "n_neighbors" not in search.fixed_params_
    decisions = [t.set_index("param").decision["n_neighbors"] for t in search.hsic_history_]
    assert "narrowed" in decisions and "fixed" not in decisions
    # the last round used the fixed values
    last = [p for p, r in zip(search.cv_results_["params"], search.cv_results_["round"]) if r == 2]
    assert all(p["dummy"] == search.fixed_params_["dummy"] for p in last)
    assert all(p["flag"] == search.fixed_params_["flag"] for p in last)


def test_a_small_narrowed_grid_is_filled_from_the_un_narrowed_space(data):
    X, y = data
    space = {"n_neighbors": list(range(1, 40)), "weights": ["uniform", "distance"]}
    search = HSICSearchCV(DummyKNN(), space, n_iter=60, n_rounds=2, cv=3, n_permutations=100,
                          widen=0.0, random_state=0).fit(X, y)
    narrowed = search.distributions_[1]["n_neighbors"]
    grid = len(narrowed) * len(search.distributions_[1]["weights"])
    assert grid < 30
    rounds = search.cv_results_["round"]
    assert np.bincount(rounds).tolist() == [30, 30]
    assert len(set(_keys(search))) == 60
    later = [p["n_neighbors"] for p, r in zip(search.cv_results_["params"], rounds) if r == 1]
    inside = [v in narrowed for v in later]
    assert 0 < sum(inside) <= grid and not all(inside)
    # a grid smaller than n_iter: every point once, as RandomizedSearchCV
    tiny = HSICSearchCV(DummyKNN(), {"n_neighbors": [1, 2, 3], "flag": [True, False]}, n_iter=10,
                        n_rounds=2, cv=3, n_permutations=20, random_state=0).fit(X, y)
    assert len(tiny.cv_results_["params"]) == 6 == len(set(_keys(tiny)))


def test_fixing_needs_n_confirm_consecutive_decisions(data):
    X, y = data
    once = HSICSearchCV(DummyKNN(), SPACE, n_iter=45, n_rounds=3, cv=3, n_permutations=200,
                        n_confirm=1, random_state=0).fit(X, y)
    first = once.hsic_history_[0].set_index("param")
    assert first.decision["dummy"] == "fixed" and "dummy" in once.fixed_params_
    never = HSICSearchCV(DummyKNN(), SPACE, n_iter=45, n_rounds=3, cv=3, n_permutations=200,
                         n_confirm=3, random_state=0).fit(X, y)
    assert never.fixed_params_ == {}  # 3 decisions, the last one only reported


def test_grouped_permutations_test_independence_given_the_group():
    # x is narrowed in group 1, which scores better whatever x: x and the goal are dependent,
    # but independent given the group
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1], 60)
    x = np.concatenate([rng.uniform(0, 1, 60), rng.uniform(0, 0.2, 60)])
    score = 2.0 * groups + 0.5 * rng.normal(size=120)
    results = {"param_x": x, "mean_test_score": score}
    kw = dict(quantile=0.2, types={"x": "continuous"}, n_permutations=300, random_state=0)
    plain = hsic_importance(results, **kw)
    grouped = hsic_importance(results, groups=groups, **kw)
    assert plain.pvalue[0] < 0.01 < 0.05 < grouped.pvalue[0]
    np.testing.assert_allclose(plain.hsic, grouped.hsic)  # the same statistic, another null
    # a real effect inside the groups is still found
    score2 = 2.0 * groups + (x < 0.1) * 2.0 + 0.3 * rng.normal(size=120)
    found = hsic_importance({"param_x": x, "mean_test_score": score2}, groups=groups, **kw)
    assert found.pvalue[0] < 0.01
    perms = _group_permutations(np.random.RandomState(0), groups, 5)
    assert all((groups[p] == groups).all() and sorted(p) == list(range(120)) for p in perms)
    with pytest.raises(ValueError, match="groups must have shape"):
        hsic_importance(results, groups=groups[:10])
    with pytest.raises(ValueError, match="groups needs pvalue='permutation'"):
        hsic_importance(results, groups=groups, pvalue="asymptotic")


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
    # every fold of every candidate of both rounds, and the refit
    assert len(search.cv_results_["params"]) == 12
    assert len(seen) == 3 * 12 + 1
    assert all(g is not None for g in seen) and seen[0].shape == (26, 3)
    assert np.bincount(search.cv_results_["round"]).tolist() == [6, 6]


def test_bad_arguments(data):
    X, y = data
    with pytest.raises(ValueError, match="single scoring metric"):
        HSICSearchCV(DummyKNN(), SPACE, scoring=["r2", "neg_mean_squared_error"]).fit(X, y)
    with pytest.raises(ValueError, match="param_distributions"):
        HSICSearchCV(DummyKNN(), [SPACE]).fit(X, y)
    with pytest.raises(ValueError, match="n_rounds"):
        HSICSearchCV(DummyKNN(), SPACE, n_rounds=0).fit(X, y)
