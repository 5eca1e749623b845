"""The ``numba`` backend: kernels JIT-compiled by Numba, parallel with ``prange``."""

from __future__ import annotations

from contextlib import contextmanager

import numba

from minisam import _numba_kernels, _processes
from minisam.backends.compiled import CompiledBackend

__all__ = ["NumbaBackend"]


@contextmanager
def _numba_threads(n_threads: int):
    """Run with ``n_threads`` Numba threads (capped at NUMBA_NUM_THREADS), then restore.
    In a process forked after kernels ran, Numba's threading layer is left alone."""
    if _processes.forked_after_kernels():
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


class NumbaBackend(CompiledBackend):
    """Backend running the Numba kernels. The first call of each kernel and dtype compiles it
    (or loads it from Numba's on-disk cache)."""

    name = "numba"

    @property
    def kernels(self):
        """The kernel module; its serial twins in a process forked after kernels ran (Numba's
        ``omp`` layer terminates such a child at its first parallel call)."""
        return _numba_kernels.SERIAL if _processes.forked_after_kernels() else _numba_kernels

    def bmu_many(self, weights, data):
        with _numba_threads(self._threads()):
            return super().bmu_many(weights, data)

    def top2_many(self, weights, data):
        with _numba_threads(self._threads()):
            return super().top2_many(weights, data)

    def batch_sums(self, weights, data, sums, counts):
        with _numba_threads(self._threads()):
            super().batch_sums(weights, data, sums, counts)

    def masked_bmu_many(self, weights, data):
        with _numba_threads(self._threads()):
            return super().masked_bmu_many(weights, data)

    def masked_top2_many(self, weights, data):
        with _numba_threads(self._threads()):
            return super().masked_top2_many(weights, data)

    def masked_batch_sums(self, weights, data, sums, counts):
        with _numba_threads(self._threads()):
            super().masked_batch_sums(weights, data, sums, counts)
