"""Kernels in forked processes: serial after ``fork``, so a forked child never hangs.

GNU libgomp (the OpenMP runtime of GCC builds, which the Cython kernels and Numba's ``omp``
threading layer share) is not fork-safe: a child forked after the parent ran a parallel
region inherits a thread pool whose threads do not exist in the child, and its first parallel
region with more than one thread waits for them forever (GCC bug 60035). Numba's ``omp`` layer
detects the situation and terminates the child instead.

minisam therefore records, per process, whether its compiled kernels have run
(:func:`kernel_threads` is called before every compiled kernel call) and registers an
``os.register_at_fork`` hook: in a child forked after that, every kernel runs on one thread
(the Cython kernels with ``n_threads=1``, the Numba ones compiled without their parallel
layer), with one ``RuntimeWarning`` per child saying why. The parent keeps its threads.
Processes started with ``spawn`` or ``forkserver`` are fresh interpreters and run in parallel.
"""

from __future__ import annotations

import os
import warnings

__all__ = ["forked_after_kernels", "kernel_threads"]

#: Whether this process ran a compiled kernel (so its OpenMP runtime may hold threads).
_kernels_ran = False
#: Whether this process was forked from one whose kernels had run.
_forked = False
_warned = False

FORK_WARNING = (
    "minisam: this process was forked after minisam's compiled kernels ran in its parent; "
    "OpenMP (GNU libgomp, also used by Numba's 'omp' layer) cannot start threads in such a "
    "child, so minisam's kernels run serially here. To keep them parallel, start worker "
    "processes with the 'spawn' or 'forkserver' method (e.g. "
    "multiprocessing.get_context('spawn')), or fork before the first training call.")


def _after_fork_in_child() -> None:
    global _forked, _warned
    if _kernels_ran:
        _forked = True
        _warned = False


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_after_kernels() -> bool:
    """Whether this process was forked after its parent ran minisam's compiled kernels."""
    return _forked


def kernel_threads(n_threads: int) -> int:
    """Threads a compiled kernel call may use: ``n_threads``, or 1 in a child forked after
    kernels ran (warning once per process when that lowers the count). Marks this process as
    one whose kernels have run."""
    global _kernels_ran, _warned
    _kernels_ran = True
    if not _forked:
        return n_threads
    if not _warned:
        _warned = True
        warnings.warn(FORK_WARNING, RuntimeWarning, stacklevel=3)
    return 1
