"""Pure-NumPy reference implementation of the SOM maths: the correctness oracle.

Every compiled kernel in minisam is tested against the functions in this module, and the
``numpy`` backend is a thin wrapper around them. They favour clarity and exactness over speed:
distances are computed directly as ``sum((x - w) ** 2)`` (no ``|x|^2 - 2 x.w + |w|^2``
cancellation), but never materialise an ``n_samples x n_nodes x n_features`` tensor larger than a
fixed budget.

Conventions shared with the kernels
-----------------------------------
* Weights are a C-contiguous ``(n_nodes, n_features)`` array; node ``k`` sits at grid position
  ``(k // y, k % y)`` (row-major over an ``x`` by ``y`` map).
* Node coordinates are a ``(n_nodes, 2)`` float64 array of positions in the plane; on a
  rectangular grid node ``k`` has coordinates ``(k // y, k % y)``, on a hexagonal one
  ``((k // y) * sqrt(3) / 2, k % y + 0.5 * ((k // y) % 2))`` (odd rows shifted half a step).
* ``periods`` ``(p0, p1)`` make a coordinate axis periodic (a torus) where ``p > 0``: an offset
  ``d`` along it is replaced by its minimum image ``min(|d| mod p, p - |d| mod p)``. ``None`` or
  zeros: a planar map.
* Ties in a best-matching-unit search go to the lowest node index.
* Missing values (the masked functions): NaN entries of ``data`` are missing. Distances are
  sums over the sample's observed features only (unscaled: the API layer reports them scaled
  by ``n_features / n_observed``), online steps move only the observed components, and batch
  sums count every component separately (``counts`` of shape ``(n_nodes, n_features)``).
* Neighbourhood functions map the grid offset between a node and the winner and a radius
  ``sigma`` to an influence. ``gaussian``, ``bubble`` and ``mexican_hat`` depend on the squared
  distance ``d2 = dx^2 + dy^2`` only; ``minisom_bubble`` and ``triangle`` are products of one
  factor per axis (MiniSom's definitions). ``mexican_hat`` can be negative.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "AXIS_NEIGHBOURHOOD_FUNCTIONS",
    "NEIGHBOURHOOD_FUNCTIONS",
    "NEIGHBOURHOODS",
    "batch_epoch",
    "batch_sums",
    "batch_update",
    "bmu_many",
    "masked_batch_sums",
    "masked_bmu_many",
    "masked_top2_many",
    "masked_train_online",
    "bmu_one",
    "bubble",
    "gaussian",
    "grid_coordinates",
    "grid_distances",
    "hexagonal_coordinates",
    "influence",
    "mexican_hat",
    "minisom_bubble",
    "neighbourhood_matrix",
    "squared_grid_distances",
    "tabulated_influence",
    "top2_many",
    "train_online",
    "triangle",
    "wrap_axis",
    "wrap_offsets",
]

#: Largest number of elements of a temporary ``(rows, n_nodes, n_features)`` block.
_BLOCK_ELEMENTS = 1 << 21


# ------------------------------------------------------------------------ grid and neighbourhoods
def grid_coordinates(x: int, y: int) -> np.ndarray:
    """Coordinates ``(i, j)`` of every node of an ``x`` by ``y`` rectangular map, row-major."""
    rows = np.arange(x, dtype=np.float64)
    cols = np.arange(y, dtype=np.float64)
    ii, jj = np.meshgrid(rows, cols, indexing="ij")
    return np.column_stack([ii.ravel(), jj.ravel()])


def hexagonal_coordinates(x: int, y: int) -> np.ndarray:
    """Positions of the nodes of an ``x`` by ``y`` hexagonal map, row-major.

    Row ``i`` is a line of nodes one unit apart; odd rows are shifted half a step along the
    row, and rows are ``sqrt(3) / 2`` apart, so that every inner node has six neighbours at
    distance 1.
    """
    coords = grid_coordinates(x, y)
    rows = coords[:, 0].copy()
    coords[:, 0] = rows * (np.sqrt(3.0) / 2.0)
    coords[:, 1] += 0.5 * (rows % 2)
    return coords


def wrap_axis(offsets, period: float) -> np.ndarray:
    """Minimum images of offsets along one axis: ``min(|d| mod p, p - |d| mod p)`` for a
    period ``p > 0``; the offsets themselves (as float64) for ``p = 0`` (an open axis)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    if not period > 0:
        return offsets
    a = np.fmod(np.abs(offsets), period)
    return np.minimum(a, period - a)


