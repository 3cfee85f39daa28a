"""Sobolev (value + input-gradient) loss for torch modules.

``GIMLPRegressor`` standardizes X, y and the gradients, then minimises this
loss through its skorch net. The pieces are public-ish helpers so that a user
with their own torch training loop can use the same loss.
"""

import torch


def input_jacobian(module, X, *, projections=None, create_graph=True):
    """Input-Jacobian of ``module`` at ``X`` by reverse mode, or projections of it.

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
    with torch.enable_grad():
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
            (grad,) = torch.autograd.grad(
                out, X, grad_outputs=weights, create_graph=create_graph, retain_graph=True
            )
            jac.append(grad)
    return out, torch.stack(jac, dim=1)


def model_jacobian(module, X, *, projections=None, create_graph=True):
    """Outputs and input-Jacobian (or its projections), by the cheaper mode.

    Modules with a ``forward_with_jacobian`` method (such as the package's
    MLP) carry the Jacobian forward, at a cost that grows with the number of
    inputs ``d``; reverse mode costs one backward pass per output (or per
    projection). Forward mode is used when ``d`` is smaller than that count.

    Returns
    -------
    out : torch.Tensor of shape (n, k)
    jacobian : torch.Tensor of shape (n, k, d), or (n, m, d) with projections
    """
    if hasattr(module, "forward_with_jacobian"):
        rows = module.n_outputs if projections is None else projections.shape[1]
        if X.shape[1] <= rows:
            out, jac = module.forward_with_jacobian(X)
            return out, (jac if projections is None else projections @ jac)
    return input_jacobian(module, X, projections=projections, create_graph=create_graph)


def chain_feature_jacobian(jac, feature_jacobian):
    """Chain rule ``dY/dZ @ dZ/dX``: ``(n, r, p)`` with ``(p, d)`` or ``(n, p, d)``."""
    if feature_jacobian is None:
        return jac
    return jac @ feature_jacobian


def project_targets(projections, target, mask=None):
    """Project gradient targets ``(n, k, d)`` onto ``projections (n, m, k)``.

    An input's projected target is known only when that input's partials of
    every output are known, so the mask becomes ``(n, m, d)`` (None stays None).
    """
    projected = projections @ target
    if mask is not None:
        mask = mask.all(dim=1, keepdim=True).expand_as(projected)
    return projected, mask


def huber_penalty(residual, epsilon):
    """Huber's penalty scaled to match the square near zero.

    ``r**2`` where ``|r| <= epsilon``, ``2 * epsilon * |r| - epsilon**2``
    beyond: the same value and slope at ``|r| = epsilon``, linear growth for
    outlying residuals, so that a few huge gradient errors cannot dominate the
    mean. ``epsilon=inf`` is the square.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gi.neural_network._sobolev_loss import huber_penalty
    >>> huber_penalty(torch.tensor([0.5, 3.0]), 1.0)
    tensor([0.2500, 5.0000])
    """
    absolute = residual.abs()
    return torch.where(
        absolute <= epsilon, residual * residual, 2.0 * epsilon * absolute - epsilon * epsilon
    )


def masked_squared_error(prediction, target, mask=None, n_known=None, *, weights=None,
                         epsilon=None):
    """Mean of ``(prediction - target)**2`` over the entries where ``mask`` is True.

    ``target`` must hold finite numbers where ``mask`` is False (e.g. zeros).
    ``weights`` (one per sample, the first axis) make it a weighted mean.
    With ``epsilon``, each squared error is replaced by :func:`huber_penalty`.
    """
    diff = prediction - target
    sq = diff * diff if epsilon is None else huber_penalty(diff, epsilon)
    if weights is not None:
        w = weights.reshape((-1,) + (1,) * (sq.ndim - 1)).expand_as(sq)
        if mask is not None:
            w = w * mask
        return (sq * w).sum() / w.sum().clamp(min=torch.finfo(sq.dtype).tiny)
    if mask is None:
        return sq.mean()
    if n_known is None:
        n_known = mask.sum().clamp(min=1)
    return (sq * mask).sum() / n_known


def weighted_mean_squared_error(prediction, target, weights=None):
    """Mean squared error, weighted per sample (the first axis) when ``weights`` is given."""
    return masked_squared_error(prediction, target, weights=weights)


def sobolev_loss(
    module,
    X,
    y,
    dYdX=None,
    *,
    gradient_weight=1.0,
    projections=None,
    feature_jacobian=None,
):
    """``mean value error + gradient_weight * mean gradient error``.

    NaN entries of ``dYdX`` are unknown partials: masked out of the gradient
    error (with projections, an input's projected target is known only when
    that input's partials of every output are known).

    Parameters
    ----------
    module : torch.nn.Module
    X : torch.Tensor of shape (n, p)
    y : torch.Tensor of shape (n, k)
    dYdX : torch.Tensor of shape (n, k, d) or None
    gradient_weight : float, default=1.0
    projections : torch.Tensor of shape (n, m, k) or None
        Unit vectors in output space for stochastic Sobolev training.
    feature_jacobian : torch.Tensor of shape (p, d) or (n, p, d), or None
        Jacobian of the module's inputs with respect to the inputs ``dYdX``
        refers to; None when they are the same (``p == d``).

    Returns
    -------
    loss : torch.Tensor (scalar)

    Examples
    --------
    >>> import torch
    >>> from sklearn_gi.neural_network import sobolev_loss
    >>> module = torch.nn.Linear(2, 1)
    >>> X = torch.zeros(4, 2)
    >>> y = module(X).detach()
    >>> G = module.weight.detach().expand(4, 1, 2)
    >>> loss = sobolev_loss(module, X, y, G)
    >>> loss.backward()  # one step of your own training loop
    >>> loss.item()
    0.0
    """
    if dYdX is None or gradient_weight == 0:
        return torch.mean((module(X) - y) ** 2)
    out, jac = model_jacobian(module, X, projections=projections)
    jac = chain_feature_jacobian(jac, feature_jacobian)
    value_loss = torch.mean((out - y) ** 2)
    known = ~torch.isnan(dYdX)
    target = torch.where(known, dYdX, torch.zeros_like(dYdX))
    if projections is not None:
        target, known = project_targets(projections, target, known)
    gradient_loss = masked_squared_error(jac, target, known)
    return value_loss + gradient_weight * gradient_loss


def random_unit_projections(
    n_samples, n_projections, n_outputs, *, generator=None, device=None, dtype=None
):
    """Vectors uniform on the unit sphere of output space, shape (n, m, k).

    ``generator`` must live on ``device`` (torch draws on the generator's device).
    """
    v = torch.randn(
        n_samples, n_projections, n_outputs, generator=generator, device=device, dtype=dtype
    )
    return v / v.norm(dim=-1, keepdim=True)
