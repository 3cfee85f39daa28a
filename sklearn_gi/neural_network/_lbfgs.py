"""L-BFGS over one flat parameter vector, with the two-loop recursion in compact form.

``torch.optim.LBFGS`` runs the two-loop recursion as ``4 * history`` separate
vector operations per iteration, and gathers, steps and restores each
parameter tensor separately. For the small networks of scientific data (a few
thousand weights, tens to a few thousand samples) that bookkeeping cost more
than the loss and its gradient: 0.82 of 1.6 ms per iteration with a history of
50 (a 64-64 network on 100 samples). ``FlatLBFGS`` is the same algorithm (the
same strong-Wolfe line search, step rules, tolerances and memory updates) with
two changes of implementation:

* the parameters and their gradients are views into one flat vector each, so
  that a step, a copy or a gather is one operation;
* the direction ``-H g`` is computed from the recursion's closed form (Byrd,
  Nocedal and Schnabel, 1994): with ``S`` and ``Y`` the stored steps and
  gradient changes (oldest first), ``R = triu(S^T Y)`` and ``D`` its diagonal,
  the first loop's coefficients solve ``R a = -S^T g``, the second loop's
  ``R^T c = D a + gamma Y^T (g + Y a)``, and ``-H g = -gamma (g + Y a) + S c``
  (``gamma = s^T y / y^T y`` of the newest pair, as in torch). ``S^T Y`` and
  ``Y^T Y`` are updated by one row and column per new pair, so an iteration
  costs four matrix-vector products and two small triangular solves.

The result equals torch's recursion up to rounding (tested); rounding
differences can change the path of a long, chaotic fit, not its quality.
"""

import torch
from torch.optim.lbfgs import _strong_wolfe


