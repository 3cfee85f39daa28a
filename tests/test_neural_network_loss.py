import math

import pytest
import torch

from sklearn_gi.neural_network._device import resolve_device
from sklearn_gi.neural_network._sobolev_loss import (
    input_jacobian,
    random_unit_projections,
    sobolev_loss,
)


def _linear(d, k, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, k).double()


def test_jacobian_of_a_linear_module_is_its_weight():
    module = _linear(3, 2)
    X = torch.randn(5, 3, dtype=torch.float64)
    out, jac = input_jacobian(module, X)
    assert out.shape == (5, 2) and jac.shape == (5, 2, 3)
    torch.testing.assert_close(jac, module.weight.detach().expand(5, 2, 3))


def test_loss_matches_hand_computation_with_unknown_partials():
    module = _linear(3, 2)
    X = torch.randn(6, 3, dtype=torch.float64)
    y = torch.randn(6, 2, dtype=torch.float64)
    G = torch.randn(6, 2, 3, dtype=torch.float64)
    G[0, 1, 2] = float("nan")
    G[3, 0, 0] = float("nan")
    loss = sobolev_loss(module, X, y, G, gradient_weight=0.5)
    W = module.weight.detach()
    value = ((module(X).detach() - y) ** 2).mean()
    known = ~torch.isnan(G)
    grad = ((W.expand(6, 2, 3) - G)[known] ** 2).sum() / known.sum()
    torch.testing.assert_close(loss.detach(), value + 0.5 * grad)


def test_projections_are_vector_jacobian_products_and_unbiased():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4)).double()
    X = torch.randn(5, 3, dtype=torch.float64)
    y = torch.randn(5, 4, dtype=torch.float64)
    G = torch.randn(5, 4, 3, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    v = random_unit_projections(5, 3, 4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(v.norm(dim=-1), torch.ones(5, 3, dtype=torch.float64))
    _, full = input_jacobian(module, X)
    _, projected = input_jacobian(module, X, projections=v)
    torch.testing.assert_close(projected, torch.einsum("nmk,nkd->nmd", v, full))
    # E[(v^T e)^2] = |e|^2 / k for v uniform on the sphere: the stochastic loss is unbiased
    exact = sobolev_loss(module, X, y, G).item()
    many = random_unit_projections(5, 4000, 4, generator=gen, dtype=torch.float64)
    estimate = sobolev_loss(module, X, y, G, projections=many).item()
    assert estimate == pytest.approx(exact, rel=0.05)


def test_gradient_information_beats_values_alone_on_a_tiny_problem():
    """8 samples of sin(6x): the same tanh MLP and L-BFGS budget, with and without gradients."""
    X = torch.linspace(-1, 1, 8, dtype=torch.float64)[:, None]
    y, G = torch.sin(6 * X), (6 * torch.cos(6 * X))[:, :, None]
    X_test = torch.linspace(-1, 1, 200, dtype=torch.float64)[:, None]

    def train(use_gradients):
        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(),
            torch.nn.Linear(32, 1),
        ).double()
        opt = torch.optim.LBFGS(net.parameters(), max_iter=300, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = sobolev_loss(net, X, y, G if use_gradients else None)
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            return math.sqrt(((net(X_test) - torch.sin(6 * X_test)) ** 2).mean().item())

    with_gi, without = train(True), train(False)
    # measured 0.0023 vs 0.091 (seeds 1, 2: 0.0034 vs 0.64, 0.001 vs 0.31)
    assert with_gi < 0.01 and with_gi < 0.1 * without, (with_gi, without)


def test_device_selection_never_falls_back_silently():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loss_runs_on_cuda():
    device = resolve_device("cuda")
    module = torch.nn.Linear(3, 2).double().to(device)
    X = torch.randn(4, 3, dtype=torch.float64, device=device)
    v = random_unit_projections(4, 2, 2, device=device, dtype=torch.float64)
    loss = sobolev_loss(module, X, torch.zeros(4, 2, dtype=torch.float64, device=device),
                        torch.zeros(4, 2, 3, dtype=torch.float64, device=device), projections=v)
    assert loss.device.type == "cuda"


def test_huber_penalty_is_the_square_inside_and_linear_outside():
    from sklearn_gi.neural_network._sobolev_loss import huber_penalty, masked_squared_error

    r = torch.tensor([-3.0, -0.5, 0.0, 0.25, 2.0], dtype=torch.float64)
    expected = torch.tensor([2 * 1 * 3 - 1, 0.25, 0.0, 0.0625, 2 * 1 * 2 - 1], dtype=torch.float64)
    torch.testing.assert_close(huber_penalty(r, 1.0), expected)
    # value and slope are continuous at |r| = epsilon
    at = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(huber_penalty(at, 0.7).sum(), at)
    assert slope.item() == pytest.approx(1.4)
    mask = torch.tensor([True, False, True, True, True])
    got = masked_squared_error(r, torch.zeros_like(r), mask, epsilon=1.0)
    torch.testing.assert_close(got, expected[mask].mean())
