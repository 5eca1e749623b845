"""The ``auto`` backend: each operation goes to the engine measured fastest for it.

The preferences below come from ``python -m minisam.bench`` on the reference machine (2-core
AMD EPYC Zen 4, see README "Performance"). Cython comes first wherever it is at least as fast,
because it has no compile latency: Numba's kernels compile (or load from the on-disk cache) on
their first call, which dominates small calls. An engine missing from the installation is
skipped, so ``auto`` always resolves to something that works.
"""

from __future__ import annotations

from minisam.backends.base import Backend

__all__ = ["OPERATIONS", "PARALLEL_OPERATIONS", "PREFERENCES", "AutoBackend", "preferences"]

OPERATIONS = ("bmu_many", "top2_many", "train_online", "batch_epoch")

#: Engines in order of preference, per operation.
PREFERENCES: dict[str, tuple[str, ...]] = {
    "bmu_many": ("cython", "numba", "numpy"),
    "top2_many": ("cython", "numba", "numpy"),
    "train_online": ("cython", "numba", "numpy"),
    "batch_epoch": ("cython", "numba", "numpy"),
}

#: Operations whose Cython kernels need OpenMP to use more than one thread. (Online training
#: is not among them: Numba's online kernel is serial too, so Cython stays ahead there.)
PARALLEL_OPERATIONS = ("bmu_many", "top2_many", "batch_epoch")


def preferences(*, cython_parallel: bool, n_threads: int) -> dict[str, tuple[str, ...]]:
    """The engine order per operation for this installation and thread count.

    :data:`PREFERENCES`, except that a Cython module built without OpenMP runs serially, so
    when several threads are wanted the parallel operations prefer Numba.
    """
    if cython_parallel or n_threads <= 1:
        return dict(PREFERENCES)
    return {op: (("numba", *(e for e in order if e != "numba")) if op in PARALLEL_OPERATIONS
                 else order)
            for op, order in PREFERENCES.items()}


class AutoBackend(Backend):
    """Dispatch every operation to the preferred available engine.

    Parameters
    ----------
    engines : dict of str to Backend
        The available engines, by name.
    n_threads : int, default 1
        The thread count the engines were built with.
    order : dict of str to tuple of str, optional
        Engine order per operation (see :func:`preferences`); :data:`PREFERENCES` by default.
    """

    name = "auto"

    def __init__(self, engines: dict[str, Backend], n_threads: int = 1,
                 order: dict[str, tuple[str, ...]] | None = None) -> None:
        super().__init__(n_threads)
        order = PREFERENCES if order is None else order
        self._route = {op: engines[next(name for name in order[op] if name in engines)]
                       for op in OPERATIONS}

    @property
    def plan(self) -> dict[str, str]:
        """Which engine runs each operation, e.g. ``{'train_online': 'cython', ...}``."""
        return {op: backend.name for op, backend in self._route.items()}

    def __repr__(self) -> str:
        return f"AutoBackend({self.plan}, n_threads={self.n_threads})"

    def bmu_many(self, weights, data):
        return self._route["bmu_many"].bmu_many(weights, data)

    def top2_many(self, weights, data):
        return self._route["top2_many"].top2_many(weights, data)

    def train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                     periods=None):
        self._route["train_online"].train_online(weights, data, order, alphas, sigmas, coords,
                                                 neighbourhood, periods)

    def batch_sums(self, weights, data, sums, counts):
        self._route["batch_epoch"].batch_sums(weights, data, sums, counts)

    def batch_update(self, weights, sums, counts, alpha, sigma, coords, neighbourhood,
                     periods=None):
        self._route["batch_epoch"].batch_update(weights, sums, counts, alpha, sigma, coords,
                                                neighbourhood, periods)

    # Data with missing values go to the engine of the matching dense operation.
    def masked_bmu_many(self, weights, data):
        return self._route["bmu_many"].masked_bmu_many(weights, data)

    def masked_top2_many(self, weights, data):
        return self._route["top2_many"].masked_top2_many(weights, data)

    def masked_train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood,
                            periods=None):
        self._route["train_online"].masked_train_online(weights, data, order, alphas, sigmas,
                                                        coords, neighbourhood, periods)

    def masked_batch_sums(self, weights, data, sums, counts):
        self._route["batch_epoch"].masked_batch_sums(weights, data, sums, counts)