def wrap_offsets(offsets: np.ndarray, periods=None) -> np.ndarray:
    """Minimum-image offsets on a torus: along every axis with period ``p > 0`` an offset
    ``d`` becomes ``min(|d| mod p, p - |d| mod p)`` (open axes keep ``d``).

    ``offsets`` has shape ``(..., 2)``; ``periods`` is ``None`` or a pair of floats.
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    if periods is None:
        return offsets
    return np.stack([wrap_axis(offsets[..., axis], period)
                     for axis, period in enumerate(periods)], axis=-1)


def squared_grid_distances(coords: np.ndarray, index: int, periods=None) -> np.ndarray:
    """Squared Euclidean grid distance from node ``index`` to every node (minimum image on
    the periodic axes)."""
    diff = wrap_offsets(coords - coords[index], periods)
    return np.einsum("kc,kc->k", diff, diff)


def grid_distances(coords: np.ndarray, a: np.ndarray, b: np.ndarray, periods=None) -> np.ndarray:
    """Euclidean grid distance between nodes ``a[n]`` and ``b[n]`` (minimum image)."""
    diff = wrap_offsets(coords[np.asarray(a)] - coords[np.asarray(b)], periods)
    return np.sqrt(np.einsum("...c,...c->...", diff, diff))


def gaussian(d2: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian influence ``exp(-d2 / (2 sigma^2))``."""
    return np.exp(-np.asarray(d2, dtype=np.float64) / (2.0 * sigma * sigma))


def bubble(d2: np.ndarray, sigma: float) -> np.ndarray:
    """Bubble influence: 1 inside the closed disc of radius ``sigma``, 0 outside."""
    return (np.asarray(d2, dtype=np.float64) <= sigma * sigma).astype(np.float64)


def mexican_hat(d2: np.ndarray, sigma: float) -> np.ndarray:
    """Mexican hat ``exp(-d2 / c) * (1 - 2 d2 / c)`` with ``c = 2 sigma^2`` (negative beyond
    ``d2 = c / 2``)."""
    d2 = np.asarray(d2, dtype=np.float64)
    c = 2.0 * sigma * sigma
    return np.exp(-d2 / c) * (1.0 - (2.0 / c) * d2)


def minisom_bubble(dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """MiniSom's bubble: 1 inside the *open* square ``|dx| < sigma`` and ``|dy| < sigma``."""
    inside = (np.abs(np.asarray(dx, dtype=np.float64)) < sigma) & (
        np.abs(np.asarray(dy, dtype=np.float64)) < sigma)
    return inside.astype(np.float64)


def triangle(dx: np.ndarray, dy: np.ndarray, sigma: float) -> np.ndarray:
    """Triangle ``max(0, sigma - |dx|) * max(0, sigma - |dy|)`` (peak ``sigma^2``)."""
    fx = np.maximum(0.0, sigma - np.abs(np.asarray(dx, dtype=np.float64)))
    fy = np.maximum(0.0, sigma - np.abs(np.asarray(dy, dtype=np.float64)))
    return fx * fy


#: Neighbourhoods that depend on the squared grid distance only: ``f(d2, sigma)``.
NEIGHBOURHOOD_FUNCTIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "gaussian": gaussian,
    "bubble": bubble,
    "mexican_hat": mexican_hat,
}

#: Neighbourhoods that are a product of per-axis factors: ``f(dx, dy, sigma)``.
AXIS_NEIGHBOURHOOD_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, float],
                                                 np.ndarray]] = {
    "minisom_bubble": minisom_bubble,
    "triangle": triangle,
}

