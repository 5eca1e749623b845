"""Topology in the Cython online kernel: periodic axes and the generalised lattice.

``train_online(..., periods=(p0, p1))`` makes coordinate axis ``a`` periodic with period
``p_a > 0``: an offset ``d`` along it becomes its minimum image ``min(fmod(|d|, p), p -
fmod(|d|, p))``; ``p == 0`` leaves the axis open. On a lattice (``lattice=True``) node
``k = i * grid_y + j`` sits at ``(r_i, o_i + j)``: rows may be spaced and shifted (hexagonal
maps) as long as the row position and offset depend on the row only.

Expected values come from a plain NumPy loop written here from those definitions: winner
``argmin |v - w|``, wrapped offsets, the neighbourhood, ``w += alpha * h * (v - w)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

ck = pytest.importorskip("minisam._cython_kernels")

SQRT3_2 = np.sqrt(3.0) / 2.0
CODES = {"gaussian": 0, "bubble": 1, "mexican_hat": 2, "minisom_bubble": 3, "triangle": 4}
RTOL = {np.float64: 1e-10, np.float32: 2e-4}
ATOL = {np.float64: 1e-12, np.float32: 2e-5}

#: Map sizes: odd and even, a single row or column, tori of size 2 along an axis.
SHAPES = [(5, 7), (6, 8), (4, 9), (1, 9), (9, 1), (2, 5), (6, 2), (2, 2)]


def coordinates(x: int, y: int, hexagonal: bool) -> np.ndarray:
    """Row-major ``(x * y, 2)`` node coordinates: ``(i, j)`` or ``(i sqrt3/2, j + (i % 2)/2)``."""
    i, j = np.divmod(np.arange(x * y), y)
    if hexagonal:
        return np.column_stack([i * SQRT3_2, j + 0.5 * (i % 2)])
    return np.column_stack([i, j]).astype(np.float64)


def map_periods(x: int, y: int, hexagonal: bool) -> np.ndarray:
    return np.array([x * SQRT3_2 if hexagonal else float(x), float(y)])


def wrap(d: np.ndarray, p: float) -> np.ndarray:
    if p > 0:
        a = np.fmod(np.abs(d), p)
        return np.minimum(a, p - a)
    return d


def influence(dx, dy, sigma, code):
    d2 = dx * dx + dy * dy
    c = 2.0 * sigma * sigma
    if code == 0:
        return np.exp(-d2 / c)
    if code == 1:
        return (d2 <= sigma * sigma).astype(np.float64)
    if code == 2:
        return np.exp(-d2 / c) * (1.0 - (2.0 / c) * d2)
    if code == 3:
        return ((np.abs(dx) < sigma) & (np.abs(dy) < sigma)).astype(np.float64)
    return np.maximum(0.0, sigma - np.abs(dx)) * np.maximum(0.0, sigma - np.abs(dy))


def winner(w, v):
    """``argmin |v - w|``: squares summed in the weights' dtype in NumPy's order (as
    ``np.linalg.norm`` does), the square root taken in float64. For float64 this is
    ``np.argmin(np.linalg.norm(v - w, axis=1))``; for float32 the kernels (Cython and Numba
    alike) tell apart squared distances whose float32 square roots happen to be equal."""
    d = v - w
    return int(np.argmin(np.sqrt(np.add.reduce(d * d, axis=1).astype(np.float64))))


def numpy_online(weights, data, order, alphas, sigmas, coords, code, periods):
    """The reference: one step at a time over every node, in the weights' dtype."""
    w = weights.copy()
    p0, p1 = (0.0, 0.0) if periods is None else periods
    for t, s in enumerate(order):
        v = data[s]
        b = winner(w, v)
        dx = wrap(coords[:, 0] - coords[b, 0], p0)
        dy = wrap(coords[:, 1] - coords[b, 1], p1)
        g = (alphas[t] * influence(dx, dy, sigmas[t], code)).astype(w.dtype)
        w += g[:, None] * (v - w)
    return w


def problem(rng, x, y, dtype, n_steps=150, n_features=4):
    weights = rng.random((x * y, n_features)).astype(dtype)
    data = rng.random((40, n_features)).astype(dtype)
    order = rng.integers(0, 40, size=n_steps).astype(np.int64)
    t = np.arange(n_steps)
    sigma0 = max(x, y) / 2.0 + 1.0
    lam = n_steps / np.log(sigma0 / 0.4)  # decays to 0.4: small radii (and empty bubbles) too
    return weights, data, order, 0.5 * np.exp(-t / lam), sigma0 * np.exp(-t / lam)


