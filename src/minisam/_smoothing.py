"""The neighbourhood-smoothing half of a batch epoch, shared by the compiled backends.

Given per-node sums ``S`` and counts ``c`` of the samples each node won, the batch SOM needs
``num = H S`` and ``den = H c`` with ``H[k, m] = h(d(k, m), sigma)``. On a rectangular lattice the
gaussian factorises, ``H = Hx (x) Hy``, so ``num`` costs ``O(K (X + Y) D)`` as two small matrix
products instead of ``O(K^2 D)``. Other neighbourhoods use ``H`` restricted to the nodes that won
at least one sample, a block of rows at a time.
"""

from __future__ import annotations

import numpy as np

from minisam.reference import neighbourhood_matrix

__all__ = ["apply_batch_rule", "smooth"]

_BLOCK_ELEMENTS = 1 << 22


def _axis_gaussian(n: int, sigma: float) -> np.ndarray:
    offsets = np.arange(n, dtype=np.float64)
    return np.exp(-((offsets[:, None] - offsets[None, :]) ** 2) / (2.0 * sigma * sigma))


def smooth(sums: np.ndarray, counts: np.ndarray, sigma: float, coords: np.ndarray,
           neighbourhood: str, lattice_shape: tuple[int, int] | None):
    """Return ``(num, den)``: ``H @ sums`` and ``H @ counts`` (float64)."""
    n_nodes, n_features = sums.shape
    if lattice_shape is not None and neighbourhood == "gaussian":
        x, y = lattice_shape
        hx, hy = _axis_gaussian(x, sigma), _axis_gaussian(y, sigma)
        stacked = np.concatenate([sums, counts[:, None]], axis=1).reshape(x, y, n_features + 1)
        along_x = (hx @ stacked.reshape(x, -1)).reshape(x, y, n_features + 1)
        both = np.matmul(hy, along_x)  # hy (y, y) applied to every row i
        both = both.reshape(n_nodes, n_features + 1)
        return both[:, :n_features], both[:, n_features]
    occupied = np.flatnonzero(counts)
    num = np.empty((n_nodes, n_features))
    den = np.empty(n_nodes)
    rows = max(1, _BLOCK_ELEMENTS // max(1, occupied.size))
    for start in range(0, n_nodes, rows):
        stop = min(n_nodes, start + rows)
        h = neighbourhood_matrix(coords[start:stop], coords[occupied], sigma, neighbourhood)
        num[start:stop] = h @ sums[occupied]
        den[start:stop] = h @ counts[occupied]
    return num, den


def apply_batch_rule(weights: np.ndarray, sums: np.ndarray, counts: np.ndarray, alpha: float,
                     sigma: float, coords: np.ndarray, neighbourhood: str,
                     lattice_shape: tuple[int, int] | None) -> None:
    """``w = (1 - alpha) w + alpha num / den`` in place, for nodes with ``den > 0``."""
    num, den = smooth(sums, counts, sigma, coords, neighbourhood, lattice_shape)
    visited = den > 0
    target = num[visited] / den[visited, None]
    weights[visited] = (1.0 - alpha) * weights[visited] + alpha * target