#: Every neighbourhood name the kernels understand.
NEIGHBOURHOODS = (*NEIGHBOURHOOD_FUNCTIONS, *AXIS_NEIGHBOURHOOD_FUNCTIONS)


def influence(offsets: np.ndarray, sigma: float, neighbourhood: str,
              periods=None) -> np.ndarray:
    """Influence of a winner on nodes at grid ``offsets`` (``(..., 2)``: ``dx, dy``), taken
    as minimum images on the periodic axes."""
    offsets = wrap_offsets(offsets, periods)
    dx = offsets[..., 0]
    dy = offsets[..., 1]
    if neighbourhood in AXIS_NEIGHBOURHOOD_FUNCTIONS:
        return AXIS_NEIGHBOURHOOD_FUNCTIONS[neighbourhood](dx, dy, sigma)
    return NEIGHBOURHOOD_FUNCTIONS[neighbourhood](dx * dx + dy * dy, sigma)


def neighbourhood_matrix(targets: np.ndarray, centres: np.ndarray, sigma: float,
                         neighbourhood: str, periods=None) -> np.ndarray:
    """Influence of a winner at each of ``centres`` (columns) on each of ``targets`` (rows).

    Both arguments are ``(m, 2)`` arrays of grid coordinates.
    """
    return influence(targets[:, None, :] - centres[None, :, :], sigma, neighbourhood, periods)


# --------------------------------------------------------------------------- best-matching units
def bmu_one(weights: np.ndarray, v: np.ndarray) -> tuple[int, float]:
    """Best-matching unit of one sample: ``(node index, squared distance)``."""
    d2 = np.einsum("kd,kd->k", weights - v, weights - v)
    k = int(np.argmin(d2))  # argmin returns the first minimum: ties go to the lowest index
    return k, float(d2[k])


