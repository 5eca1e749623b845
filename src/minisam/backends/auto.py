"""The ``auto`` backend: each operation goes to the engine measured fastest for it.

The preferences below come from ``python -m minisam.bench`` on the reference machine (2-core
AMD EPYC Zen 4, see README "Performance"). Cython comes first wherever it is at least as fast,
because it has no compile latency: Numba's kernels compile (or load from the on-disk cache) on
their first call, which dominates small calls. An engine missing from the installation is
skipped, so ``auto`` always resolves to something that works.
"""

from __future__ import annotations

from minisam.backends.base import Backend

__all__ = ["OPERATIONS", "PREFERENCES", "AutoBackend"]

OPERATIONS = ("bmu_many", "top2_many", "train_online", "batch_epoch")

#: Engines in order of preference, per operation.
PREFERENCES: dict[str, tuple[str, ...]] = {
    "bmu_many": ("cython", "numba", "numpy"),
    "top2_many": ("cython", "numba", "numpy"),
    "train_online": ("cython", "numba", "numpy"),
    "batch_epoch": ("cython", "numba", "numpy"),
}


class AutoBackend(Backend):
    """Dispatch every operation to the preferred available engine.

    Parameters
    ----------
    engines : dict of str to Backend
        The available engines, by name.
    """

    name = "auto"

    def __init__(self, engines: dict[str, Backend], n_threads: int = 1) -> None:
        super().__init__(n_threads)
        self._route = {op: engines[next(name for name in PREFERENCES[op] if name in engines)]
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

    def train_online(self, weights, data, order, alphas, sigmas, coords, neighbourhood):
        self._route["train_online"].train_online(weights, data, order, alphas, sigmas, coords,
                                                 neighbourhood)

    def batch_epoch(self, weights, data, alpha, sigma, coords, neighbourhood):
        self._route["batch_epoch"].batch_epoch(weights, data, alpha, sigma, coords,
                                               neighbourhood)