def kernel(weights, data, order, alphas, sigmas, coords, grid_y, code, lattice, periods,
           n_threads=1, skip_below=0.0):
    w = weights.copy()
    ck.train_online(w, data, order, alphas, sigmas, coords, grid_y, code, lattice, skip_below,
                    n_threads, periods=periods)
    return w


def cases():
    for x, y in SHAPES:
        for hexagonal in (False, True):
            for torus in (False, True):
                if hexagonal and torus and x % 2:
                    continue  # a hexagonal torus needs an even number of rows
                yield x, y, hexagonal, torus


def case_id(case):
    x, y, hexagonal, torus = case
    return f"{x}x{y}-{'hex' if hexagonal else 'rect'}-{'torus' if torus else 'planar'}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(cases()), ids=case_id)
@pytest.mark.parametrize("lattice,code", [(True, 0), (True, 1), (False, 0), (False, 1),
                                          (False, 2), (False, 3), (False, 4)])
def test_train_online_matches_numpy_loop(rng, case, lattice, code, dtype):
    x, y, hexagonal, torus = case
    weights, data, order, alphas, sigmas = problem(rng, x, y, dtype)
    coords = coordinates(x, y, hexagonal)
    periods = map_periods(x, y, hexagonal) if torus else None
    expected = numpy_online(weights, data, order, alphas, sigmas, coords, code, periods)
    got = kernel(weights, data, order, alphas, sigmas, coords, y, code, lattice, periods)
    assert_allclose(got, expected, rtol=RTOL[dtype], atol=ATOL[dtype])
    # Results do not depend on the thread count, nor (on its own terms) on skipping.
    for n_threads in (2, 3):
        assert_array_equal(kernel(weights, data, order, alphas, sigmas, coords, y, code,
                                  lattice, periods, n_threads=n_threads), got)
    skip = float(np.finfo(dtype).eps) / 8
    skipped = [kernel(weights, data, order, alphas, sigmas, coords, y, code, lattice, periods,
                      n_threads=n, skip_below=skip) for n in (1, 2)]
    assert_array_equal(skipped[1], skipped[0])
    assert_allclose(skipped[0], expected, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("hexagonal", [False, True])
@pytest.mark.parametrize("code", [0, 1])
def test_lattice_and_node_by_node_agree(rng, hexagonal, code):
    """The lattice path (row and column factors) and the node-by-node path give the same map."""
    x, y = 8, 11
    weights, data, order, alphas, sigmas = problem(rng, x, y, np.float64, n_steps=300,
                                                   n_features=6)
    coords = coordinates(x, y, hexagonal)
    for periods in (None, map_periods(x, y, hexagonal)):
        by_lattice = kernel(weights, data, order, alphas, sigmas, coords, y, code, True,
                            periods, skip_below=2.8e-17)
        by_node = kernel(weights, data, order, alphas, sigmas, coords, y, code, False, periods,
                         skip_below=2.8e-17)
        assert_allclose(by_lattice, by_node, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("lattice,code", [(True, 0), (True, 1), (False, 0), (False, 2),
                                          (False, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_open_periods_are_the_planar_map(rng, lattice, code, dtype):
    """``periods=None`` and ``periods=(0, 0)`` are the same planar map, bit for bit."""
    x, y = 7, 10
    weights, data, order, alphas, sigmas = problem(rng, x, y, dtype, n_steps=200)
    coords = coordinates(x, y, False)
    skip = float(np.finfo(dtype).eps) / 8
    planar = kernel(weights, data, order, alphas, sigmas, coords, y, code, lattice, None,
                    skip_below=skip)
    for periods in (np.zeros(2), (0.0, 0.0), [0, 0]):
        assert_array_equal(kernel(weights, data, order, alphas, sigmas, coords, y, code,
                                  lattice, periods, skip_below=skip), planar)


@pytest.mark.parametrize("lattice,code", [(True, 0), (True, 1), (False, 0), (False, 3),
                                          (False, 4)])
def test_torus_step_is_symmetric_across_the_seam(lattice, code):
    """One step with the winner at node (0, 0) of a torus: nodes at the same wrapped offset
    move by the same amount, and the rows and columns across the seam do move."""
    x, y, d = 6, 8, 3
    coords = coordinates(x, y, False)
    weights = np.ones((x * y, d))
    weights[0] = 0.0  # the winner of the sample at the origin
    data = np.zeros((1, d))
    moved = 1.0 - kernel(weights, data, np.zeros(1, dtype=np.int64), np.array([0.5]),
                         np.array([1.6]), coords, y, code, lattice, np.array([x, y], float))
    step = moved[:, 0].reshape(x, y)
    assert step[1, 0] > 0 and step[x - 1, 0] == step[1, 0]
    assert step[0, 1] > 0 and step[0, y - 1] == step[0, 1]
    for i in range(x):
        for j in range(y):
            assert step[i, j] == step[(x - i) % x, (y - j) % y]
    assert_array_equal(moved[1:], np.repeat(moved[1:, :1], d, axis=1))
    assert_array_equal(moved[0], 1.0)  # the winner sits on the sample already


def test_hexagonal_torus_neighbours_move_alike():
    """On an even hexagonal torus the six nodes at distance 1 from the winner move alike,
    including those across either seam."""
    x, y, d = 6, 7, 2
    coords = coordinates(x, y, True)
    periods = map_periods(x, y, True)
    weights = np.ones((x * y, d))
    weights[0] = 0.0
    for lattice in (True, False):
        moved = 1.0 - kernel(weights, np.zeros((1, d)), np.zeros(1, dtype=np.int64),
                             np.array([0.5]), np.array([1.0]), coords, y, 0, lattice,
                             periods)[:, 0]
        dx = wrap(coords[:, 0] - coords[0, 0], periods[0])
        dy = wrap(coords[:, 1] - coords[0, 1], periods[1])
        ring = np.flatnonzero(np.abs(dx * dx + dy * dy - 1.0) < 1e-12)
        assert len(ring) == 6
        assert_allclose(moved[ring], moved[ring[0]], rtol=1e-15)
        assert moved[ring[0]] > 0
        assert (moved[np.setdiff1d(np.arange(x * y), np.r_[0, ring])] < moved[ring[0]]).all()


def test_tabulated_ignores_periods(rng):
    """Code 5 takes its geometry from the caller's tables: periods change nothing."""
    x, y, n_steps = 5, 6, 60
    coords = coordinates(x, y, False)
    i, j = np.divmod(np.arange(x * y), y)
    xtab = rng.random((n_steps, x))
    ytab = rng.random((n_steps, y))
    ycode = np.abs(np.arange(y)[:, None] - np.arange(y)[None, :]).astype(np.int64)
    tables = (xtab, ytab, i.astype(np.int64), j.astype(np.int64), ycode)
    weights, data, order, alphas, sigmas = problem(rng, x, y, np.float64, n_steps=n_steps)
    runs = []
    for periods in (None, np.array([2.0, 3.0])):
        w = weights.copy()
        ck.train_online(w, data, order, alphas, sigmas, coords, y, 5, False, 0.0, 1,
                        tables=tables, periods=periods)
        runs.append(w)
    assert_array_equal(runs[1], runs[0])


def test_periods_must_have_one_entry_per_axis(rng):
    weights, data, order, alphas, sigmas = problem(rng, 3, 4, np.float64, n_steps=5)
    coords = coordinates(3, 4, False)
    for periods in (np.zeros(1), np.zeros(3), np.zeros((2, 1))):
        with pytest.raises(ValueError, match="periods"):
            kernel(weights, data, order, alphas, sigmas, coords, 4, 0, True, periods)


def test_lattice_needs_coordinates(rng):
    """The lattice path reads the rows' positions from coords, so it checks their shape."""
    weights, data, order, alphas, sigmas = problem(rng, 3, 4, np.float64, n_steps=5)
    with pytest.raises(ValueError, match="coords"):
        kernel(weights, data, order, alphas, sigmas, np.zeros((5, 2)), 4, 0, True, None)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("shift", [0.3, 1.0, -2.0])
@pytest.mark.parametrize("torus", [False, True])
@pytest.mark.parametrize("code", [0, 1])
def test_lattice_with_any_row_offsets(rng, code, torus, shift, wide):
    """The lattice only needs each row's position and column offset to depend on the row:
    three distinct offsets (more than a hexagonal map has; whole or fractional columns) and
    uneven row spacing; ``wide``: radii reaching past the map."""
    x, y = 7, 6
    i, j = np.divmod(np.arange(x * y), y)
    coords = np.column_stack([0.9 * i + 0.05 * i * i, j + shift * (i % 3)])
    periods = np.array([0.9 * x + 0.05 * x * x, float(y)]) if torus else None
    weights, data, order, alphas, sigmas = problem(rng, x, y, np.float64)
    if wide:
        sigmas = 5.0 * sigmas
    expected = numpy_online(weights, data, order, alphas, sigmas, coords, code, periods)
    for n_threads in (1, 2):
        got = kernel(weights, data, order, alphas, sigmas, coords, y, code, True, periods,
                     n_threads=n_threads)
        assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
