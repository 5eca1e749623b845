"""The NumPy oracle (``minisam.reference``) against brute force written from the definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import assert_bmu_valid, random_data, with_duplicate_rows
from numpy.testing import assert_allclose, assert_array_equal

from minisam import reference

DTYPES = [np.float32, np.float64]


def loop_d2(weights, v):
    """Squared distances from ``v`` to every node, by a plain loop in float64."""
    out = []
    for row in weights:
        out.append(sum((float(a) - float(b)) ** 2 for a, b in zip(v, row, strict=True)))
    return out


def loop_bmu(weights, data):
    """Brute-force double loop: first node with the smallest float64 distance, per sample."""
    index = []
    for v in data:
        d2 = loop_d2(weights, v)
        best = 0
        for k in range(1, len(d2)):
            if d2[k] < d2[best]:
                best = k
        index.append(best)
    return np.array(index, dtype=np.int64)


def loop_coords(x, y):
    return np.array([(i, j) for i in range(x) for j in range(y)], dtype=np.float64)


# --------------------------------------------------------------------------- grid
@pytest.mark.parametrize(("x", "y"), [(1, 1), (1, 4), (3, 1), (2, 3), (4, 5)])
def test_grid_coordinates_row_major(x, y):
    coords = reference.grid_coordinates(x, y)
    assert coords.shape == (x * y, 2)
    assert coords.dtype == np.float64
    assert_array_equal(coords, loop_coords(x, y))
    for k in range(x * y):
        assert tuple(coords[k]) == (k // y, k % y)


def test_squared_grid_distances():
    coords = reference.grid_coordinates(3, 4)
    for b in (0, 5, 11):
        expected = [(i - b // 4) ** 2 + (j - b % 4) ** 2 for i in range(3) for j in range(4)]
        assert_array_equal(reference.squared_grid_distances(coords, b), expected)


# --------------------------------------------------------------------------- neighbourhoods
def test_gaussian_values():
    d2 = np.array([0.0, 1.0, 2.0, 4.0, 9.0, 50.0])
    for sigma in (0.3, 1.0, 2.5):
        expected = [math.exp(-v / (2 * sigma * sigma)) for v in d2]
        assert_allclose(reference.gaussian(d2, sigma), expected, rtol=1e-15)
    assert reference.gaussian(np.array([0.0]), 0.01)[0] == 1.0


def test_bubble_includes_boundary():
    for sigma in (0.5, 1.0, 1.5, 2.0, 3.0):
        s2 = sigma * sigma
        d2 = np.array([0.0, s2 / 2, s2, np.nextafter(s2, np.inf), s2 + 1.0])
        assert_array_equal(reference.bubble(d2, sigma), [1.0, 1.0, 1.0, 0.0, 0.0])
    assert reference.bubble(np.array([2.0]), 1.0)[0] == 0.0
    assert reference.bubble(np.array([2.0]), 1.5)[0] == 1.0


def test_neighbourhood_matrix_matches_functions():
    coords = reference.grid_coordinates(3, 3)
    centres = coords[[0, 4, 8]]
    for name, func in (("gaussian", reference.gaussian), ("bubble", reference.bubble)):
        h = reference.neighbourhood_matrix(coords, centres, 1.2, name)
        assert h.shape == (9, 3)
        for c, centre in enumerate((0, 4, 8)):
            d2 = reference.squared_grid_distances(coords, centre)
            assert_allclose(h[:, c], func(d2, 1.2), rtol=1e-15)


# --------------------------------------------------------------------------- BMU search
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_nodes", "n_features", "n_samples"),
                         [(1, 3, 4), (6, 1, 20), (12, 3, 40), (25, 7, 30)])
def test_bmu_many_matches_double_loop(rng, dtype, n_nodes, n_features, n_samples):
    weights = random_data(rng, n_nodes, n_features, dtype)
    data = random_data(rng, n_samples, n_features, dtype)
    index, d2 = reference.bmu_many(weights, data)
    assert_bmu_valid(weights, data, index, d2)
    if dtype == np.float64:
        assert_array_equal(index, loop_bmu(weights, data))
        expected = [loop_d2(weights, v)[k] for v, k in zip(data, index, strict=True)]
        assert_allclose(d2, expected, rtol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bmu_one_matches_double_loop(rng, dtype):
    weights = random_data(rng, 10, 4, dtype)
    data = random_data(rng, 25, 4, dtype)
    expected = loop_bmu(weights, data)
    for n, v in enumerate(data):
        k, d2 = reference.bmu_one(weights, v)
        assert isinstance(k, int) and isinstance(d2, float)
        assert_bmu_valid(weights, data[n:n + 1], np.array([k]), np.array([d2], dtype=dtype))
        if dtype == np.float64:
            assert k == expected[n]
            assert d2 == pytest.approx(loop_d2(weights, v)[k], rel=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bmu_ties_go_to_lowest_index(rng, dtype):
    weights = with_duplicate_rows(random_data(rng, 9, 3, dtype), 2, (5, 8))
    # Samples sitting on (or right next to) the duplicated node.
    data = np.ascontiguousarray(np.vstack([weights[2], weights[2] + 1e-3, weights[8]]),
                                dtype=dtype)
    index, _ = reference.bmu_many(weights, data)
    assert_array_equal(index, [2, 2, 2])
    for v in data:
        assert reference.bmu_one(weights, v)[0] == 2
    # All nodes equal: node 0 wins everything.
    same = np.ascontiguousarray(np.repeat(weights[:1], 6, axis=0))
    index, _ = reference.bmu_many(same, data)
    assert_array_equal(index, 0)
    assert reference.bmu_one(same, data[1])[0] == 0


def test_bmu_many_across_block_boundaries(rng, monkeypatch):
    weights = random_data(rng, 6, 3)
    data = random_data(rng, 23, 3)
    index0, d20 = reference.bmu_many(weights, data)
    first0, second0 = reference.top2_many(weights, data)
    # 4 rows per block: blocks of 4, 4, 4, 4, 4, 3 rows.
    monkeypatch.setattr(reference, "_BLOCK_ELEMENTS", 4 * 6 * 3 + 5)
    assert len(list(reference._row_blocks(23, 6, 3))) == 6
    index, d2 = reference.bmu_many(weights, data)
    assert_array_equal(index, index0)
    assert_allclose(d2, d20, rtol=1e-15)
    assert_array_equal(index, loop_bmu(weights, data))
    first, second = reference.top2_many(weights, data)
    assert_array_equal(first, first0)
    assert_array_equal(second, second0)
    # Smaller budget than one row: one row per block.
    monkeypatch.setattr(reference, "_BLOCK_ELEMENTS", 3)
    assert len(list(reference._row_blocks(23, 6, 3))) == 23
    index, d2 = reference.bmu_many(weights, data)
    assert_array_equal(index, index0)
    assert_allclose(d2, d20, rtol=1e-15)


def test_bmu_many_result_types(rng):
    for dtype in DTYPES:
        weights = random_data(rng, 4, 2, dtype)
        index, d2 = reference.bmu_many(weights, random_data(rng, 5, 2, dtype))
        assert index.dtype == np.int64 and index.shape == (5,)
        assert d2.dtype == dtype and d2.shape == (5,)


# --------------------------------------------------------------------------- top-2
def loop_top2(weights, data):
    first, second = [], []
    for v in data:
        d2 = loop_d2(weights, v)
        ranked = sorted(range(len(d2)), key=lambda k: (d2[k], k))
        first.append(ranked[0])
        second.append(ranked[1] if len(ranked) > 1 else -1)
    return np.array(first), np.array(second)


@pytest.mark.parametrize(("n_nodes", "n_features"), [(2, 3), (9, 2), (20, 5)])
def test_top2_many_matches_loop(rng, n_nodes, n_features):
    weights = random_data(rng, n_nodes, n_features)
    data = random_data(rng, 30, n_features)
    first, second = reference.top2_many(weights, data)
    assert first.dtype == np.int64 and second.dtype == np.int64
    f, s = loop_top2(weights, data)
    assert_array_equal(first, f)
    assert_array_equal(second, s)
    assert (first != second).all()


def test_top2_ties_lower_index_first(rng):
    weights = with_duplicate_rows(random_data(rng, 8, 3), 3, (1, 6))
    data = np.vstack([weights[3], weights[3] + 1e-4])
    first, second = reference.top2_many(weights, data)
    assert_array_equal(first, [1, 1])
    assert_array_equal(second, [3, 3])
    # Second-best tie behind a unique best.
    w = np.array([[0.0], [1.0], [5.0], [-1.0]])
    first, second = reference.top2_many(w, np.array([[0.0]]))
    assert (first[0], second[0]) == (0, 1)


def test_top2_single_node_gives_minus_one(rng):
    weights = random_data(rng, 1, 3)
    first, second = reference.top2_many(weights, random_data(rng, 7, 3))
    assert_array_equal(first, 0)
    assert_array_equal(second, -1)


# --------------------------------------------------------------------------- batch epoch
def dense_batch_epoch(weights, data, alpha, sigma, x, y, neighbourhood):
    """The batch update written literally from its definition, node by node."""
    coords = loop_coords(x, y)
    bmus = loop_bmu(weights, data)
    h_of = {"gaussian": lambda d2: math.exp(-d2 / (2 * sigma * sigma)),
            "bubble": lambda d2: 1.0 if d2 <= sigma * sigma else 0.0}[neighbourhood]
    out = np.array(weights, dtype=np.float64)
    dens = np.zeros(len(out))
    for k in range(len(out)):
        num = np.zeros(data.shape[1])
        den = 0.0
        for n, b in enumerate(bmus):
            d2 = float(((coords[k] - coords[b]) ** 2).sum())
            h = h_of(d2)
            num += h * data[n]
            den += h
        dens[k] = den
        if den > 0:
            out[k] = (1 - alpha) * out[k] + alpha * num / den
    return out, dens


@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
@pytest.mark.parametrize(("x", "y", "sigma", "alpha"),
                         [(1, 1, 1.0, 0.5), (1, 6, 1.5, 0.3), (4, 3, 2.0, 1.0), (5, 5, 0.8, 0.7)])
def test_batch_epoch_matches_dense_formula(rng, neighbourhood, x, y, sigma, alpha):
    weights = random_data(rng, x * y, 3)
    data = random_data(rng, 17, 3)
    expected, _ = dense_batch_epoch(weights, data, alpha, sigma, x, y, neighbourhood)
    reference.batch_epoch(weights, data, alpha, sigma, reference.grid_coordinates(x, y),
                          neighbourhood)
    assert_allclose(weights, expected, rtol=1e-12, atol=1e-14)


def test_batch_epoch_keeps_unvisited_nodes(rng):
    x, y = 4, 5
    weights = random_data(rng, x * y, 3)
    data = random_data(rng, 3, 3)
    before = weights.copy()
    expected, dens = dense_batch_epoch(weights, data, 0.6, 0.5, x, y, "bubble")
    assert (dens == 0).sum() >= x * y - 3  # a radius of 0.5 reaches only the winner itself
    reference.batch_epoch(weights, data, 0.6, 0.5, reference.grid_coordinates(x, y), "bubble")
    assert_array_equal(weights[dens == 0], before[dens == 0])
    assert_allclose(weights, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(weights[dens > 0], before[dens > 0])


def test_batch_epoch_across_node_blocks(rng, monkeypatch):
    x, y = 5, 4
    weights = random_data(rng, x * y, 2)
    data = random_data(rng, 40, 2)
    expected, _ = dense_batch_epoch(weights, data, 0.4, 1.3, x, y, "gaussian")
    monkeypatch.setattr(reference, "_BLOCK_ELEMENTS", 7)
    reference.batch_epoch(weights, data, 0.4, 1.3, reference.grid_coordinates(x, y), "gaussian")
    assert_allclose(weights, expected, rtol=1e-12, atol=1e-14)


def test_batch_epoch_float32_stays_float32(rng):
    weights = random_data(rng, 6, 3, np.float32)
    data = random_data(rng, 10, 3, np.float32)
    expected, _ = dense_batch_epoch(weights, data, 0.5, 1.0, 2, 3, "gaussian")
    reference.batch_epoch(weights, data, 0.5, 1.0, reference.grid_coordinates(2, 3), "gaussian")
    assert weights.dtype == np.float32
    assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- online training
def test_train_online_single_step_gaussian():
    weights = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])  # a 1 x 3 map
    data = np.array([[0.9, 1.2]])
    alpha, sigma = 0.5, 1.0
    reference.train_online(weights, data, np.array([0]), np.array([alpha]), np.array([sigma]),
                           reference.grid_coordinates(1, 3), "gaussian")
    # Winner: node 1 (distance^2 0.05); nodes 0 and 2 are at grid distance 1.
    side = alpha * math.exp(-1 / 2)
    expected = np.array([
        [0.0 + side * 0.9, 0.0 + side * 1.2],
        [1.0 + alpha * (0.9 - 1.0), 1.0 + alpha * (1.2 - 1.0)],
        [2.0 + side * (0.9 - 2.0), 2.0 + side * (1.2 - 2.0)],
    ])
    assert_allclose(weights, expected, rtol=1e-15)


def test_train_online_single_step_bubble_on_2d_grid():
    # 2 x 3 map, weights all zero except the winner's neighbourhood is what moves.
    weights = np.zeros((6, 1))
    weights[4] = [1.0]  # node 4 sits at (1, 1)
    data = np.array([[0.8]])
    reference.train_online(weights, data, np.array([0]), np.array([0.25]), np.array([1.0]),
                           reference.grid_coordinates(2, 3), "bubble")
    # Within grid distance 1 of (1, 1): (0, 1), (1, 0), (1, 1), (1, 2) = nodes 1, 3, 4, 5.
    expected = np.array([[0.0], [0.2], [0.0], [0.2], [1.0 - 0.25 * 0.2], [0.2]])
    assert_allclose(weights, expected, rtol=1e-15)


def test_train_online_follows_order_and_schedule(rng):
    weights = random_data(rng, 4, 2)
    data = random_data(rng, 3, 2)
    order = np.array([2, 0, 2, 1])
    alphas = np.array([0.5, 0.4, 0.3, 0.2])
    sigmas = np.array([1.5, 1.2, 1.0, 0.7])
    coords = reference.grid_coordinates(2, 2)
    expected = weights.copy()
    for t, n in enumerate(order):
        v = data[n]
        b = loop_bmu(expected, v[None])[0]
        for k in range(4):
            d2 = float(((coords[k] - coords[b]) ** 2).sum())
            expected[k] += alphas[t] * math.exp(-d2 / (2 * sigmas[t] ** 2)) * (v - expected[k])
    reference.train_online(weights, data, order, alphas, sigmas, coords, "gaussian")
    assert_allclose(weights, expected, rtol=1e-13)


# --------------------------------------------------------------------------- topologies
def test_wrap_axis_is_the_minimum_image():
    offsets = np.array([0.0, 1.0, 2.5, 3.0, 4.9, -4.9, 5.0, -7.5, 12.0])
    assert_allclose(reference.wrap_axis(offsets, 5.0),
                    [0.0, 1.0, 2.5, 2.0, 0.1, 0.1, 0.0, 2.5, 2.0], atol=1e-12)
    assert_array_equal(reference.wrap_axis(offsets, 0.0), offsets)  # an open axis


def test_wrap_offsets_per_axis():
    offsets = np.array([[3.5, -1.0], [-0.5, 4.0]])
    assert_allclose(reference.wrap_offsets(offsets, (4.0, 0.0)), [[0.5, -1.0], [0.5, 4.0]])
    assert_array_equal(reference.wrap_offsets(offsets, None), offsets)


def test_hexagonal_coordinates_six_neighbours_at_distance_one():
    coords = reference.hexagonal_coordinates(5, 6)
    assert_allclose(coords[6 + 2], [np.sqrt(3) / 2, 2.5])  # row 1 (odd) is shifted
    for inner in (6 + 1, 12 + 3, 18 + 4):  # nodes away from the edges
        d = np.sqrt(reference.squared_grid_distances(coords, inner))
        assert np.isclose(d, 1.0).sum() == 6
        assert np.sort(d)[1] == pytest.approx(1.0)


def test_torus_grid_distances_are_minima_over_shifted_copies():
    coords = reference.grid_coordinates(4, 5)
    periods = (4.0, 5.0)
    for k in range(20):
        got = np.sqrt(reference.squared_grid_distances(coords, k, periods))
        copies = [np.linalg.norm(coords - coords[k] + np.array([m * 4.0, n * 5.0]), axis=1)
                  for m in (-1, 0, 1) for n in (-1, 0, 1)]
        assert_allclose(got, np.min(copies, axis=0), rtol=1e-14)
        assert_allclose(reference.grid_distances(coords, np.full(20, k), np.arange(20),
                                                 periods), got, rtol=1e-14)
