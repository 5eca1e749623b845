"""The neighbourhood-smoothing half of a batch epoch, shared by the compiled backends.

Given per-node sums ``S`` and counts ``c`` of the samples each node won, the batch SOM needs
``num = H S`` and ``den = H c`` with ``H[k, m] = h(d(k, m), sigma)``. On a separable lattice
(rectangular or hexagonal, planar or toroidal: see :func:`minisam.topology.separable_columns`)
the gaussian factorises into a row factor and a column factor,
``exp(-dr^2 / 2s^2) exp(-dc^2 / 2s^2)``, so ``num`` costs ``O(K (X + Y) D)`` as small matrix
products instead of ``O(K^2 D)``. On a hexagonal lattice the column offset depends on whether
the two rows are shifted alike, so the products are taken per pair of row offsets. Other
neighbourhoods use ``H`` restricted to the nodes that won at least one sample, a block of rows
at a time.
"""

from __future__ import annotations

import numpy as np

from minisam.reference import neighbourhood_matrix, wrap_axis
from minisam.topology import separable_columns

__all__ = ["apply_batch_rule", "smooth"]

_BLOCK_ELEMENTS = 1 << 22


def _axis_gaussian(offsets: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-(offsets * offsets) / (2.0 * sigma * sigma))


def _separable(stacked: np.ndarray, rows: np.ndarray, row_offsets: np.ndarray, sigma: float,
               periods) -> np.ndarray:
    """``H @ stacked`` for the gaussian on a separable lattice; ``stacked`` is ``(X, Y, F)``."""
    x, y, width = stacked.shape
    p0, p1 = (0.0, 0.0) if periods is None else periods
    hr = _axis_gaussian(wrap_axis(rows[:, None] - rows[None, :], p0), sigma)
    cols = np.arange(y, dtype=np.float64)
    groups = np.unique(row_offsets)
    if groups.size == 1:  # rectangular: H = Hr (x) Hc
        hc = _axis_gaussian(wrap_axis(cols[:, None] - cols[None, :], p1), sigma)
        along_rows = (hr @ stacked.reshape(x, -1)).reshape(x, y, width)
        return np.matmul(hc, along_rows)  # hc (y, y) applied to every row
    out = np.zeros_like(stacked)
    for target in groups:
        into = row_offsets == target
        for source in groups:
            come = row_offsets == source
            hc = _axis_gaussian(
                wrap_axis((target - source) + (cols[:, None] - cols[None, :]), p1), sigma)
            along_rows = hr[np.ix_(into, come)] @ stacked[come].reshape(int(come.sum()), -1)
            out[into] += np.matmul(hc, along_rows.reshape(-1, y, width))
    return out


def _separable_gaussian(stacked: np.ndarray, coords: np.ndarray, sigma: float, periods,
                        shape) -> np.ndarray | None:
    """``H @ stacked`` (``stacked``: ``(n_nodes, F)``) when the gaussian is separable on
    these ``coords``: as laid out, or with the two axes swapped (MiniSom's hexagonal layout,
    whose columns alternate; needs the map's ``shape``). None otherwise."""
    n_nodes, width = stacked.shape
    grid_y = separable_columns(coords)
    if grid_y:
        firsts = coords[::grid_y]
        out = _separable(stacked.reshape(n_nodes // grid_y, grid_y, width), firsts[:, 0],
                         firsts[:, 1], sigma, periods)
        return out.reshape(n_nodes, width)
    if shape is None:
        return None
    x, y = shape
    swapped = coords.reshape(x, y, 2).transpose(1, 0, 2)[..., ::-1].reshape(n_nodes, 2)
    if separable_columns(swapped) != x:
        return None
    firsts = swapped[::x]
    out = _separable(stacked.reshape(x, y, width).transpose(1, 0, 2), firsts[:, 0],
                     firsts[:, 1], sigma, None if periods is None else periods[::-1])
    return out.transpose(1, 0, 2).reshape(n_nodes, width)


def smooth(sums: np.ndarray, counts: np.ndarray, sigma: float, coords: np.ndarray,
           neighbourhood: str, periods=None, shape=None):
    """Return ``(num, den)``: ``H @ sums`` and ``H @ counts`` (float64).

    ``counts`` is ``(n_nodes,)`` or, with missing values, ``(n_nodes, n_features)`` (one count
    per component); ``den`` has its shape. ``shape`` (the map's ``(x, y)``) lets the gaussian
    be separable on layouts whose columns, not rows, are the lines of the lattice.
    """
    n_nodes, n_features = sums.shape
    per_node = counts.ndim == 1
    if neighbourhood == "gaussian":
        both = _separable_gaussian(
            np.concatenate([sums, counts[:, None] if per_node else counts], axis=1), coords,
            sigma, periods, shape)
        if both is not None:
            return both[:, :n_features], (both[:, n_features] if per_node
                                          else both[:, n_features:])
    occupied = np.flatnonzero(counts if per_node else counts.any(axis=1))
    num = np.empty((n_nodes, n_features))
    den = np.empty(counts.shape)
    rows = max(1, _BLOCK_ELEMENTS // max(1, occupied.size))
    for start in range(0, n_nodes, rows):
        stop = min(n_nodes, start + rows)
        h = neighbourhood_matrix(coords[start:stop], coords[occupied], sigma, neighbourhood,
                                 periods)
        num[start:stop] = h @ sums[occupied]
        den[start:stop] = h @ counts[occupied]
    return num, den


def apply_batch_rule(weights: np.ndarray, sums: np.ndarray, counts: np.ndarray, alpha: float,
                     sigma: float, coords: np.ndarray, neighbourhood: str,
                     periods=None, shape=None) -> None:
    """``w = (1 - alpha) w + alpha num / den`` in place, where ``den > 0``: per node, or per
    component when ``counts`` has one column per feature (missing values)."""
    num, den = smooth(sums, counts, sigma, coords, neighbourhood, periods, shape)
    if den.ndim == 1:
        visited = den > 0
        target = num[visited] / den[visited, None]
        weights[visited] = (1.0 - alpha) * weights[visited] + alpha * target
        return
    visited = den > 0
    weights[visited] = (1.0 - alpha) * weights[visited] + alpha * (num[visited] / den[visited])
