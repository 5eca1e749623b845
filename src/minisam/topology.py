"""The geometry of a map: one object answers every geometric question for every caller.

A :class:`Topology` is an ``x`` by ``y`` lattice of nodes, rectangular or hexagonal, planar or
toroidal. Node ``k`` is at grid index ``(k // y, k % y)`` (row-major, as the weights are
stored). The topology gives

* the nodes' **positions** in the plane (:attr:`Topology.coords`, :meth:`Topology.positions`);
* **grid distances** between nodes, with the minimum image across the seams of a torus
  (:meth:`Topology.distances`, :attr:`Topology.periods`);
* each node's **neighbours** (8 on a rectangular lattice, diagonals included; 6 on a hexagonal
  one; across the seams on a torus) and the **adjacency** the topographic error uses.

The API classes hand :attr:`~Topology.coords` and :attr:`~Topology.periods` to the backends
(plain arrays: kernels never see this object); the batch smoothing, the quality measures and
the plots ask the topology itself.

Hexagonal layouts
-----------------
``layout='minisam'`` (``MiniSam``'s): row ``i`` is a line of nodes one unit apart, odd rows are
shifted by +0.5 along the row and rows are ``sqrt(3) / 2`` apart::

    row 0:  o   o   o   o
    row 1:    o   o   o   o
    row 2:  o   o   o   o

``layout='minisom'`` (MiniSom 2.3.6's, kept for the drop-in): column ``j`` is the line; the
last column and every second one before it are shifted by -0.5 along ``x`` and columns are
``sqrt(3) / 2`` apart.

A hexagonal torus needs an even number of lines along the axis whose lines alternate the
shift (rows for ``'minisam'``, columns for ``'minisom'``); otherwise the shift would not match
across the seam and the lattice would break there.
"""

from __future__ import annotations

import numpy as np

from minisam import reference
from minisam._validation import check_choice, check_flag, check_positive_int

__all__ = ["LATTICES", "Topology", "separable_columns"]

#: The lattices a map can have.
LATTICES = ("rectangular", "hexagonal")

#: MiniSom's hexagonal line spacing, ``(3 / 2) / sqrt(3)`` as MiniSom computes it (it can
#: differ from ``sqrt(3) / 2`` in the last bit; the drop-in must use MiniSom's value).
MINISOM_HEX_SPACING = (3.0 / 2.0) / np.sqrt(3)

# Neighbour offsets (di, dj). Rectangular: MiniSom's order (the drop-in's U-matrix sums them in
# this order). Hexagonal: for the two kinds of line, shifted or not.
_RECT_OFFSETS = ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1))
# 'minisam': rows are the lines; an odd row is shifted +0.5 along j.
_ROWS_EVEN = ((0, -1), (-1, -1), (-1, 0), (0, 1), (1, 0), (1, -1))
_ROWS_ODD = ((0, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0))
# 'minisom': columns are the lines; a shifted column sits -0.5 along i (MiniSom's order).
_COLUMNS_SHIFTED = ((0, 1), (1, 0), (0, -1), (-1, -1), (-1, 0), (-1, 1))
_COLUMNS_PLAIN = ((1, 1), (1, 0), (1, -1), (0, -1), (-1, 0), (0, 1))


