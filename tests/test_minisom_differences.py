"""Where ``minisam.MiniSom`` deliberately differs from MiniSom 2.3.6 (README, "Differences from
MiniSom"): each test shows MiniSom's behaviour on the oracle and minisam's correction."""

from __future__ import annotations

import warnings

import minisom as oracle_module
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSom


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# ----------------------------------------------------------------------------- chebyshev
def test_chebyshev_distance_is_max_abs_difference():
    """MiniSom 2.3.6 computes max(x - w) without abs: not a distance (it can be negative) and
    it prefers nodes *above* the sample in every feature, however far."""
    x = np.array([0.0, 0.0])
    weights = np.array([[[0.1, 0.1], [5.0, 5.0]]])  # a 1 x 2 map: near and far node
    ref = oracle_module.MiniSom(1, 2, 2, activation_distance="chebyshev")
    ours = MiniSom(1, 2, 2, activation_distance="chebyshev")
    ref._weights = weights.copy()
    ours._weights = weights.copy()
    assert ref.winner(x) == (0, 1)  # MiniSom picks the node 5 away
    assert ours.winner(x) == (0, 0)  # the node 0.1 away
    assert_array_equal(ours.activate(x), [[0.1, 5.0]])
    assert_array_equal(ref.activate(x), [[-0.1, -5.0]])


def test_chebyshev_training_matches_corrected_minisom():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 3))
    ref = oracle_module.MiniSom(5, 5, 3, activation_distance="chebyshev", random_seed=1)
    ref._activation_distance = lambda x, w: np.max(np.abs(np.subtract(x, w)), axis=-1)
    ours = MiniSom(5, 5, 3, activation_distance="chebyshev", random_seed=1)
    ref.train_random(data, 200)
    ours.train_random(data, 200)
    assert_allclose(ours._weights, ref._weights, rtol=1e-9, atol=1e-12)
    assert_array_equal(ours.activation_response(data), ref.activation_response(data))


# ----------------------------------------------------------------------------- hexagonal U-matrix
def u_matrix_from_positions(som, scaling):
    """The U-matrix from its definition: the nodes adjacent to a node are those 1 apart on
    the plane (``get_euclidean_coordinates``), the adjacency ``topographic_error`` uses."""
    xx, yy = som.get_euclidean_coordinates()
    w = som.get_weights()
    x_size, y_size = xx.shape
    um = np.zeros((x_size, y_size))
    for i in range(x_size):
        for j in range(y_size):
            gaps = [np.linalg.norm(w[i, j] - w[a, b]) for a in range(x_size) for b in range(y_size)
                    if np.isclose(np.hypot(xx[i, j] - xx[a, b], yy[i, j] - yy[a, b]), 1)]
            um[i, j] = np.sum(gaps) if scaling == "sum" else np.mean(gaps)
    return um / um.max()


@pytest.mark.parametrize(("x", "y"), [(2, 2), (4, 6), (5, 4), (3, 5), (6, 7), (1, 4), (4, 1)])
@pytest.mark.parametrize("scaling", ["sum", "mean"])
def test_hexagonal_distance_map_uses_the_adjacent_nodes(x, y, scaling):
    """MiniSom shifts the last column of nodes (fixed y) and every second one before it by
    -0.5 along x, but its distance_map assumes the even columns are shifted: right for an odd
    number of columns, wrong for an even one. minisam follows the positions; with an odd
    number of columns it gives exactly MiniSom's values."""
    rng = np.random.default_rng(x * 10 + y)
    ref = oracle_module.MiniSom(x, y, 3, topology="hexagonal", random_seed=2)
    ours = MiniSom(x, y, 3, topology="hexagonal", random_seed=2)
    data = rng.random((40, 3))
    ref.train_random(data, 100)
    ours.train_random(data, 100)
    expected = u_matrix_from_positions(ours, scaling)
    assert_allclose(ours.distance_map(scaling), expected, rtol=1e-12)
    theirs = ref.distance_map(scaling)
    if y % 2:
        assert_allclose(ours.distance_map(scaling), theirs, rtol=1e-12)
    elif y > 1 and x > 1:
        assert not np.allclose(theirs, u_matrix_from_positions(ref, scaling))


@pytest.mark.parametrize("y", [4, 5])
def test_distance_map_neighbours_are_the_nodes_one_apart(y):
    """Lighting up one node shows which nodes distance_map treats as its neighbours: exactly
    those at distance 1 on the plane, the adjacency of topographic_error."""
    som = MiniSom(4, y, 1, topology="hexagonal", random_seed=0)
    xx, yy = som.get_euclidean_coordinates()
    for i in range(4):
        for j in range(y):
            som._weights = np.zeros((4, y, 1))
            som._weights[i, j] = 1.0
            lit = som.distance_map() > 0
            lit[i, j] = False
            one_apart = np.isclose(np.hypot(xx - xx[i, j], yy - yy[i, j]), 1)
            assert_array_equal(lit, one_apart)


