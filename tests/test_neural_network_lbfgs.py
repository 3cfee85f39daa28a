"""FlatLBFGS: torch's L-BFGS with flat parameters and a compact two-loop recursion."""

import copy
import pickle

import numpy as np
import pytest
import torch

from sklearn_gi.datasets import make_problem
from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.neural_network._lbfgs import FlatLBFGS


def _two_loop(g, dirs, stps, gamma):
    """torch.optim.LBFGS's recursion, verbatim."""
    ro = [1.0 / y.dot(s) for y, s in zip(dirs, stps)]
    al = [None] * len(dirs)
    q = g.neg()
    for i in range(len(dirs) - 1, -1, -1):
        al[i] = stps[i].dot(q) * ro[i]
        q.add_(dirs[i], alpha=-al[i])
    r = q * gamma
    for i in range(len(dirs)):
        be = dirs[i].dot(r) * ro[i]
        r.add_(stps[i], alpha=al[i] - be)
    return r


def test_compact_direction_equals_the_two_loop_recursion_through_the_ring():
    gen = torch.Generator().manual_seed(0)
    n, m = 60, 5
    A = torch.randn(n, n, generator=gen, dtype=torch.float64)
    H = A @ A.T + n * torch.eye(n, dtype=torch.float64)
    opt = FlatLBFGS([torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))], history_size=m)
    opt.zero_grad()  # flattens the parameters, as a step does first
    state = opt._memory({}, m)
    dirs, stps = [], []
    for _ in range(2 * m + 3):  # the memory fills, then wraps around twice
        s = torch.randn(n, generator=gen, dtype=torch.float64)
        y = H @ s
        opt._store(state, s, y, m)
        dirs, stps = (dirs + [y])[-m:], (stps + [s])[-m:]
        g = torch.randn(n, generator=gen, dtype=torch.float64)
        gamma = float(s.dot(y) / y.dot(y))
        expected = _two_loop(g, dirs, stps, gamma)
        got = opt._direction(state, g, gamma, m)
        assert float((got - expected).norm() / expected.norm()) < 1e-12


def _rosenbrock(w):
    return ((1 - w[:-1]) ** 2).sum() + 100 * ((w[1:] - w[:-1] ** 2) ** 2).sum()


def _minimise(optimizer_class, steps, line_search_fn="strong_wolfe", **kwargs):
    w = torch.nn.Parameter(torch.full((6,), -1.0, dtype=torch.float64))
    opt = optimizer_class([w], line_search_fn=line_search_fn, max_iter=10, tolerance_grad=1e-12,
                          tolerance_change=1e-15, **kwargs)

    def closure():
        opt.zero_grad()
        loss = _rosenbrock(w)
        loss.backward()
        return loss

    path = []
    for _ in range(steps):
        opt.step(closure)
        path.append(w.detach().clone())
    return torch.stack(path), opt


def test_same_iterates_as_torch_lbfgs():
    """The same algorithm: the iterates agree to rounding, and both reach the minimum."""
    ours, opt = _minimise(FlatLBFGS, 20, history_size=4)
    theirs, ref = _minimise(torch.optim.LBFGS, 20, history_size=4)
    np.testing.assert_allclose(ours[:3].numpy(), theirs[:3].numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours[-1].numpy(), np.ones(6), atol=1e-6)
    np.testing.assert_allclose(theirs[-1].numpy(), np.ones(6), atol=1e-6)
    state = opt.state[opt._params[0]]
    assert state["n_iter"] == ref.state[ref._params[0]]["n_iter"]


def test_same_iterates_as_torch_lbfgs_without_line_search():
    with _no_warnings():
        ours, opt = _minimise(FlatLBFGS, 3, line_search_fn=None, lr=0.01, history_size=4)
    theirs, ref = _minimise(torch.optim.LBFGS, 3, line_search_fn=None, lr=0.01, history_size=4)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-9, atol=1e-12)
    assert opt.state[opt._params[0]]["func_evals"] == ref.state[ref._params[0]]["func_evals"]


