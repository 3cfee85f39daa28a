"""BLAS thread policy of the numerical estimators (``n_threads``).

Measured on a 2-core machine (scipy's OpenBLAS 0.3.30; ``python -m benchmarks.thread_load
--cholesky 220 1100 2000 4000`` repeats it): a Cholesky factorisation with two BLAS
threads instead of one is slower below about 2,000 rows even on the idle machine
(220 rows: 7x slower, 1,100 rows: 1.1x slower, 2,000 rows: 1.08x faster, 4,000 rows:
1.65x faster), and with two CPU-bound jobs beside it the two threads wait for a core:
1,400x, 28x, 15x and 4.2x slower. README's GP fit (wing weight, n=20) took 0.43 s
with one thread and 0.78 s with two on the idle machine. So the estimators use one
BLAS thread unless their problem is large, as ``GIMLPRegressor`` does for torch.
"""

import contextlib
import functools
import threading
from numbers import Integral

import numpy as np

__all__ = [
    "SMALL_BLAS_WORK", "SharedThreadCount", "blas_threads", "joint_fit_work", "joint_predict_work",
    "limit_blas_threads", "linear_fit_work", "linear_predict_work",
]

# Floating-point operations below which one BLAS thread is used when n_threads is
# None: a Cholesky factorisation of 2,000 rows (the measured break-even on 2 idle cores).
SMALL_BLAS_WORK = 2000.0**3 / 3


class SharedThreadCount:
    """A process-global thread count that concurrent blocks share safely.

    Blocks wanting the same count run together, a block wanting another count
    waits until they are all done, the last one out restores the setting the
    first one in found, and a thread already inside a block (nested fits)
    keeps the count it has. Serves BLAS (``blas_threads``) and torch
    (``neural_network._gi_mlp._torch_threads``).

    Parameters
    ----------
    apply : callable ``(count, first) -> saved``
        Sets ``count`` for the calling thread; ``first`` is True for the first
        block in, whose return value is what ``restore`` receives.
    restore : callable ``(saved) -> None``
        Run when the last block leaves.
    """

    def __init__(self, apply, restore):
        self._apply = apply
        self._restore = restore
        self._condition = threading.Condition()
        self._count = None
        self._users = 0
        self._saved = None
        self._local = threading.local()

    @contextlib.contextmanager
    def __call__(self, count):
        """Run the block with ``count`` threads (None: leave the setting as it is)."""
        if count is None or getattr(self._local, "depth", 0):
            yield
            return
        with self._condition:
            while self._users and self._count != count:
                self._condition.wait()
            first = not self._users
            saved = self._apply(count, first)
            if first:
                self._saved, self._count = saved, count
            self._users += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._condition:
                self._users -= 1
                if not self._users:
                    self._restore(self._saved)
                    self._saved = self._count = None
                    self._condition.notify_all()


_CONTROLLER = []  # one ThreadpoolController, made on first use (making one costs ~3 ms)


def _controller():
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def _chosen_count(n_threads, work):
    if n_threads is not None:
        return n_threads
    return 1 if work < SMALL_BLAS_WORK else None


@contextlib.contextmanager
def blas_threads(n_threads, work=0.0):
    """Run the block with ``n_threads`` BLAS threads; thread-safe.

    Parameters
    ----------
    n_threads : int or None
        BLAS threads inside the block. None: one thread when ``work`` is below
        ``SMALL_BLAS_WORK`` floating-point operations, else the library's own
        setting (left as it is).
    work : float, default=0.0
        Estimated floating-point operations of the block's linear algebra.
    """
    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, Integral)
                                  or n_threads < 1):
        raise ValueError(f"n_threads must be None or a positive integer, got {n_threads!r}.")
    count = _chosen_count(n_threads, work)
    with _BLAS_THREADS(count):
        yield


def _limit_blas(count, first):
    # threadpoolctl's limit is process-wide: the first block in sets it
    return _controller().limit(limits=count, user_api="blas") if first else None


# BLAS's count is process-global (threadpoolctl); shared as torch's is
_BLAS_THREADS = SharedThreadCount(_limit_blas, lambda limiter: limiter.restore_original_limits())


def limit_blas_threads(work):
    """Method decorator: run the method inside ``blas_threads(self.n_threads, work(...))``.

    ``work(self, *args, **kwargs)`` estimates the method's floating-point
    operations from its raw arguments (before validation); it returns 0 when
    it cannot tell (bad input is then reported by the method itself).
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with blas_threads(self.n_threads, _estimate(work, self, *args, **kwargs)):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


def _estimate(work, *args, **kwargs):
    try:
        return float(work(*args, **kwargs))
    except Exception:  # noqa: BLE001 -- an estimate only: the method's validation reports bad input
        return 0.0


def _rows(X):
    return np.shape(X)[0]


def _columns(X):
    shape = np.shape(X)
    return shape[-1] if len(shape) > 1 else 1


def joint_fit_work(self, X, y=None, dYdX=None, **kwargs):
    """Kernel models' fit: a Cholesky factorisation of the ``n (1 + n_inputs)`` joint rows."""
    rows = _rows(X) * (1 + (0 if dYdX is None else _columns(dYdX)))
    return rows**3 / 3


def joint_predict_work(self, X, *args, **kwargs):
    """Kernel models' predictions: ``n_test`` triangular solves on the training system.

    The cost of a posterior std; an upper bound for means alone.
    """
    dual = self.dual_coef_ if hasattr(self, "dual_coef_") else self.alpha_
    return _rows(X) * len(dual) ** 2


def linear_fit_work(self, X, y=None, dYdX=None, **kwargs):
    """Linear models' fit: the Gram matrix of ``n (1 + n_inputs)`` equations in ``n_features`` unknowns."""
    return _rows(X) * (1 + (0 if dYdX is None else _columns(dYdX))) * _columns(X) ** 2


def linear_predict_work(self, X, *args, **kwargs):
    """Linear models' predictions: one product with the coefficients."""
    return _rows(X) * np.size(self.coef_)


def limit_function_blas_threads(work):
    """Function decorator: as ``limit_blas_threads``, with the keyword argument ``n_threads``."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with blas_threads(kwargs.get("n_threads"), _estimate(work, *args, **kwargs)):
                return function(*args, **kwargs)

        return wrapper

    return decorate
