"""Hexagonal and toroidal maps: the topology model, and both APIs on every engine.

Brute force decides throughout: neighbours are the nodes whose positions are 1 apart (hexagonal)
or at most one step apart along each axis (rectangular), and torus distances are minima over
the 3 x 3 copies of the map shifted by its periods.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import random_data
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, MiniSom, available_backends, reference
from minisam.topology import Topology

ENGINES = [name for name in ("numpy", "cython", "numba") if name in available_backends()]
TOPOLOGIES = [("rectangular", False), ("rectangular", True), ("hexagonal", False),
              ("hexagonal", True)]


def brute_distances(grid: Topology) -> np.ndarray:
    """Grid distances as the minimum over the 9 shifted copies of the map (planar: 1 copy)."""
    coords = grid.coords
    diff = coords[:, None, :] - coords[None, :, :]
    if not grid.toroidal:
        return np.sqrt((diff ** 2).sum(axis=-1))
    p0, p1 = grid.periods
    best = np.full(diff.shape[:2], np.inf)
    for m, n in itertools.product((-1, 0, 1), repeat=2):
        shifted = diff + np.array([m * p0, n * p1])
        best = np.minimum(best, np.sqrt((shifted ** 2).sum(axis=-1)))
    return best


def brute_neighbour_sets(grid: Topology) -> list[set[int]]:
    """The distinct nodes next to each node, from distances alone."""
    if grid.lattice == "hexagonal":
        near = np.isclose(brute_distances(grid), 1.0)
    else:
        ii, jj = np.divmod(np.arange(grid.n_nodes), grid.y)
        di = np.abs(ii[:, None] - ii[None, :])
        dj = np.abs(jj[:, None] - jj[None, :])
        if grid.toroidal:
            di, dj = np.minimum(di, grid.x - di), np.minimum(dj, grid.y - dj)
        near = (di <= 1) & (dj <= 1)
    np.fill_diagonal(near, False)
    return [set(np.flatnonzero(row).tolist()) for row in near]


# ----------------------------------------------------------------------------- the model
@pytest.mark.parametrize("layout", ["minisam", "minisom"])
@pytest.mark.parametrize(("x", "y"), [(2, 2), (2, 5), (4, 4), (4, 3), (6, 7), (8, 2)])
def test_hexagonal_torus_every_node_has_six_neighbours_at_distance_one(layout, x, y):
    grid = Topology(x, y, "hexagonal", True, layout=layout) if layout == "minisam" else \
        Topology(y, x, "hexagonal", True, layout=layout)  # 'minisom' alternates along y
    table = grid.neighbours
    assert table.shape == (grid.n_nodes, 6)
    assert (table >= 0).all()
    k = np.arange(grid.n_nodes)
    assert_allclose(grid.distances(k[:, None], table), 1.0, rtol=1e-12)
    assert_allclose(brute_distances(grid)[k[:, None], table], 1.0, rtol=1e-12)


@pytest.mark.parametrize(("x", "y"), [(3, 4), (5, 5), (1, 4), (7, 2)])
def test_hexagonal_torus_needs_an_even_number_of_rows(x, y):
    with pytest.raises(ValueError, match=rf"even number of rows \(x\), got {x}"):
        Topology(x, y, "hexagonal", True)
    with pytest.raises(ValueError, match=rf"even number of rows \(x\), got {x}"):
        MiniSam(x, y, 2, topology="hexagonal", toroidal=True)
    with pytest.raises(ValueError, match=rf"even number of columns \(y\), got {x}"):
        MiniSom(y, x, 2, topology="hexagonal", toroidal=True)
    Topology(x, y, "hexagonal", False)  # planar hexagonal maps of any size are fine
    Topology(x, y, "rectangular", True)


def _valid_maps(sizes, layouts=("minisam",)):
    """(layout, lattice, toroidal, x, y) for every size and topology that exists (a hexagonal
    torus needs an even number of alternating lines: x for 'minisam', y for 'minisom')."""
    return [(layout, lattice, toroidal, x, y)
            for layout in layouts for lattice, toroidal in TOPOLOGIES for x, y in sizes
            if not (lattice == "hexagonal" and toroidal
                    and (x if layout == "minisam" else y) % 2)]


@pytest.mark.parametrize(("layout", "lattice", "toroidal", "x", "y"), _valid_maps(
    [(1, 1), (1, 6), (6, 1), (2, 2), (4, 5), (6, 3), (3, 7)], ("minisam", "minisom")))
def test_distances_and_neighbours_match_brute_force(layout, lattice, toroidal, x, y):
    grid = Topology(x, y, lattice, toroidal, layout=layout)
    assert_allclose(grid.distance_matrix(), brute_distances(grid), rtol=1e-12, atol=1e-12)
    expected = brute_neighbour_sets(grid)
    table = grid.neighbours
    assert table.shape[1] == (6 if lattice == "hexagonal" else 8)
    for k in range(grid.n_nodes):
        assert set(table[k][table[k] >= 0].tolist()) == expected[k], k
        assert k not in table[k]
    a, b = np.divmod(np.arange(grid.n_nodes ** 2), grid.n_nodes)
    adjacent = grid.adjacent(a, b).reshape(grid.n_nodes, grid.n_nodes)
    for k in range(grid.n_nodes):
        assert set(np.flatnonzero(adjacent[k]).tolist()) == expected[k] | {k}


def test_positions_and_periods():
    hexagonal = Topology(4, 3, "hexagonal", True)
    positions = hexagonal.positions()
    assert positions.shape == (4, 3, 2)
    assert_allclose(positions[1, 0], [np.sqrt(3) / 2, 0.5])
    assert_allclose(positions[2, 2], [np.sqrt(3), 2.0])
    assert hexagonal.periods == pytest.approx((4 * np.sqrt(3) / 2, 3.0))
    assert Topology(4, 3, "rectangular", True).periods == (4.0, 3.0)
    assert Topology(4, 3).periods == (0.0, 0.0)
    with pytest.raises(ValueError):
        hexagonal.coords[0, 0] = 1.0  # read-only: callers share it


def test_minisom_layout_is_minisoms():
    oracle = pytest.importorskip("minisom")
    for x, y in [(3, 4), (4, 5), (1, 3)]:
        theirs = oracle.MiniSom(x, y, 2, topology="hexagonal")
        positions = Topology(x, y, "hexagonal", layout="minisom").positions()
        xx, yy = theirs.get_euclidean_coordinates()
        assert positions[..., 0].tobytes() == np.asarray(xx).tobytes()
        assert positions[..., 1].tobytes() == np.asarray(yy).tobytes()


@pytest.mark.parametrize(("lattice", "x", "y"), [("rectangular", 5, 6), ("rectangular", 2, 3),
                                                 ("hexagonal", 6, 5), ("hexagonal", 2, 4),
                                                 ("hexagonal", 4, 2)])
def test_periodic_weights_have_a_constant_u_matrix_on_a_torus(lattice, x, y):
    i, j = np.meshgrid(np.arange(x), np.arange(y), indexing="ij")
    weights = np.stack([np.cos(2 * np.pi * i / x), np.sin(2 * np.pi * i / x),
                        np.cos(2 * np.pi * j / y), np.sin(2 * np.pi * j / y)], axis=-1)
    som = MiniSam(x, y, 4, topology=lattice, toroidal=True, backend="numpy")
    som._weights = weights
    u = som.distance_map()
    assert_allclose(u, u[0, 0], rtol=1e-12)
    assert u[0, 0] > 0
    planar = MiniSam(x, y, 4, topology=lattice, backend="numpy")
    planar._weights = weights
    assert np.ptp(planar.distance_map()) > 1e-3  # the edges differ without the seam


def test_topology_arguments_are_checked():
    with pytest.raises(ValueError, match="topology"):
        MiniSam(3, 3, 2, topology="triangular")
    with pytest.raises(TypeError, match="toroidal"):
        MiniSam(3, 3, 2, toroidal="yes")
    with pytest.raises(TypeError, match="toroidal"):
        MiniSom(3, 3, 2, toroidal=1)


# ----------------------------------------------------------------------------- MiniSam
@pytest.mark.parametrize(("lattice", "toroidal"), TOPOLOGIES)
def test_minisam_measures_follow_the_topology(rng, lattice, toroidal):
    som = MiniSam(6, 5, 3, topology=lattice, toroidal=toroidal, random_seed=3, backend="numpy")
    data = random_data(rng, 300, 3)
    som.train_random(data, 400)
    grid = Topology(6, 5, lattice, toroidal)
    assert_array_equal(som.node_positions(), grid.positions())
    # U-matrix: mean distance to the neighbours of the brute-force definition (on these
    # sizes no direction is repeated, so the sets are the lattice directions).
    w = som.get_weights().reshape(30, 3)
    neighbours = brute_neighbour_sets(grid)
    expected = [np.mean([np.linalg.norm(w[k] - w[m]) for m in neighbours[k]])
                for k in range(30)]
    assert_allclose(som.distance_map().ravel(), expected, rtol=1e-12)
    # Topographic error: best and second-best node not neighbours.
    order = np.argsort(((data[:, None, :] - w[None]) ** 2).sum(axis=-1), axis=1)
    errors = [order[n, 1] not in neighbours[order[n, 0]] for n in range(len(data))]
    assert som.topographic_error(data) == pytest.approx(np.mean(errors))


@pytest.mark.parametrize(("lattice", "toroidal"), TOPOLOGIES)
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minisam_engines_agree_on_every_topology(rng, lattice, toroidal, neighbourhood, dtype):
    data = random_data(rng, 200, 4)
    results = {}
    for engine in ENGINES:
        som = MiniSam(6, 7, 4, sigma=3.0, neighborhood_function=neighbourhood, random_seed=5,
                      backend=engine, dtype=dtype, topology=lattice, toroidal=toroidal)
        som.train_random(data, 300)
        online = som.get_weights()
        som.train_batch(data, 4)
        results[engine] = (online, som.get_weights())
    tolerance = 1e-10 if dtype == np.float64 else 2e-3
    for engine in ENGINES:
        for got, want in zip(results[engine], results["numpy"], strict=True):
            assert_allclose(got, want, rtol=tolerance, atol=tolerance)


def test_minisam_torus_differs_from_the_planar_map(rng):
    data = random_data(rng, 100, 3)
    planar = MiniSam(5, 6, 3, random_seed=1, backend="numpy")
    torus = MiniSam(5, 6, 3, random_seed=1, backend="numpy", toroidal=True)
    for som in (planar, torus):
        som.train_random(data, 200)
    assert not np.allclose(planar.get_weights(), torus.get_weights())


def test_minisam_batch_on_a_torus_matches_the_reference_epoch(rng):
    data = random_data(rng, 150, 3)
    for lattice in ("rectangular", "hexagonal"):
        som = MiniSam(6, 5, 3, random_seed=2, backend="numpy", topology=lattice, toroidal=True)
        start = som.get_weights().reshape(30, 3)
        som.train_batch(data, 1)
        alpha, sigma = som._schedules(1)
        expected = start.copy()
        reference.batch_epoch(expected, data, float(alpha[0]), float(sigma[0]),
                              som.grid.coords, "gaussian", som.grid.periods)
        assert_allclose(som.get_weights().reshape(30, 3), expected, rtol=1e-13)
        # and the reference epoch is the definition: smoothing with the torus distances
        index, _ = reference.bmu_many(start, data)
        h = np.exp(-brute_distances(som.grid) ** 2 / (2 * sigma[0] ** 2))[:, index]
        target = (h @ data) / h.sum(axis=1, keepdims=True)
        assert_allclose(expected, (1 - alpha[0]) * start + alpha[0] * target, rtol=1e-12)


# ----------------------------------------------------------------------------- MiniSom
@pytest.mark.parametrize("lattice", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "mexican_hat", "bubble", "triangle"])
def test_minisom_torus_neighbourhoods_wrap(lattice, neighbourhood):
    som = MiniSom(6, 4, 2, sigma=1.5, neighborhood_function=neighbourhood, topology=lattice,
                  toroidal=True)
    corner = som.neighborhood((0, 0), 1.5)
    far_side = som.neighborhood((5, 3), 1.5)
    # The node across the seam is as close as its mirror image inside the map.
    assert corner[5, 0] == pytest.approx(corner[1, 0])
    assert far_side[0, 3] == pytest.approx(far_side[4, 3])
    planar = MiniSom(6, 4, 2, sigma=1.5, neighborhood_function=neighbourhood, topology=lattice)
    assert not np.allclose(planar.neighborhood((0, 0), 1.5), corner)


@pytest.mark.parametrize("lattice", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "mexican_hat", "bubble", "triangle"])
def test_minisom_torus_training_kernels_match_numpy_steps(rng, lattice, neighbourhood):
    """The kernels' toroidal training equals MiniSom's own update rule applied step by step
    with the (wrapping) neighbourhood methods."""
    data = random_data(rng, 60, 3)
    kwargs = {"sigma": 1.5, "neighborhood_function": neighbourhood, "topology": lattice,
              "toroidal": True, "random_seed": 4}
    fast = MiniSom(6, 4, 3, **kwargs)
    slow = MiniSom(6, 4, 3, backend="numpy", **kwargs)
    fast.train_random(data, 150)
    # step by step with the public update(): MiniSom's own definition of a step
    order = np.arange(150) % len(data)
    slow._random_generator.shuffle(order)
    for t, n in enumerate(order):
        slow.update(data[n], slow.winner(data[n]), t, 150)
    assert_allclose(fast.get_weights(), slow.get_weights(), rtol=1e-9, atol=1e-12)
    fast.train_batch_offline(data, 3)
    assert np.isfinite(fast.get_weights()).all()


@pytest.mark.parametrize("lattice", ["rectangular", "hexagonal"])
def test_minisom_torus_measures_wrap(rng, lattice):
    som = MiniSom(6, 4, 3, sigma=1.5, topology=lattice, toroidal=True, random_seed=1)
    grid = Topology(6, 4, lattice, True, layout="minisom")
    data = random_data(rng, 200, 3)
    som.train_random(data, 300)
    w = som.get_weights().reshape(24, 3)
    neighbours = brute_neighbour_sets(grid)
    sums = np.array([sum(np.linalg.norm(w[k] - w[m]) for m in neighbours[k])
                     for k in range(24)])
    assert_allclose(som.distance_map().ravel(), sums / sums.max(), rtol=1e-12)
    order = np.argsort(((data[:, None, :] - w[None]) ** 2).sum(axis=-1), axis=1)
    errors = [order[n, 1] not in neighbours[order[n, 0]] for n in range(len(data))]
    assert som.topographic_error(data) == pytest.approx(np.mean(errors))


@pytest.mark.parametrize("lattice", ["rectangular", "hexagonal"])
def test_minisom_default_is_still_minisom(rng, lattice):
    """With ``toroidal=False`` the topology model changes nothing: the positions and every
    neighbourhood function are bitwise MiniSom's, training matches to the drop-in's rtol."""
    oracle = pytest.importorskip("minisom")
    data = random_data(rng, 80, 3)
    ours = MiniSom(5, 7, 3, sigma=1.2, topology=lattice, random_seed=9, toroidal=False)
    theirs = oracle.MiniSom(5, 7, 3, sigma=1.2, topology=lattice, random_seed=9)
    assert ours._xx.tobytes() == theirs._xx.tobytes()
    assert ours._yy.tobytes() == theirs._yy.tobytes()
    for name in ("_gaussian", "_mexican_hat", "_bubble", "_triangle"):
        for c in [(0, 0), (2, 3), (4, 6)]:
            assert getattr(ours, name)(c, 1.3).tobytes() == \
                getattr(theirs, name)(c, 1.3).tobytes(), (name, c)
    ours.train_random(data, 200)
    theirs.train_random(data, 200)
    assert_allclose(ours.get_weights(), theirs.get_weights(), rtol=1e-9, atol=1e-12)
    ours._weights = theirs.get_weights().copy()
    assert_allclose(ours.distance_map(), theirs.distance_map(), rtol=1e-12)  # odd y
    assert ours.topographic_error(data) == theirs.topographic_error(data)


@pytest.mark.parametrize(("layout", "lattice", "toroidal", "x", "y"), _valid_maps(
    [(4, 6), (6, 4), (2, 7), (1, 6), (6, 1), (5, 2)], ("minisam", "minisom")))
def test_batch_smoothing_is_separable_and_exact_on_every_layout(rng, layout, lattice, toroidal,
                                                                x, y):
    """The batch epoch's gaussian smoothing takes the separable path on every layout (rows or
    columns as the lattice lines) and equals the dense neighbourhood matrix."""
    from minisam import _smoothing

    grid = Topology(x, y, lattice, toroidal, layout=layout)
    periods = grid.periods if toroidal else None
    sums = random_data(rng, grid.n_nodes, 3)
    counts = rng.integers(0, 3, grid.n_nodes).astype(np.float64)
    assert _smoothing._separable_gaussian(sums, grid.coords, 1.3, periods, (x, y)) is not None
    num, den = _smoothing.smooth(sums, counts, 1.3, grid.coords, "gaussian", periods, (x, y))
    h = reference.neighbourhood_matrix(grid.coords, grid.coords, 1.3, "gaussian", periods)
    assert_allclose(num, h @ sums, rtol=1e-12, atol=1e-14)
    assert_allclose(den, h @ counts, rtol=1e-12, atol=1e-14)
