"""Compute backends: one interface (:class:`Backend`), several engines.

``available_backends()`` lists the engines importable in this installation and
``make_backend(name, n_jobs)`` builds one; ``"auto"`` picks the fastest available.
"""

from __future__ import annotations

import os

from minisam.backends.base import Backend
from minisam.backends.numpy_backend import NumpyBackend

__all__ = ["BACKEND_NAMES", "Backend", "available_backends", "default_n_threads",
           "make_backend"]

#: Every backend name the API accepts, ``"auto"`` included.
BACKEND_NAMES = ("auto", "numpy", "cython")


def _backend_classes() -> dict[str, type[Backend]]:
    classes: dict[str, type[Backend]] = {"numpy": NumpyBackend}
    try:
        from minisam.backends.cython_backend import CythonBackend
    except ImportError:  # the compiled module is missing (broken build): NumPy still works
        pass
    else:
        classes["cython"] = CythonBackend
    return classes


def available_backends() -> list[str]:
    """Names of the backends usable in this installation, fastest first."""
    classes = _backend_classes()
    return [name for name in ("cython", "numpy") if name in classes]


def default_n_threads() -> int:
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def make_backend(name: str, n_threads: int | None = None) -> Backend:
    """Build the backend called ``name`` (``"auto"`` picks the fastest available)."""
    classes = _backend_classes()
    if name == "auto":
        name = available_backends()[0]
    if name not in classes:
        raise ValueError(f"backend {name!r} is not available in this installation; "
                         f"available: {available_backends()}")
    return classes[name](default_n_threads() if n_threads is None else n_threads)
