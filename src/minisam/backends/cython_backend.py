"""The ``cython`` backend: OpenMP-parallel Cython kernels compiled at build time."""

from __future__ import annotations

import numpy as np

from minisam import _cython_kernels
from minisam.backends.numpy_backend import NumpyBackend

__all__ = ["CythonBackend"]


class CythonBackend(NumpyBackend):
    """Backend running the compiled Cython kernels.

    Kernels not yet compiled fall back to the NumPy reference implementation inherited from
    :class:`~minisam.backends.numpy_backend.NumpyBackend`.
    """

    name = "cython"

    def bmu_many(self, weights, data):
        index = np.empty(data.shape[0], dtype=np.int64)
        d2 = np.empty(data.shape[0], dtype=weights.dtype)
        _cython_kernels.bmu_many(weights, data, index, d2, self.n_threads)
        return index, d2