class Topology:
    """An ``x`` by ``y`` map's geometry (see the module docstring).

    Parameters
    ----------
    x, y : int
        Number of rows and columns of nodes, each >= 1.
    lattice : {'rectangular', 'hexagonal'}, default 'rectangular'
    toroidal : bool, default False
        Periodic boundaries: the map's opposite edges are joined, so distances and
        neighbourhoods wrap around. A hexagonal torus needs an even number of lines along
        the axis whose lines alternate the half-step shift.
    layout : {'minisam', 'minisom'}, default 'minisam'
        Which hexagonal layout (ignored for rectangular maps): see the module docstring.

    Raises
    ------
    ValueError
        For a hexagonal torus with an odd number of alternating lines, or unknown names.
    """

    def __init__(self, x: int, y: int, lattice: str = "rectangular", toroidal: bool = False,
                 *, layout: str = "minisam") -> None:
        self.x = check_positive_int("x", x)
        self.y = check_positive_int("y", y)
        self.lattice = check_choice("lattice", lattice, LATTICES)
        self.toroidal = check_flag("toroidal", toroidal)
        self.layout = check_choice("layout", layout, ("minisam", "minisom"))
        hexagonal = lattice == "hexagonal"
        if hexagonal and self.toroidal:
            axis, size = ("rows (x)", self.x) if layout == "minisam" else ("columns (y)", self.y)
            if size % 2:
                raise ValueError(
                    f"a hexagonal toroidal map needs an even number of {axis}, got {size}: "
                    f"its {axis.split()[0]} alternate the half-step shift, and an odd number "
                    f"would break the lattice at the seam")
        coords = self._lay_out()
        coords.setflags(write=False)
        self._coords = coords
        if not self.toroidal:
            self._periods = (0.0, 0.0)
        elif not hexagonal:
            self._periods = (float(self.x), float(self.y))
        elif layout == "minisam":
            self._periods = (self.x * np.sqrt(3.0) / 2.0, float(self.y))
        else:
            self._periods = (float(self.x), self.y * MINISOM_HEX_SPACING)
        self._neighbours = None

    def _lay_out(self) -> np.ndarray:
        if self.lattice == "rectangular":
            return reference.grid_coordinates(self.x, self.y)
        if self.layout == "minisam":
            return reference.hexagonal_coordinates(self.x, self.y)
        coords = reference.grid_coordinates(self.x, self.y)
        columns = coords[:, 1].copy()
        coords[self._shifted_columns()[columns.astype(np.int64)], 0] -= 0.5
        coords[:, 1] = columns * MINISOM_HEX_SPACING
        return coords

    def _shifted_columns(self) -> np.ndarray:
        """MiniSom's hexagonal layout: the last column and every second one before it."""
        return (self.y - 1 - np.arange(self.y)) % 2 == 0

    # ------------------------------------------------------------------ description
    @property
    def shape(self) -> tuple[int, int]:
        """``(x, y)``."""
        return self.x, self.y

    @property
    def n_nodes(self) -> int:
        return self.x * self.y

    @property
    def coords(self) -> np.ndarray:
        """Node positions in the plane, a read-only ``(n_nodes, 2)`` float64 array."""
        return self._coords

    @property
    def periods(self) -> tuple[float, float]:
        """Period of each coordinate axis of :attr:`coords` (``0.0``: not periodic)."""
        return self._periods

    def positions(self) -> np.ndarray:
        """Node positions as an ``(x, y, 2)`` float64 array (a copy)."""
        return self._coords.reshape(self.x, self.y, 2).copy()

    def position(self, k: int) -> tuple[int, int]:
        """Grid index ``(i, j)`` of node ``k``."""
        return int(k) // self.y, int(k) % self.y

    def __repr__(self) -> str:
        return (f"Topology(x={self.x}, y={self.y}, lattice={self.lattice!r}, "
                f"toroidal={self.toroidal}, layout={self.layout!r})")

    def __eq__(self, other) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return (self.shape, self.lattice, self.toroidal, self.layout) == (
            other.shape, other.lattice, other.toroidal, other.layout)

    __hash__ = None  # mutable-looking value object: compare, do not hash

    # ------------------------------------------------------------------ distances
    def wrap(self, offsets: np.ndarray) -> np.ndarray:
        """Minimum-image version of position ``offsets`` (``(..., 2)``); planar: unchanged."""
        return reference.wrap_offsets(offsets, self._periods)

    def distances(self, a, b) -> np.ndarray:
        """Grid distance between nodes ``a`` and ``b`` (flat indices, broadcast together)."""
        return reference.grid_distances(self._coords, a, b, self._periods)

    def distance_matrix(self) -> np.ndarray:
        """``(n_nodes, n_nodes)`` grid distances between all nodes."""
        k = np.arange(self.n_nodes)
        return self.distances(k[:, None], k[None, :])

    # ------------------------------------------------------------------ neighbours
    def _offsets(self):
        """Per node, the tuple of neighbour offsets ``(di, dj)`` that applies to it, as a list
        of ``(node mask, offsets)`` groups."""
        ii, jj = np.divmod(np.arange(self.n_nodes), self.y)
        if self.lattice == "rectangular":
            return [(np.ones(self.n_nodes, dtype=bool), _RECT_OFFSETS)]
        if self.layout == "minisam":
            odd = ii % 2 == 1
            return [(~odd, _ROWS_EVEN), (odd, _ROWS_ODD)]
        shifted = self._shifted_columns()[jj]
        return [(shifted, _COLUMNS_SHIFTED), (~shifted, _COLUMNS_PLAIN)]

    @property
    def neighbours(self) -> np.ndarray:
        """Each node's neighbours: a read-only ``(n_nodes, 8)`` (rectangular) or
        ``(n_nodes, 6)`` (hexagonal) int64 array of flat indices, ``-1`` where there is none.

        One column per lattice direction. On a planar map a direction that leaves the map
        has ``-1``. On a torus every direction lands on a node across the seam; on a torus
        only 1 or 2 nodes long along an axis two directions can land on the same node (it
        touches the node from both sides) and a direction that lands on the node itself
        is ``-1``.
        """
        if self._neighbours is None:
            groups = self._offsets()
            width = len(groups[0][1])
            table = np.full((self.n_nodes, width), -1, dtype=np.int64)
            ii, jj = np.divmod(np.arange(self.n_nodes), self.y)
            for mask, offsets in groups:
                for slot, (di, dj) in enumerate(offsets):
                    ni, nj = ii[mask] + di, jj[mask] + dj
                    if self.toroidal:
                        ni, nj = ni % self.x, nj % self.y
                        ok = (ni * self.y + nj) != np.flatnonzero(mask)
                    else:
                        ok = (ni >= 0) & (ni < self.x) & (nj >= 0) & (nj < self.y)
                    column = np.full(ni.shape, -1, dtype=np.int64)
                    column[ok] = ni[ok] * self.y + nj[ok]
                    table[mask, slot] = column
            table.setflags(write=False)
            self._neighbours = table
        return self._neighbours

    def adjacent(self, a, b) -> np.ndarray:
        """Whether nodes ``a[n]`` and ``b[n]`` are neighbours (diagonals included on a
        rectangular map; across the seams on a torus). A node is adjacent to itself."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if self.lattice == "rectangular":
            di = np.abs(a // self.y - b // self.y)
            dj = np.abs(a % self.y - b % self.y)
            if self.toroidal:
                di = np.minimum(di, self.x - di)
                dj = np.minimum(dj, self.y - dj)
            return (di <= 1) & (dj <= 1)
        return (a == b) | (self.neighbours[a] == b[..., None]).any(axis=-1)

    def mean_neighbour_distance(self, weights: np.ndarray) -> np.ndarray:
        """Mean Euclidean distance of each node's weights to those of its neighbours (one term
        per lattice direction, see :attr:`neighbours`), as an ``(x, y)`` float64 array: the
        U-matrix. A node without neighbours (a 1 x 1 map) gives 0."""
        w = np.asarray(weights, dtype=np.float64).reshape(self.n_nodes, -1)
        table = self.neighbours
        total = np.zeros(self.n_nodes)
        count = np.zeros(self.n_nodes)
        for slot in range(table.shape[1]):
            nodes = np.flatnonzero(table[:, slot] >= 0)
            diff = w[nodes] - w[table[nodes, slot]]
            total[nodes] += np.sqrt(np.einsum("nd,nd->n", diff, diff))
            count[nodes] += 1
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        return mean.reshape(self.x, self.y)


def separable_columns(coords: np.ndarray) -> int:
    """``y`` if ``coords`` is a separable lattice of ``y`` columns, else 0.

    Separable (what the kernels' ``lattice`` flag promises, see
    :mod:`minisam.backends.compiled`): node ``k = i * y + j`` has
    ``coords[k] = (r_i, o_i + j)``, the row position ``r_i`` and offset ``o_i`` depending on
    the row only, with at most two distinct offsets (rectangular and hexagonal maps).
    """
    n = coords.shape[0]
    if n == 0:
        return 0
    same_row = np.flatnonzero(coords[:, 0] != coords[0, 0])
    y = int(same_row[0]) if same_row.size else n
    if n % y:
        return 0
    grid = coords.reshape(n // y, y, 2)
    rows = grid[:, :1, :]
    if not (grid[:, :, 0] == rows[:, :, 0]).all():
        return 0
    if not np.array_equal(grid[:, :, 1] - rows[:, :, 1], np.broadcast_to(
            np.arange(y, dtype=np.float64), (n // y, y))):
        return 0
    if np.unique(rows[:, 0, 1]).size > 2:
        return 0
    return y
