"""Memory guard: refuse a planned computation, with the figure, before allocating it.

A fit whose dense matrices exceed the machine's memory fails late (numpy's
``MemoryError`` after minutes of work, or the operating system killing the
process). Estimators that can count the bytes of what they will allocate
call :func:`check_memory` first and raise :class:`MemoryLimitError`, which
states what is needed, what it is made of and the limit it exceeded.
"""

import os

__all__ = ["MemoryLimitError", "DEFAULT_MEMORY_CAP", "available_memory", "resolve_memory_limit",
           "check_memory", "format_bytes"]

# "auto" limit: this share of the memory available when the fit starts, at most
# DEFAULT_MEMORY_CAP: a fit that needs more is deliberate and asks for it explicitly
_AVAILABLE_SHARE = 0.8
DEFAULT_MEMORY_CAP = 8 * 2**30


class MemoryLimitError(MemoryError):
    """A planned computation would need more memory than its limit; nothing was allocated.

    Attributes
    ----------
    needed : int
        Estimated bytes of the computation.
    limit : int
        The limit it exceeds, in bytes.

    Examples
    --------
    >>> from sklearn_gi.utils import MemoryLimitError
    >>> issubclass(MemoryLimitError, MemoryError)
    True
    """

    def __init__(self, message, *, needed, limit):
        super().__init__(message)
        self.needed = int(needed)
        self.limit = int(limit)


def format_bytes(n_bytes):
    """``n_bytes`` in GB or MB (powers of 10), for messages.

    Examples
    --------
    >>> from sklearn_gi.utils._memory import format_bytes
    >>> format_bytes(22.6e9), format_bytes(3e6)
    ('22.6 GB', '3.0 MB')
    """
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{n_bytes / 1e6:.1f} MB"


def available_memory():
    """Bytes of memory available to new allocations (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def resolve_memory_limit(memory_limit):
    """``(limit in bytes or None, how it was set)`` for an estimator's ``memory_limit``.

    ``"auto"``: 80% of :func:`available_memory`, at most :data:`DEFAULT_MEMORY_CAP`
    (8 GiB; the cap alone when the available memory is unknown). A number: that
    many bytes. None: no limit.
    """
    if memory_limit is None:
        return None, "memory_limit=None"
    if isinstance(memory_limit, str) and memory_limit == "auto":
        available = available_memory()
        if available is None:
            return DEFAULT_MEMORY_CAP, "memory_limit='auto': 8 GiB, the available memory is unknown"
        limit = min(int(_AVAILABLE_SHARE * available), DEFAULT_MEMORY_CAP)
        return limit, (f"memory_limit='auto': 80% of the {format_bytes(available)} available, "
                       "at most 8 GiB")
    return int(memory_limit), f"memory_limit={format_bytes(memory_limit)}"


def check_memory(needed, memory_limit, *, what, advice, estimator=None):
    """Raise :class:`MemoryLimitError` when ``needed`` bytes exceed ``memory_limit``.

    Parameters
    ----------
    needed : int
        Estimated peak bytes of the planned computation.
    memory_limit : "auto", number of bytes or None
        See :func:`resolve_memory_limit`.
    what : str
        What the bytes are made of, for the message.
    advice : str
        What the user can do instead.
    estimator : estimator, default=None
        Named in the message.

    Examples
    --------
    >>> from sklearn_gi.utils._memory import check_memory
    >>> check_memory(3e9, 1e9, what="a 19365 x 19365 matrix", advice="Use fewer features.")
    Traceback (most recent call last):
        ...
    sklearn_gi.utils._memory.MemoryLimitError: needs about 3.0 GB (a 19365 x 19365 matrix), \
more than the memory limit of 1.0 GB (memory_limit=1.0 GB). Use fewer features.
    """
    limit, how = resolve_memory_limit(memory_limit)
    if limit is None or needed <= limit:
        return
    who = f"{type(estimator).__name__} " if estimator is not None else ""
    raise MemoryLimitError(
        f"{who}needs about {format_bytes(needed)} ({what}), more than the memory limit of "
        f"{format_bytes(limit)} ({how}). {advice}",
        needed=needed, limit=limit,
    )
