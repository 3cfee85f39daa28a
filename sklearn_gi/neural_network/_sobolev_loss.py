"""Sobolev (value + input-gradient) loss for torch modules.

Groundwork for ``GIMLPRegressor`` (issue 3): the estimator standardizes X, y
and the gradients, then minimises this loss through its skorch net.
"""

import torch


def input_jacobian(module, X, *, projections=None, create_graph=True):
    """Input-Jacobian of ``module`` at ``X``, or random projections of it.

    Parameters
    ----------
    module : torch.nn.Module
        Maps ``(n, d)`` to ``(n, k)``.
    X : torch.Tensor of shape (n, d)
    projections : torch.Tensor of shape (n, m, k) or None
        Output-space vectors ``v``; when given, returns ``v^T J`` (one backward
        pass per projection, stochastic Sobolev training) instead of the full
        Jacobian (one backward pass per output).
    create_graph : bool, default=True
        Keep the graph so that a loss on the Jacobian can be back-propagated.

    Returns
    -------
    out : torch.Tensor of shape (n, k)
    jacobian : torch.Tensor of shape (n, k, d), or (n, m, d) with projections
    """
    X = X.detach().requires_grad_(True)
    out = module(X)
    rows = out.shape[1] if projections is None else projections.shape[1]
    jac = []
    for j in range(rows):
        if projections is None:
            weights = out.new_zeros(out.shape)
            weights[:, j] = 1.0
        else:
            weights = projections[:, j, :]
        (grad,) = torch.autograd.grad(out, X, grad_outputs=weights, create_graph=create_graph)
        jac.append(grad)
    return out, torch.stack(jac, dim=1)


def sobolev_loss(module, X, y, dYdX=None, *, gradient_weight=1.0, projections=None):
    """``mean value error + gradient_weight * mean gradient error``.

    NaN entries of ``dYdX`` are unknown partials: masked out of the gradient
    error (with projections, an input's projected target is known only when
    that input's partials of every output are known).

    Parameters
    ----------
    module : torch.nn.Module
    X : torch.Tensor of shape (n, d)
    y : torch.Tensor of shape (n, k)
    dYdX : torch.Tensor of shape (n, k, d) or None
    gradient_weight : float, default=1.0
    projections : torch.Tensor of shape (n, m, k) or None
        Unit vectors in output space for stochastic Sobolev training.

    Returns
    -------
    loss : torch.Tensor (scalar)
    """
    if dYdX is None or gradient_weight == 0:
        return torch.mean((module(X) - y) ** 2)
    out, jac = input_jacobian(module, X, projections=projections)
    value_loss = torch.mean((out - y) ** 2)
    known = ~torch.isnan(dYdX)
    target = torch.where(known, dYdX, torch.zeros_like(dYdX))
    if projections is not None:
        target = torch.einsum("nmk,nkd->nmd", projections, target)
        known = known.all(dim=1, keepdim=True).expand_as(target)
    sq = torch.where(known, (jac - target) ** 2, torch.zeros_like(jac))
    gradient_loss = sq.sum() / known.sum().clamp(min=1)
    return value_loss + gradient_weight * gradient_loss


def random_unit_projections(n_samples, n_projections, n_outputs, *, generator=None, device=None, dtype=None):
    """Vectors uniform on the unit sphere of output space, shape (n, m, k)."""
    v = torch.randn(n_samples, n_projections, n_outputs, generator=generator, device=device, dtype=dtype)
    return v / v.norm(dim=-1, keepdim=True)