# ----------------------------------------------------------------------------- early validation
def test_sigma_must_be_positive():
    """MiniSom accepts sigma=0 and its gaussian then divides 0 by 0: NaN weights."""
    data = np.random.default_rng(0).random((10, 2))
    ref = oracle_module.MiniSom(3, 3, 2, sigma=0.0, random_seed=0)
    quiet(ref.train_random, data, 5)
    assert np.isnan(ref._weights).any()
    for sigma in (0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="sigma"):
            MiniSom(3, 3, 2, sigma=sigma)
    with pytest.raises(TypeError, match="sigma"):
        MiniSom(3, 3, 2, sigma="1")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_is_refused(bad):
    """MiniSom trains on NaN and spreads it to every node; minisam refuses such data."""
    data = np.array([[bad, 1.0], [0.2, 0.3]])
    ref = oracle_module.MiniSom(3, 3, 2, random_seed=0)
    quiet(ref.train_random, data, 5)
    assert not np.isfinite(ref._weights).all()
    ours = MiniSom(3, 3, 2, random_seed=0)
    before = ours._weights.copy()
    for method, args in [("train_random", (data, 5)), ("train_batch_offline", (data, 2)),
                         ("quantization_error", (data,)), ("random_weights_init", (data,))]:
        with pytest.raises(ValueError, match="finite"):
            getattr(ours, method)(*args)
    assert_array_equal(ours._weights, before)


def test_invalid_function_arguments_fail_at_construction():
    """MiniSom silently ignores a decay_function or activation_distance that is neither a
    known name nor callable, then fails with AttributeError on the first use."""
    ref = oracle_module.MiniSom(3, 3, 2, decay_function=3)
    with pytest.raises(AttributeError):
        ref.train_random(np.ones((4, 2)), 2)
    with pytest.raises(TypeError, match="decay_function"):
        MiniSom(3, 3, 2, decay_function=3)
    with pytest.raises(TypeError, match="activation_distance"):
        MiniSom(3, 3, 2, activation_distance=None)


def test_map_size_and_counts_are_checked():
    for args in [(0, 3, 2), (3, -1, 2), (3, 3, 0)]:
        with pytest.raises(ValueError):
            MiniSom(*args)
    for args in [(2.5, 3, 2), (3, "3", 2)]:
        with pytest.raises(TypeError):
            MiniSom(*args)
    som = MiniSom(3, 3, 2)
    with pytest.raises(TypeError, match="num_iteration"):
        som.train(np.ones((4, 2)), 10.0)  # MiniSom: IndexError from float sample indices


def test_empty_data_raises_index_error_and_value_error():
    """MiniSom reads data[0] first, so empty data raises IndexError; minisam's error is both
    an IndexError and a ValueError."""
    with pytest.raises(IndexError):
        oracle_module.MiniSom(3, 3, 2).train_random([], 5)
    som = MiniSom(3, 3, 2)
    for method in ("train_random", "quantization_error", "win_map"):
        args = ([], 5) if method == "train_random" else ([],)
        with pytest.raises(IndexError):
            getattr(som, method)(*args)
        with pytest.raises(ValueError, match="at least one sample"):
            getattr(som, method)(*args)


def test_fixed_point_coordinates_must_be_integers():
    """MiniSom fails with IndexError when the sample of a fixed point with non-integer
    coordinates comes up (after part of the training); minisam refuses it up front."""
    data = np.random.default_rng(0).random((4, 2))
    ref = oracle_module.MiniSom(3, 3, 2, random_seed=0)
    with pytest.raises(IndexError):
        ref.train(data, 10, fixed_points={2: (1.0, 1)})
    ours = MiniSom(3, 3, 2, random_seed=0)
    before = ours._weights.copy()
    with pytest.raises(TypeError, match="integers"):
        ours.train(data, 10, fixed_points={2: (1.0, 1)})
    assert_array_equal(ours._weights, before)


def test_a_failed_training_leaves_the_model_unchanged():
    """MiniSom updates the weights in place step by step and keeps whatever it reached when
    an exception (or KeyboardInterrupt) stops it; minisam keeps the weights and the random
    generator as they were before the call."""
    calls = []

    def failing(x, w):
        calls.append(1)
        if len(calls) > 20:
            raise KeyboardInterrupt
        return np.linalg.norm(np.subtract(x, w), axis=-1)

    data = np.random.default_rng(0).random((30, 2))
    for cls in (oracle_module.MiniSom, MiniSom):
        calls.clear()
        som = cls(4, 4, 2, activation_distance=failing, random_seed=3)
        weights, state = som._weights.copy(), som._random_generator.get_state()
        with pytest.raises(KeyboardInterrupt):
            som.train_random(data, 100)
        changed = not np.array_equal(som._weights, weights)
        assert changed == (cls is oracle_module.MiniSom)
        if cls is MiniSom:
            assert_array_equal(som._random_generator.get_state()[1], state[1])


def test_exact_ties_in_topographic_error_go_to_the_lowest_indices():
    """Equal weights on several nodes tie exactly; MiniSom's order among them comes from
    NumPy's unstable argsort, minisam's from the node indices."""
    som = MiniSom(1, 4, 1, random_seed=0)
    som._weights = np.array([[[1.0], [5.0], [1.0], [1.0]]])
    # best: node 0, second: node 2 (not adjacent on a 1 x 4 map: |0 - 2| = 2 > 1.42)
    assert som.topographic_error([[1.0]]) == 1.0
    som._weights = np.array([[[1.0], [1.0], [5.0], [1.0]]])
    assert som.topographic_error([[1.0]]) == 0.0