class _no_warnings:
    """No warning at all inside the block (torch's LBFGS gives none here)."""

    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_state_dict_round_trip_continues_the_same_path():
    """A loaded state (torch casts its tensors, the slot index too) steps as the original."""
    def run(opt, w):
        def closure():
            opt.zero_grad()
            loss = _rosenbrock(w)
            loss.backward()
            return loss
        opt.step(closure)

    w = torch.nn.Parameter(torch.full((6,), -1.0, dtype=torch.float64))
    opt = FlatLBFGS([w], line_search_fn="strong_wolfe", max_iter=5, history_size=3)
    run(opt, w)
    # a copy, as from a file: state_dict() shares the tensors that the next step mutates
    saved, weights = copy.deepcopy(opt.state_dict()), w.detach().clone()
    w2 = torch.nn.Parameter(weights.clone())
    opt2 = FlatLBFGS([w2], line_search_fn="strong_wolfe", max_iter=5, history_size=3)
    opt2.load_state_dict(saved)
    assert opt2.state[w2]["index"].dtype == torch.float64  # what torch's loading does
    g = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64)
    state, loaded = opt.state[w], opt2.state[w2]
    np.testing.assert_allclose(FlatLBFGS._direction(loaded, g, loaded["H_diag"], 3).numpy(),
                               FlatLBFGS._direction(state, g, state["H_diag"], 3).numpy(), rtol=1e-14)
    run(opt, w)
    run(opt2, w2)
    np.testing.assert_allclose(w2.detach().numpy(), w.detach().numpy(), rtol=1e-12)


def test_a_failing_fit_keeps_its_own_error():
    """An error before skorch builds the optimizer is not hidden by the release in ``finally``."""
    from skorch.callbacks import Callback

    class Broken(Callback):
        def initialize(self):
            raise ValueError("broken callback")

    X, y, G = make_problem("beale", 20, random_state=0)
    with pytest.raises(ValueError, match="broken callback"):
        GIMLPRegressor((4,), max_iter=20, callbacks=[("broken", Broken())]).fit(X, y, G)


def test_parameters_and_gradients_are_views_of_one_vector_until_released():
    gen = torch.Generator().manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    before = [p.detach().clone() for p in module.parameters()]
    params = list(module.parameters())
    storages = [p.untyped_storage().data_ptr() for p in params]
    opt = FlatLBFGS(module.parameters(), max_iter=3)
    # an optimizer that never steps (a loaded model's) leaves the weights alone
    assert [p.untyped_storage().data_ptr() for p in params] == storages and opt._flat is None
    X = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    opt.zero_grad(set_to_none=True)  # skorch's call, first thing in a step: flattens
    flat = opt._flat
    assert all(p.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr() for p in params)
    for p, b in zip(params, before):  # flattening keeps the values
        torch.testing.assert_close(p.detach(), b)
    opt.zero_grad(set_to_none=True)  # the views must survive
    module(X).pow(2).sum().backward()
    expected = torch.cat([p.grad.reshape(-1) for p in params])
    torch.testing.assert_close(opt._gather_flat_grad(), expected)
    assert all(p.grad.untyped_storage().data_ptr() == opt._flat_grad.untyped_storage().data_ptr()
               for p in params)

    def closure():
        opt.zero_grad()
        loss = module(X).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = opt.state[params[0]]["n_iter"]
    opt.release()
    assert len({p.untyped_storage().data_ptr() for p in params}) == len(params)
    assert opt.state[params[0]] == {"n_iter": n_iter, "func_evals": opt.state[params[0]]["func_evals"]}
    # a replaced parameter (module.to, or after release) is flattened again on the next step
    loss_before = float(closure().detach())
    opt.step(closure)
    assert float(closure().detach()) < loss_before
    assert params[0].untyped_storage().data_ptr() == opt._flat.untyped_storage().data_ptr()


def test_complex_parameters_are_refused():
    with pytest.raises(TypeError, match="dense real"):
        FlatLBFGS([torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_mlp_keeps_no_lbfgs_memory():
    """The history (2 x 50 vectors of the weights' size) is not pickled with the model."""
    X, y, G = make_problem("beale", 40, random_state=0)
    model = GIMLPRegressor(hidden_layer_sizes=(16, 16), max_iter=60, random_state=0).fit(X, y, G)
    optimizer = model.net_.optimizer_
    assert isinstance(optimizer, FlatLBFGS)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert not any(isinstance(value, torch.Tensor) for value in state.values())
    assert model.n_iter_ == state["n_iter"] > 0
    n_weights = sum(p.numel() for p in model.net_.module_.parameters())
    # weights in float64, plus the estimator's and skorch's own attributes
    assert len(pickle.dumps(model)) < 8 * n_weights + 60_000
    weights = model.predict(X)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), weights)
