"""Compute backends: one interface (:class:`Backend`), several engines.

``available_backends()`` lists the engines importable in this installation and
``make_backend(name, n_jobs)`` builds one; ``"auto"`` picks the fastest available.
"""

from __future__ import annotations

import os

from minisam.backends.auto import AutoBackend
from minisam.backends.base import Backend
from minisam.backends.numpy_backend import NumpyBackend

__all__ = ["BACKEND_NAMES", "AutoBackend", "Backend", "available_backends", "default_n_threads",
           "make_backend"]

#: Every backend name the API accepts, ``"auto"`` included.
BACKEND_NAMES = ("auto", "numpy", "cython", "numba")


def _backend_classes() -> dict[str, type[Backend]]:
    classes: dict[str, type[Backend]] = {"numpy": NumpyBackend}
    try:
        from minisam.backends.cython_backend import CythonBackend
    except ImportError:  # the compiled module is missing (broken build): NumPy still works
        pass
    else:
        classes["cython"] = CythonBackend
    try:
        from minisam.backends.numba_backend import NumbaBackend
    except ImportError:
        pass
    else:
        classes["numba"] = NumbaBackend
    return classes


def available_backends() -> list[str]:
    """Names of the backends usable in this installation, fastest first."""
    classes = _backend_classes()
    return [name for name in ("cython", "numba", "numpy") if name in classes]


def default_n_threads() -> int:
    """Default thread count: ``$MINISAM_NUM_THREADS`` if set, else every CPU the process may
    run on."""
    override = os.environ.get("MINISAM_NUM_THREADS", "").strip()
    if override:
        try:
            value = int(override)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"MINISAM_NUM_THREADS must be a positive integer, got {override!r}")
        return value
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_backend(name: str, n_threads: int | None = None) -> Backend:
    """Build the backend called ``name``.

    ``"auto"`` builds an :class:`~minisam.backends.auto.AutoBackend` that sends each operation
    to the engine measured fastest for it among those available.
    """
    classes = _backend_classes()
    n_threads = default_n_threads() if n_threads is None else n_threads
    if name == "auto":
        return AutoBackend({engine: cls(n_threads) for engine, cls in classes.items()},
                           n_threads)
    if name not in classes:
        raise ValueError(f"backend {name!r} is not available in this installation; "
                         f"available: {available_backends()}")
    return classes[name](n_threads)
