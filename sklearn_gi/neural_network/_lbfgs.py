"""torch's L-BFGS with the two-loop recursion done in a few matrix operations.

``torch.optim.LBFGS`` computes the search direction with a Python loop of
``2 * history_size`` dot products and vector updates per iteration. On the
small full-batch problems of scientific surrogates (a few thousand weights,
tens to hundreds of samples) these ~200 tiny operations cost as much as the
loss evaluation itself. The same direction follows from two triangular
solves on ``history_size`` unknowns (the recursion's coefficients depend
linearly on each other through the products ``s_i . y_j``, which are kept
up to date with two matrix-vector products per iteration), so an iteration
needs about ten operations. Everything else (strong-Wolfe line search,
tolerances, stopping tests, state counters) is torch's code, unchanged, and
the state records ``gradient_converged``: whether the last step ended on the
gradient test (largest gradient entry at most ``tolerance_grad``).
"""

import torch
from torch.optim.lbfgs import _strong_wolfe


def lbfgs_direction(grad, S, Y, rho, SY, H_diag):
    """``-H grad`` for the L-BFGS inverse-Hessian approximation, without a Python loop.

    Parameters
    ----------
    grad : torch.Tensor of shape (p,)
    S, Y : torch.Tensor of shape (m, p)
        Steps and gradient changes, oldest first.
    rho : torch.Tensor of shape (m,)
        ``1 / (y_i . s_i)``.
    SY : torch.Tensor of shape (m, m)
        ``SY[i, j] = s_i . y_j``.
    H_diag : float or torch.Tensor
        Scale of the initial inverse Hessian.

    Returns
    -------
    direction : torch.Tensor of shape (p,)
        What torch's two-loop recursion returns, up to rounding.

    Examples
    --------
    >>> import torch
    >>> from sklearn_gi.neural_network._lbfgs import lbfgs_direction
    >>> S = torch.eye(2, dtype=torch.float64)
    >>> Y = 2 * S                       # a quadratic with Hessian 2 I
    >>> rho = 1 / (S * Y).sum(1)
    >>> lbfgs_direction(torch.tensor([1.0, -4.0], dtype=torch.float64), S, Y, rho, S @ Y.T, 0.5)
    tensor([-0.5000,  2.0000], dtype=torch.float64)
    """
    # first loop (newest to oldest): al_i = rho_i s_i.q_i, q_i = -g - sum_{j>i} al_j y_j
    #   => (I + diag(rho) triu(SY, 1)) al = rho * (S @ -g), an upper-triangular system
    m = S.shape[0]
    eye = torch.eye(m, dtype=S.dtype, device=S.device)
    minus_g = grad.neg()
    upper = eye + rho[:, None] * torch.triu(SY, diagonal=1)
    al = torch.linalg.solve_triangular(upper, (rho * (S @ minus_g))[:, None], upper=True)[:, 0]
    r0 = (minus_g - Y.T @ al) * H_diag
    # second loop (oldest to newest): be_i = rho_i y_i.r_i, r_{i+1} = r_i + (al_i - be_i) s_i
    #   with u = al - be: (I + diag(rho) tril(SY^T, -1)) u = al - rho * (Y @ r0)
    lower = eye + rho[:, None] * torch.tril(SY.T, diagonal=-1)
    u = torch.linalg.solve_triangular(lower, (al - rho * (Y @ r0))[:, None], upper=False)[:, 0]
    return r0 + S.T @ u


class MatrixLBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` whose search direction comes from :func:`lbfgs_direction`.

    Same parameters, same steps up to rounding (see the module docstring).
    """

    @torch.no_grad()
    def step(self, closure):  # noqa: C901 - torch's step, with the direction replaced
        if len(self.param_groups) != 1:
            raise ValueError("MatrixLBFGS takes one parameter group.")
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        # True when the step ends on the gradient test: a stationary point
        state["gradient_converged"] = bool(flat_grad.abs().max() <= tolerance_grad)
        if state["gradient_converged"]:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        S, Y = state.get("S"), state.get("Y")
        rho, SY = state.get("rho"), state.get("SY")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            if state["n_iter"] == 1:
                d = flat_grad.neg()
                S = Y = rho = SY = None
                H_diag = 1
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:
                    if S is not None and S.shape[0] == history_size:
                        S, Y, rho, SY = S[1:], Y[1:], rho[1:], SY[1:, 1:]
                    if S is None:
                        S, Y = s[None], y[None]
                        rho = (1.0 / ys)[None]
                        SY = ys.reshape(1, 1)
                    else:
                        row = S @ y  # s_i . y_new
                        col = Y @ s  # s_new . y_j
                        SY = torch.cat([
                            torch.cat([SY, row[:, None]], dim=1),
                            torch.cat([col, ys[None]])[None],
                        ])
                        S = torch.cat([S, s[None]])
                        Y = torch.cat([Y, y[None]])
                        rho = torch.cat([rho, (1.0 / ys)[None]])
                    H_diag = ys / y.dot(y)
                if S is None:
                    d = flat_grad.neg() * H_diag
                else:
                    d = lbfgs_direction(flat_grad, S, Y, rho, SY, H_diag)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = flat_grad.abs().max() <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    with torch.enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = flat_grad.abs().max() <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                state["gradient_converged"] = True
                break
            if d.mul(t).abs().max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["S"], state["Y"], state["rho"], state["SY"] = S, Y, rho, SY
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss
