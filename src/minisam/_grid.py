"""Rectangular map topology: node coordinates, adjacency and neighbour distances."""

from __future__ import annotations

import numpy as np

from minisam.reference import grid_coordinates

__all__ = ["RectangularGrid"]


class RectangularGrid:
    """An ``x`` by ``y`` rectangular lattice; node ``k`` sits at ``(k // y, k % y)``."""

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y
        self.coords = grid_coordinates(x, y)

    @property
    def n_nodes(self) -> int:
        return self.x * self.y

    def position(self, k: int) -> tuple[int, int]:
        """Grid position ``(i, j)`` of node ``k``."""
        return int(k) // self.y, int(k) % self.y

    def adjacent(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether nodes ``a`` and ``b`` touch, diagonals included (Chebyshev distance <= 1)."""
        a = np.asarray(a)
        b = np.asarray(b)
        rows = np.abs(a // self.y - b // self.y)
        cols = np.abs(a % self.y - b % self.y)
        return (rows <= 1) & (cols <= 1)

    def mean_neighbour_distance(self, weights: np.ndarray) -> np.ndarray:
        """Mean Euclidean distance of each node's weights to its (up to 4) von Neumann
        neighbours, as an ``(x, y)`` float64 array. A 1 x 1 map gives 0."""
        w = weights.astype(np.float64, copy=False)
        total = np.zeros((self.x, self.y))
        count = np.zeros((self.x, self.y))
        along_x = np.linalg.norm(w[1:] - w[:-1], axis=2)
        along_y = np.linalg.norm(w[:, 1:] - w[:, :-1], axis=2)
        total[1:] += along_x
        total[:-1] += along_x
        count[1:] += 1
        count[:-1] += 1
        total[:, 1:] += along_y
        total[:, :-1] += along_y
        count[:, 1:] += 1
        count[:, :-1] += 1
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
