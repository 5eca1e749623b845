"""The ``numpy`` backend: the reference implementation behind the backend interface."""

from __future__ import annotations

from minisam import reference
from minisam.backends.base import Backend

__all__ = ["NumpyBackend"]


class NumpyBackend(Backend):
    """Pure-NumPy backend (the correctness oracle). ``n_threads`` is ignored: NumPy's BLAS
    decides its own threading."""

    name = "numpy"

    def bmu_many(self, weights, data):
        return reference.bmu_many(weights, data)

    def top2_many(self, weights, data):
        return reference.top2_many(weights, data)

    def train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                     periods=None):
        reference.train_online(weights, data, order, alphas, sigmas, coords, neighbourhood,
                               periods=periods)

    def batch_sums(self, weights, data, sums, counts):
        reference.batch_sums(weights, data, sums, counts)

    def batch_update(self, weights, sums, counts, alpha, sigma, coords, neighbourhood,
                     periods=None):
        reference.batch_update(weights, sums, counts, alpha, sigma, coords, neighbourhood,
                               periods)

    def masked_bmu_many(self, weights, data):
        return reference.masked_bmu_many(weights, data)

    def masked_top2_many(self, weights, data):
        return reference.masked_top2_many(weights, data)

    def masked_train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                            periods=None):
        reference.masked_train_online(weights, data, order, alphas, sigmas, coords,
                                      neighbourhood, periods)

    def masked_batch_sums(self, weights, data, sums, counts):
        reference.masked_batch_sums(weights, data, sums, counts)