def _row_blocks(n_rows: int, n_nodes: int, n_features: int):
    rows = max(1, _BLOCK_ELEMENTS // max(1, n_nodes * n_features))
    for start in range(0, n_rows, rows):
        yield start, min(n_rows, start + rows)


def _block_distances(weights: np.ndarray, block: np.ndarray) -> np.ndarray:
    diff = block[:, None, :] - weights[None, :, :]
    return np.einsum("nkd,nkd->nk", diff, diff)


def bmu_many(weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-matching unit of every row of ``data``.

    Returns
    -------
    index : ndarray of int64, shape (n_samples,)
    d2 : ndarray, shape (n_samples,), in the dtype of ``weights``
        Squared Euclidean distance to that node.
    """
    n = data.shape[0]
    index = np.empty(n, dtype=np.int64)
    d2 = np.empty(n, dtype=weights.dtype)
    for start, stop in _row_blocks(n, *weights.shape):
        dist = _block_distances(weights, data[start:stop])
        best = np.argmin(dist, axis=1)
        index[start:stop] = best
        d2[start:stop] = dist[np.arange(stop - start), best]
    return index, d2


def top2_many(weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best and second-best node of every row (ties: lower index first).

    With a single node, the second-best index is ``-1``.
    """
    n, n_nodes = data.shape[0], weights.shape[0]
    first = np.empty(n, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    for start, stop in _row_blocks(n, *weights.shape):
        dist = _block_distances(weights, data[start:stop])
        order = np.argsort(dist, axis=1, kind="stable")
        first[start:stop] = order[:, 0]
        if n_nodes > 1:
            second[start:stop] = order[:, 1]
    return first, second


# --------------------------------------------------------------------------- training
def tabulated_influence(tables, t: int, bmu: int) -> np.ndarray:
    """Influence of winner ``bmu`` at step ``t`` under the ``'tabulated'`` neighbourhood.

    ``tables = (xtab, ytab, xpos, ypos, ycode)``: node ``k`` has the integer positions
    ``xpos[k]``, ``ypos[k]``; its influence is ``xtab[t, |xpos[k] - xpos[b]|] *
    ytab[t, ycode[ypos[k], ypos[b]]]``. It lets a caller supply a separable neighbourhood whose
    factors it computed itself (MiniSom's gaussian, with NumPy's ``exp``, on any layout).
    """
    xtab, ytab, xpos, ypos, ycode = tables
    return xtab[t, np.abs(xpos - xpos[bmu])] * ytab[t, ycode[ypos, ypos[bmu]]]


def train_online(weights: np.ndarray, data: np.ndarray, order: np.ndarray, alphas: np.ndarray,
                 sigmas: np.ndarray, coords: np.ndarray, neighbourhood: str,
                 tables=None, periods=None) -> None:
    """Online (sequential) SOM training, in place.

    Step ``t`` presents ``v = data[order[t]]``, finds its best-matching unit ``b`` and moves every
    node towards ``v``: ``w_k += alphas[t] * h(coords[k] - coords[b], sigmas[t]) * (v - w_k)``
    (``h`` from :func:`influence`; it may be negative for ``mexican_hat``). For
    ``neighbourhood='tabulated'``, ``h`` comes from ``tables`` (see
    :func:`tabulated_influence`) and ``sigmas`` and ``coords`` are not used. On a torus
    (``periods``) the offsets are minimum images.
    """
    for t in range(order.shape[0]):
        diff = data[order[t]] - weights  # v - w serves both the search and the update
        b = int(np.argmin(np.einsum("kd,kd->k", diff, diff)))
        if neighbourhood == "tabulated":
            h = tabulated_influence(tables, t, b)
        else:
            h = influence(coords - coords[b], sigmas[t], neighbourhood, periods)
        diff *= (h * alphas[t])[:, None]
        weights += diff


def batch_sums(weights: np.ndarray, data: np.ndarray, sums: np.ndarray,
               counts: np.ndarray) -> None:
    """Add every row of ``data`` to ``sums[b]`` and count it in ``counts[b]``, ``b`` its
    best-matching unit (both float64, accumulated in row order)."""
    index, _ = bmu_many(weights, data)
    counts += np.bincount(index, minlength=weights.shape[0])
    np.add.at(sums, index, data.astype(np.float64, copy=False))


def batch_update(weights: np.ndarray, sums: np.ndarray, counts: np.ndarray, alpha: float,
                 sigma: float, coords: np.ndarray, neighbourhood: str, periods=None) -> None:
    """The batch rule from per-node sums and counts, in place: ``num = H sums``,
    ``den = H counts`` (``H`` the neighbourhood between the nodes) and
    ``w = (1 - alpha) w + alpha num / den`` where ``den > 0`` (see :func:`batch_epoch`).

    ``counts`` is ``(n_nodes,)`` (one count per node) or ``(n_nodes, n_features)`` (one per
    component, from :func:`masked_batch_sums`): then each component has its own denominator
    and is updated only where it is positive."""
    n_nodes = weights.shape[0]
    occupied = np.flatnonzero(counts if counts.ndim == 1 else counts.any(axis=1))
    rows = max(1, _BLOCK_ELEMENTS // max(1, occupied.size))
    for start in range(0, n_nodes, rows):
        stop = min(n_nodes, start + rows)
        h = neighbourhood_matrix(coords[start:stop], coords[occupied], sigma, neighbourhood,
                                 periods)
        num = h @ sums[occupied]
        den = h @ counts[occupied]
        if den.ndim == 1:  # one count per node: the same denominator for every component
            den = np.repeat(den[:, None], weights.shape[1], axis=1)
        visited = den > 0
        block = weights[start:stop]
        block[visited] = (1.0 - alpha) * block[visited] + alpha * (num[visited]
                                                                   / den[visited])


def batch_epoch(weights: np.ndarray, data: np.ndarray, alpha: float, sigma: float,
                coords: np.ndarray, neighbourhood: str, periods=None) -> None:
    """One epoch of the batch SOM, in place.

    Every sample is assigned to its best-matching unit; then for each node
    ``num = sum_n h(k, bmu_n) x_n`` and ``den = sum_n h(k, bmu_n)`` and
    ``w_k = (1 - alpha) w_k + alpha num / den``. Nodes with ``den <= 0`` (no sample influences
    them, possible with the bubbles and the triangle; or negative mexican-hat sums) keep their
    weights rather than shrinking towards the origin. On a torus (``periods``) grid offsets
    are minimum images. It is :func:`batch_sums` followed by :func:`batch_update`.
    """
    n_nodes, n_features = weights.shape
    sums = np.zeros((n_nodes, n_features), dtype=np.float64)
    counts = np.zeros(n_nodes, dtype=np.float64)
    batch_sums(weights, data, sums, counts)
    batch_update(weights, sums, counts, alpha, sigma, coords, neighbourhood, periods)


# --------------------------------------------------------------------------- missing values
def _masked_block_distances(weights: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``sum over observed d of (x_d - w_d)^2`` for every row of ``block`` and node."""
    diff = block[:, None, :] - weights[None, :, :]
    diff[np.isnan(diff)] = 0.0  # a missing feature contributes nothing
    return np.einsum("nkd,nkd->nk", diff, diff)


def masked_bmu_many(weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best-matching unit of every row of ``data`` over its observed (non-NaN) features.

    Returns ``(index int64[n], d2[n])`` with ``d2`` the squared distance over the observed
    features (not scaled), in the dtype of ``weights``. Ties go to the lowest index.
    """
    n = data.shape[0]
    index = np.empty(n, dtype=np.int64)
    d2 = np.empty(n, dtype=weights.dtype)
    for start, stop in _row_blocks(n, *weights.shape):
        dist = _masked_block_distances(weights, data[start:stop])
        best = np.argmin(dist, axis=1)
        index[start:stop] = best
        d2[start:stop] = dist[np.arange(stop - start), best]
    return index, d2


def masked_top2_many(weights: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best and second-best node of every row over its observed features (``-1`` as the
    second with a single node)."""
    n, n_nodes = data.shape[0], weights.shape[0]
    first = np.empty(n, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    for start, stop in _row_blocks(n, *weights.shape):
        order = np.argsort(_masked_block_distances(weights, data[start:stop]), axis=1,
                           kind="stable")
        first[start:stop] = order[:, 0]
        if n_nodes > 1:
            second[start:stop] = order[:, 1]
    return first, second


def masked_train_online(weights: np.ndarray, data: np.ndarray, order: np.ndarray,
                        alphas: np.ndarray, sigmas: np.ndarray, coords: np.ndarray,
                        neighbourhood: str, periods=None) -> None:
    """Online training on data with missing values, in place: as :func:`train_online`, but
    the winner is found over the sample's observed features and only those components of
    every node move (``w_kd += alphas[t] * h * (v_d - w_kd)`` for observed ``d``)."""
    for t in range(order.shape[0]):
        v = data[order[t]]
        observed = ~np.isnan(v)
        diff = v[observed] - weights[:, observed]
        b = int(np.argmin(np.einsum("kd,kd->k", diff, diff)))
        h = influence(coords - coords[b], sigmas[t], neighbourhood, periods)
        diff *= (h * alphas[t])[:, None]
        weights[:, observed] += diff


def masked_batch_sums(weights: np.ndarray, data: np.ndarray, sums: np.ndarray,
                      counts: np.ndarray) -> None:
    """Per-component batch sums: add the observed entries of every row to ``sums[b]`` and
    count them in ``counts[b]`` (shape ``(n_nodes, n_features)``), ``b`` the row's
    best-matching unit over its observed features (SOM Toolbox: ``S = P X0``, ``A = P M``).
    :func:`batch_update` with these per-component counts divides every component by its
    own denominator."""
    index, _ = masked_bmu_many(weights, data)
    observed = ~np.isnan(data)
    np.add.at(sums, index, np.where(observed, data, 0.0).astype(np.float64))
    np.add.at(counts, index, observed.astype(np.float64))