class FlatLBFGS(torch.optim.LBFGS):
    """``torch.optim.LBFGS`` with flat parameters and a compact two-loop recursion.

    Same parameters as :class:`torch.optim.LBFGS`. At the first ``step`` or
    ``zero_grad`` the parameters (and their ``.grad``) become views into one
    contiguous vector (an optimizer that never steps, such as the one of a
    loaded model, leaves them alone); call :meth:`release` to give them their
    own storage again (done by the estimators after a fit, so that the fitted
    module does not keep the optimizer's buffers alive).

    Examples
    --------
    >>> import torch
    >>> from sklearn_gi.neural_network._lbfgs import FlatLBFGS
    >>> _ = torch.manual_seed(0)
    >>> w = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    >>> target = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    >>> opt = FlatLBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - target) ** 2 * torch.arange(1.0, 4.0)).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> torch.allclose(w, target)
    True
    """

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        for p in self._params:
            if torch.is_complex(p) or p.is_sparse:
                raise TypeError("FlatLBFGS supports dense real parameters only.")
        self._flat = self._flat_grad = None  # flattened when first needed

    # --------------------------------------------------------- flat storage
    def _flatten(self):
        self._slices, offset = [], 0
        for p in self._params:
            self._slices.append(slice(offset, offset + p.numel()))
            offset += p.numel()
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in self._params])
            grad = torch.zeros_like(flat)
            for p, part in zip(self._params, self._slices):
                if p.grad is not None:
                    grad[part].copy_(p.grad.reshape(-1))
        self._flat, self._flat_grad = flat, grad
        self._param_ptrs, self._grad_ptrs = [], []
        for p, part in zip(self._params, self._slices):
            p.data = flat[part].view_as(p)
            p.grad = grad[part].view_as(p)
            self._param_ptrs.append(p.data_ptr())
            self._grad_ptrs.append(p.grad.data_ptr())

    def _check_views(self):
        # released, or something (module.to, a user) replaced a parameter's storage
        if self._flat is None or any(
                p.data_ptr() != ptr for p, ptr in zip(self._params, self._param_ptrs)):
            self._flatten()

    def _sync_grads(self):
        """Make every ``.grad`` our view again, copying any gradient stored elsewhere."""
        for i, (p, part) in enumerate(zip(self._params, self._slices)):
            grad = p.grad
            if grad is None or grad.data_ptr() != self._grad_ptrs[i]:
                view = self._flat_grad[part]
                if grad is None:
                    view.zero_()
                else:
                    view.copy_(grad.reshape(-1))
                p.grad = view.view_as(p)
                self._grad_ptrs[i] = p.grad.data_ptr()

    def zero_grad(self, set_to_none=True):
        """Zero the flat gradient in place (the views must survive; ``set_to_none`` is ignored)."""
        self._check_views()
        self._flat_grad.zero_()
        self._sync_grads()

    def release(self):
        """Give each parameter its own storage and drop the history (the counters stay)."""
        if self._flat is not None:
            for p in self._params:
                p.data = p.data.clone()
                p.grad = None
        self._flat = self._flat_grad = None
        for state in self.state.values():
            for key in [key for key in state if key not in ("n_iter", "func_evals")]:
                del state[key]

    def _gather_flat_grad(self):
        self._sync_grads()
        return self._flat_grad.clone()

    def _add_grad(self, step_size, update):
        self._flat.add_(update, alpha=step_size)

    def _clone_param(self):
        return self._flat.clone()

    def _set_param(self, params_data):
        self._flat.copy_(params_data)

    # -------------------------------------------------------------- memory
    def _memory(self, state, history_size):
        if "pairs" not in state:
            n = self._flat.numel()
            like = dict(device=self._flat.device, dtype=self._flat.dtype)
            state["pairs"] = torch.zeros(2 * history_size, n, **like)  # rows: S then Y
            state["sty"] = torch.zeros(history_size, history_size, **like)
            state["yty"] = torch.zeros(history_size, history_size, **like)
            state["order"] = []  # slots, oldest first
        return state

    @staticmethod
    def _store(state, s, y, history_size):
        """Store the pair (s, y), dropping the oldest when the memory is full."""
        order = state["order"]
        slot = order.pop(0) if len(order) == history_size else len(order)
        order.append(slot)
        pairs, m = state["pairs"], history_size
        pairs[slot].copy_(s)
        pairs[m + slot].copy_(y)
        products = torch.mv(pairs, y)  # s_j^T y, y_j^T y for every slot j
        state["sty"][:, slot] = products[:m]
        state["yty"][:, slot] = products[m:]
        state["yty"][slot, :] = products[m:]
        state["sty"][slot, :] = torch.mv(pairs[m:], s)  # s^T y_j
        state["index"] = torch.tensor(order, device=pairs.device)

    @staticmethod
    def _direction(state, g, gamma, history_size):
        """``-H g`` of the stored pairs (compact form of the two-loop recursion)."""
        order = state["order"]
        if not order:
            return g.neg().mul_(gamma)
        m, index = history_size, state.get("index")
        if index is None or index.dtype != torch.long or len(index) != len(order):
            # load_state_dict casts state tensors to the parameters' dtype
            index = state["index"] = torch.tensor(order, device=state["pairs"].device)
        pairs = state["pairs"]
        products = torch.mv(pairs, g)
        sg, yg = products[:m][index], products[m:][index]
        sty = state["sty"][index][:, index]
        yty = state["yty"][index][:, index]
        upper = torch.triu(sty)
        a = torch.linalg.solve_triangular(upper, -sg.unsqueeze(1), upper=True).squeeze(1)
        # Y^T q with q = -g - Y a, the first loop's result
        yq = -yg - yty @ a
        c = torch.linalg.solve_triangular(
            upper.T, (torch.diagonal(sty) * a - gamma * yq).unsqueeze(1), upper=False
        ).squeeze(1)
        weights = torch.zeros(2 * m, device=g.device, dtype=g.dtype)
        weights[index] = c
        weights[m + index] = -gamma * a
        return torch.mv(pairs.T, weights).sub_(g, alpha=gamma)

    # ---------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure):
        """One call: up to ``max_iter`` L-BFGS iterations (torch's algorithm).

        Parameters
        ----------
        closure : callable
            Re-evaluates the model and returns the loss (gradients in ``.grad``).
        """
        closure = torch.enable_grad()(closure)
        self._check_views()
        group = self.param_groups[0]
        lr = float(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        state = self._memory(self.state[self._params[0]], history_size)
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if flat_grad.abs().max() <= tolerance_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        gamma = state.get("H_diag", 1.0)
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            # a fresh memory: the first iteration ever, or the first after release()
            first = prev_flat_grad is None
            if first:
                d = flat_grad.neg()
                state["order"] = []
                gamma = 1.0
            else:
                y = flat_grad.sub(prev_flat_grad)
                s = d.mul(t)
                ys = y.dot(s)
                if ys > 1e-10:
                    self._store(state, s, y, history_size)
                    gamma = float(ys / y.dot(y))
                d = self._direction(state, flat_grad, gamma, history_size)

            if first:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            if first:
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
                        loss = closure()
                    loss = float(loss)
                    flat_grad = self._gather_flat_grad()
                    opt_cond = flat_grad.abs().max() <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if d.mul(t).abs().max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"], state["t"], state["H_diag"] = d, t, gamma
        state["prev_flat_grad"], state["prev_loss"] = prev_flat_grad, prev_loss
        return orig_loss
