"""The interface every compute backend implements.

A backend runs the numerical kernels on plain arrays. It holds no model state and applies no
policy: the API classes validate inputs, draw random numbers and compute schedules, then hand
the backend C-contiguous arrays of one float dtype (float32 or float64) and scalars.

Shapes: ``weights`` is ``(n_nodes, n_features)``, ``data`` is ``(n_samples, n_features)``,
``coords`` is ``(n_nodes, 2)`` float64 positions of the nodes in the plane (see
:class:`minisam.topology.Topology`), and ``periods`` is ``None`` for a planar map or the pair
of axis periods of a torus (``0.0`` for an open axis): grid offsets are then minimum images.

The ``masked_*`` operations take data in which NaN marks a missing value (every row has at
least one observed feature; the API layer checks it): distances are sums over the observed
features of each sample (not scaled), online steps move only observed components, and batch
sums count every component separately.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["Backend"]


class Backend(ABC):
    """Abstract compute backend.

    Parameters
    ----------
    n_threads : int
        Number of threads the backend's kernels may use. Results never depend on it.
    """

    #: Registry name of the backend (``"numpy"``, ``"cython"``, ``"numba"``).
    name: str = ""

    def __init__(self, n_threads: int = 1) -> None:
        self.n_threads = int(n_threads)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_threads={self.n_threads})"

    @abstractmethod
    def bmu_many(self, weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best-matching unit of every sample: ``(index int64[n], squared distance[n])``."""

    @abstractmethod
    def top2_many(self, weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best and second-best node of every sample (``-1`` when the map has one node)."""

    @abstractmethod
    def train_online(self, weights: np.ndarray, data: np.ndarray, order: np.ndarray,
                     alphas: np.ndarray, sigmas: np.ndarray, coords: np.ndarray,
                     neighbourhood: str, periods=None) -> None:
        """Run ``len(order)`` online steps in place (see :func:`minisam.reference.train_online`)."""

    @abstractmethod
    def batch_sums(self, weights: np.ndarray, data: np.ndarray, sums: np.ndarray,
                   counts: np.ndarray) -> None:
        """First half of a batch epoch: add every row of ``data`` to ``sums[bmu]`` (float64,
        ``(n_nodes, n_features)``) and count it in ``counts`` (float64, ``(n_nodes,)``).

        Rows are added in order to what ``sums`` already holds, so calls on consecutive row
        slices of the data give bitwise the sums of one call on all of it.
        """

    @abstractmethod
    def batch_update(self, weights: np.ndarray, sums: np.ndarray, counts: np.ndarray,
                     alpha: float, sigma: float, coords: np.ndarray, neighbourhood: str,
                     periods=None) -> None:
        """Second half of a batch epoch: the neighbourhood smoothing of the sums and the
        batch rule, in place (see :func:`minisam.reference.batch_update`)."""

    @abstractmethod
    def masked_bmu_many(self, weights: np.ndarray,
                        data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`bmu_many` over each sample's observed features (see
        :func:`minisam.reference.masked_bmu_many`)."""

    @abstractmethod
    def masked_top2_many(self, weights: np.ndarray,
                         data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top2_many` over each sample's observed features."""

    @abstractmethod
    def masked_train_online(self, weights: np.ndarray, data: np.ndarray, order: np.ndarray,
                            alphas: np.ndarray, sigmas: np.ndarray, coords: np.ndarray,
                            neighbourhood: str, periods=None) -> None:
        """Online steps on data with missing values, in place (see
        :func:`minisam.reference.masked_train_online`)."""

    @abstractmethod
    def masked_batch_sums(self, weights: np.ndarray, data: np.ndarray, sums: np.ndarray,
                          counts: np.ndarray) -> None:
        """:meth:`batch_sums` for data with missing values: ``counts`` has one column per
        feature (see :func:`minisam.reference.masked_batch_sums`); :meth:`batch_update`
        accepts such counts."""

    def batch_epoch(self, weights: np.ndarray, data: np.ndarray, alpha: float, sigma: float,
                    coords: np.ndarray, neighbourhood: str, periods=None) -> None:
        """Run one batch epoch in place (see :func:`minisam.reference.batch_epoch`):
        :meth:`batch_sums` over all of ``data``, then :meth:`batch_update`."""
        sums = np.zeros(weights.shape, dtype=np.float64)
        counts = np.zeros(weights.shape[0], dtype=np.float64)
        self.batch_sums(weights, data, sums, counts)
        self.batch_update(weights, sums, counts, alpha, sigma, coords, neighbourhood, periods)
