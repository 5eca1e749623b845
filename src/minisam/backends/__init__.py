"""Compute backends: one interface (:class:`Backend`), several engines.

``available_backends()`` lists the engines importable in this installation and
``make_backend(name, n_jobs)`` builds one; ``"auto"`` picks the fastest available.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings

from minisam.backends.auto import AutoBackend, preferences
from minisam.backends.base import Backend

__all__ = ["BACKEND_NAMES", "AutoBackend", "Backend", "available_backends", "cython_parallel",
           "default_n_threads", "make_backend"]

#: Every backend name the API accepts, ``"auto"`` included.
BACKEND_NAMES = ("auto", "numpy", "cython", "numba")


# Engine modules are imported only when an engine is asked for: importing Numba costs
# ~0.7 s, which a process that only uses the Cython or NumPy engine should not pay.
_ENGINES = {
    "cython": ("minisam.backends.cython_backend", "CythonBackend"),
    "numba": ("minisam.backends.numba_backend", "NumbaBackend"),
    "numpy": ("minisam.backends.numpy_backend", "NumpyBackend"),
}
#: Speed order (see :mod:`minisam.backends.auto` for the per-operation preferences).
_FASTEST_FIRST = ("cython", "numba", "numpy")


def _is_installed(name: str) -> bool:
    """Whether engine ``name`` can run here, without importing heavy dependencies."""
    if name == "cython":  # a compiled variant exists (minisam._kernel_variants picks one)
        from minisam._kernel_variants import installed_variants

        return bool(installed_variants())
    if name == "numba":
        return importlib.util.find_spec("numba") is not None
    return True


def _engine_class(name: str) -> type[Backend]:
    module_name, class_name = _ENGINES[name]
    return getattr(importlib.import_module(module_name), class_name)


def available_backends() -> list[str]:
    """Names of the engines usable in this installation, fastest first."""
    return [name for name in _FASTEST_FIRST if _is_installed(name)]


def cython_parallel() -> bool:
    """Whether the Cython engine is installed and was built with OpenMP (can use threads)."""
    if not _is_installed("cython"):
        return False
    from minisam import _cython_kernels

    return bool(_cython_kernels.openmp_enabled())


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
    to the engine measured fastest for it among those available. ``n_threads=None`` means
    :func:`default_n_threads`; asking a Cython engine built without OpenMP for more than one
    thread warns (``RuntimeWarning``), since it can only use one.
    """
    requested = n_threads
    n_threads = default_n_threads() if n_threads is None else n_threads
    available = available_backends()
    if name == "auto":
        order = preferences(cython_parallel=cython_parallel(), n_threads=n_threads)
        needed = {next(engine for engine in order[op] if engine in available) for op in order}
        return AutoBackend({engine: _engine_class(engine)(n_threads) for engine in needed},
                           n_threads, order)
    if name not in available:
        raise ValueError(f"backend {name!r} is not available in this installation; "
                         f"available: {available}")
    if name == "cython" and requested is not None and requested > 1 and not cython_parallel():
        warnings.warn(f"minisam was built without OpenMP, so the 'cython' backend runs on one "
                      f"thread (n_jobs={requested} has no effect); backend='numba' or 'auto' "
                      f"use several", RuntimeWarning, stacklevel=3)
    return _engine_class(name)(n_threads)
