"""GIMLPRegressor's per-epoch cost against a plain torch training loop.

The same network (1-64-64-1 tanh by default), the same initial weights, the
same Sobolev loss and the same optimizer steps; the plain loop is the least a
hand-written torch script would do (tensors prepared once, one full batch per
epoch). GIMLPRegressor's time is its whole ``fit`` (validation,
standardization, building the skorch net) divided by the epochs, so every
overhead is counted. Run: ``python -m benchmarks.mlp_overhead``.
"""

import argparse
import math
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from sklearn_gi.neural_network import GIMLPRegressor
from sklearn_gi.neural_network._gi_mlp import _glorot_init
from sklearn_gi.neural_network._lbfgs import FlatLBFGS
from sklearn_gi.neural_network._modules import MLPModule
from sklearn_gi.neural_network._sobolev_loss import input_jacobian, model_jacobian

from ._report import write_results


def _data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, d))
    y = np.sin(3 * X).sum(axis=1)
    G = 3 * np.cos(3 * X)
    return X, y, G


def plain_loop(X, y, G, hidden, epochs, solver, mode, dtype, seed=0, flat=False):
    """A hand-written torch loop; returns the final loss and the seconds per epoch.

    ``flat``: L-BFGS by the estimator's ``FlatLBFGS`` instead of ``torch.optim.LBFGS``.
    """
    start = time.perf_counter()
    t = dict(dtype=dtype)
    Xs = torch.as_tensor((X - X.mean(0)) / X.std(0), **t)
    ys = torch.as_tensor(((y - y.mean()) / y.std())[:, None], **t)
    Gs = torch.as_tensor((G * X.std(0) / y.std())[:, None, :], **t)
    # the estimator's seeding, so that both start from the same weights
    torch.manual_seed(int(check_random_state(seed).randint(np.iinfo(np.int32).max)))
    net = MLPModule(X.shape[1], hidden, 1, "tanh")
    _glorot_init(net, "tanh")
    net = net.to(dtype)
    if solver == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    else:
        lbfgs = FlatLBFGS if flat else torch.optim.LBFGS
        opt = lbfgs(net.parameters(), max_iter=20, history_size=50, line_search_fn="strong_wolfe")

    last = []

    def closure():
        opt.zero_grad()
        if mode == "auto":  # the estimator's choice of forward or reverse mode
            out, jac = model_jacobian(net, Xs)
        else:
            out, jac = input_jacobian(net, Xs)
        loss = ((out - ys) ** 2).mean() + ((jac - Gs) ** 2).mean()
        loss.backward()
        last[:] = [loss.detach()]
        return last[-1]

    for _ in range(epochs):
        opt.step(closure)
    seconds = (time.perf_counter() - start) / epochs
    return last[-1].item(), seconds  # the last evaluation, as the estimator records


def estimator(X, y, G, hidden, epochs, solver, dtype, seed=0):
    X = X.astype(dtype)
    iters = epochs if solver == "adam" else 20 * epochs
    model = GIMLPRegressor(hidden, solver=solver, batch_size=len(X), max_iter=iters, tol=0.0,
                           n_iter_no_change=iters, device="cpu", n_threads=torch.get_num_threads(),
                           random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget on purpose
        model.fit(X, y, G)
    seconds = time.perf_counter() - start
    assert len(model.net_.history) == epochs
    return model.loss_curve_[-1], seconds / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-train", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)  # both sides run on the same threads
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args):
    hidden = (64, 64)
    rows = []
    configs = [("adam", 1, torch.float32), ("adam", 1, torch.float64),
               ("adam", 5, torch.float32), ("lbfgs", 1, torch.float64)]
    for solver, d, dtype in configs:
        X, y, G = _data(args.n_train, d)
        epochs = args.epochs if solver == "adam" else max(1, args.epochs // 20)
        np_dtype = np.float32 if dtype == torch.float32 else np.float64
        best = {"plain": math.inf, "plain_reverse": math.inf, "estimator": math.inf,
                "plain_flat": math.inf}
        for _ in range(args.repeats):  # interleaved, best of each
            best["plain"] = min(best["plain"], plain_loop(X, y, G, hidden, epochs, solver,
                                                          "auto", dtype)[1])
            best["plain_reverse"] = min(best["plain_reverse"], plain_loop(
                X, y, G, hidden, epochs, solver, "reverse", dtype)[1])
            best["estimator"] = min(best["estimator"],
                                    estimator(X, y, G, hidden, epochs, solver, np_dtype)[1])
            if solver == "lbfgs":
                best["plain_flat"] = min(best["plain_flat"], plain_loop(
                    X, y, G, hidden, epochs, solver, "auto", dtype, flat=True)[1])
        rows.append({
            "solver": solver, "n_features": d, "dtype": str(dtype).removeprefix("torch."),
            "epochs": epochs,
            "plain_ms_per_epoch": 1e3 * best["plain"],
            "GIMLPRegressor_ms_per_epoch": 1e3 * best["estimator"],
            "ratio": best["estimator"] / best["plain"],
            "plain_double_backward_ms": 1e3 * best["plain_reverse"],
            "plain_FlatLBFGS_ms": 1e3 * best["plain_flat"] if solver == "lbfgs" else float("nan"),
            "ratio_same_optimizer": best["estimator"] / (
                best["plain_flat"] if solver == "lbfgs" else best["plain"]),
        })
    write_results(
        "mlp_overhead",
        f"GIMLPRegressor per-epoch time vs a plain torch loop (n={args.n_train}, 64-64 tanh)",
        rows,
        ["solver", "n_features", "dtype", "epochs", "plain_ms_per_epoch",
         "GIMLPRegressor_ms_per_epoch", "ratio", "plain_double_backward_ms", "plain_FlatLBFGS_ms",
         "ratio_same_optimizer"],
        notes=(
            "Full batch, same initial weights and Sobolev loss; GIMLPRegressor's time is its "
            "whole fit divided by the epochs (L-BFGS: epochs of 20 iterations). The plain loop "
            "computes the Jacobian as the estimator does (forward mode when there are no more inputs "
            "than outputs, else reverse); `plain_double_backward_ms` is the usual "
            "reverse-mode (double backward) loop, for reference. The plain L-BFGS loop uses "
            "`torch.optim.LBFGS` (what a hand-written script would); GIMLPRegressor uses its "
            "`FlatLBFGS` (the same algorithm, flat parameters and a compact two-loop recursion), "
            "so `ratio` includes the optimizer's speed-up and `ratio_same_optimizer` compares with "
            "the plain loop on FlatLBFGS (`plain_FlatLBFGS_ms`): the estimator's own overhead. Best of "
            f"{args.repeats} interleaved repeats; torch on {args.threads} CPU thread(s) for both."
        ),
    )
    return rows


if __name__ == "__main__":
    main()
