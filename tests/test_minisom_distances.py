"""The MiniSom drop-in's cosine, Manhattan and Chebyshev distances on the compiled kernels.

Two oracles: the ``minisom`` package (2.3.6; its Chebyshev distance corrected to ``max |x - w|``,
README difference 1) for the drop-in's training and queries, and the NumPy reference
:func:`minisam._minisom_core.train_online_metric_reference` /
:func:`~minisam._minisom_core.bmu_by_distance` for the kernels themselves (both engines,
float32 and float64, odd shapes, one feature, one node, ties, every tabulated topology).
"""

from __future__ import annotations

import warnings

import minisom as oracle_module
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSom, available_backends
from minisam import _minisom_core as core

COMPILED = [b for b in ("cython", "numba") if b in available_backends()]
METRICS = ["cosine", "manhattan", "chebyshev"]
RTOL = 1e-9


def _kernels(engine):
    if engine == "cython":
        from minisam import _cython_kernels as kernels
    else:
        from minisam import _numba_kernels as kernels
    return kernels


def _pair(x, y, input_len, backend, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = oracle_module.MiniSom(x, y, input_len, **kwargs)
        ours = MiniSom(x, y, input_len, backend=backend, **kwargs)
    if kwargs.get("activation_distance") == "chebyshev":
        ref._activation_distance = core.chebyshev_distance
    return ref, ours


def _assert_same(ref, ours):
    scale = max(1.0, float(np.abs(ref._weights).max()))
    assert_allclose(ours._weights, ref._weights, rtol=RTOL, atol=1e-11 * scale)
    assert_allclose(ours._activation_map, ref._activation_map, rtol=RTOL, atol=1e-11 * scale)
    assert_array_equal(ours._random_generator.get_state()[1],
                       ref._random_generator.get_state()[1])


# ----------------------------------------------------------------------------- the drop-in
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("distance", METRICS)
@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble", "triangle"])
@pytest.mark.parametrize(("x", "y", "input_len"), [(7, 5, 4), (1, 9, 1), (6, 1, 3), (4, 3, 130)])
def test_online_training_matches_minisom(backend, distance, topology, neighbourhood, x, y,
                                         input_len):
    rng = np.random.default_rng(x * 100 + y * 10 + input_len)
    data = rng.random((23, input_len)) * 2 - 1
    sigma = 2 if neighbourhood != "gaussian" else 1.3
    ref, ours = _pair(x, y, input_len, backend, sigma=sigma, learning_rate=0.7,
                      neighborhood_function=neighbourhood, topology=topology,
                      activation_distance=distance, random_seed=5)
    ref.train_random(data, 150)
    ours.train_random(data, 150)
    _assert_same(ref, ours)
    ref.train_batch(data, 40)
    ours.train_batch(data, 40)
    _assert_same(ref, ours)
    ref.train(data, 3, use_epochs=True)
    ours.train(data, 3, use_epochs=True)
    _assert_same(ref, ours)
    assert ours._winner_positions(data) == [ref.winner(s) for s in data]


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("distance", ["euclidean", *METRICS])
@pytest.mark.parametrize("learning_rate", [0.5, 1.0])
def test_batch_training_and_queries_match_minisom(backend, distance, learning_rate):
    rng = np.random.default_rng(11)
    data = rng.random((60, 5))
    ref, ours = _pair(6, 4, 5, backend, sigma=1.5, learning_rate=learning_rate,
                      activation_distance=distance, random_seed=2)
    ref.train_batch_offline(data, 6)
    ours.train_batch_offline(data, 6)
    _assert_same(ref, ours)
    assert_array_equal(ours.activation_response(data), ref.activation_response(data))
    assert {k: len(v) for k, v in ours.win_map(data).items()} == \
        {k: len(v) for k, v in ref.win_map(data).items()}


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("distance", METRICS)
def test_ties_from_duplicated_nodes_match_minisom(backend, distance):
    """Nodes copied from the same samples (random_weights_init on few samples) tie exactly;
    the first one must win, as MiniSom's argmin picks it, and a learning rate of 1 keeps
    copying nodes onto samples."""
    rng = np.random.default_rng(4)
    data = rng.random((3, 4))
    ref, ours = _pair(5, 4, 4, backend, sigma=1.0, learning_rate=1.0,
                      activation_distance=distance, random_seed=9)
    ref.random_weights_init(data)
    ours.random_weights_init(data)
    ref.train_random(data, 60)
    ours.train_random(data, 60)
    _assert_same(ref, ours)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("distance", METRICS)
@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble", "triangle"])
def test_toroidal_training_matches_the_numpy_path(backend, distance, topology, neighbourhood):
    """MiniSom has no torus: the drop-in's own per-step NumPy path is the oracle."""
    rng = np.random.default_rng(8)
    data = rng.random((30, 3))
    kwargs = dict(sigma=2, learning_rate=0.6, neighborhood_function=neighbourhood,
                  topology=topology, activation_distance=distance, random_seed=3,
                  toroidal=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = MiniSom(6, 4, 3, backend="numpy", **kwargs)
        ours = MiniSom(6, 4, 3, backend=backend, **kwargs)
    ref.train_random(data, 200)
    ours.train_random(data, 200)
    assert_allclose(ours._weights, ref._weights, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
def test_kernel_path_is_taken(backend, monkeypatch):
    """Online training with another distance runs on the kernels, not MiniSom's step loop."""
    calls = []
    ours = MiniSom(5, 5, 3, activation_distance="cosine", random_seed=1, backend=backend)
    original = MiniSom._python_step
    monkeypatch.setattr(MiniSom, "_python_step",
                        lambda self, *a: (calls.append(1), original(self, *a)))
    ours.train_random(np.random.default_rng(0).random((10, 3)), 100)
    assert len(calls) == 1  # only the last step, whose activation map MiniSom leaves


# ----------------------------------------------------------------------------- the kernels
def _tables(x_size, y_size, topology, name, sigmas, toroidal=False):
    if name == "gaussian":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            som = MiniSom(x_size, y_size, 1, topology=topology, toroidal=toroidal)
        periods = som._topology.periods if toroidal else None
        tabs = core.GaussianTables.for_positions(som._xx.T, som._yy.T, periods)
    else:
        tabs = core.IndexTables(name, x_size, y_size, toroidal)
    return tabs.tables(sigmas)


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", METRICS)
@pytest.mark.parametrize(("x_size", "y_size", "n_features", "topology", "name", "toroidal"), [
    (5, 7, 3, "rectangular", "gaussian", False),
    (1, 13, 1, "rectangular", "minisom_bubble", False),
    (9, 1, 17, "hexagonal", "gaussian", False),
    (4, 6, 200, "hexagonal", "gaussian", True),
    (6, 5, 9, "rectangular", "triangle", True),
    (1, 1, 2, "rectangular", "gaussian", False),
])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_train_online_metric_matches_reference(engine, dtype, kind, x_size, y_size, n_features,
                                               topology, name, toroidal, n_threads):
    if dtype == np.float32 and kind == "cosine" and n_features < 3:
        pytest.skip("one or two features: cosine distances tie up to float32 rounding")
    rng = np.random.default_rng(x_size * y_size + n_features)
    n_nodes, steps = x_size * y_size, 40
    data = rng.random((17, n_features)).astype(dtype)
    weights = rng.random((n_nodes, n_features)).astype(dtype)
    order = rng.integers(0, 17, steps).astype(np.int64)
    alphas = np.linspace(0.8, 0.1, steps)
    sigmas = np.linspace(2.5, 0.8, steps)
    tables = _tables(x_size, y_size, topology, name, sigmas, toroidal)
    expected = weights.astype(np.float64)
    data64 = data.astype(np.float64)
    core.train_online_metric_reference(expected, data64, order, alphas, kind, tables)
    got = weights.copy()
    _kernels(engine).train_online_metric(got, data, order, alphas, core.sample_norms(data64),
                                         core.METRIC_CODES[kind], 0.0, n_threads, tables)
    if dtype == np.float64:
        assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    else:
        assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("kind", METRICS)
def test_train_online_metric_in_slices_equals_one_call(engine, kind):
    rng = np.random.default_rng(1)
    data = rng.random((20, 6))
    weights = rng.random((12, 6))
    order = rng.integers(0, 20, 60).astype(np.int64)
    alphas = np.linspace(0.5, 0.05, 60)
    sigmas = np.linspace(2.0, 0.5, 60)
    tables = _tables(4, 3, "rectangular", "gaussian", sigmas)
    norms = core.sample_norms(data)
    kernels = _kernels(engine)
    one = weights.copy()
    kernels.train_online_metric(one, data, order, alphas, norms, core.METRIC_CODES[kind],
                                2.0 ** -55, 1, tables)
    sliced = weights.copy()
    for a, b in [(0, 7), (7, 31), (31, 60)]:
        part = tuple(t[a:b] for t in tables[:2]) + tables[2:]
        kernels.train_online_metric(sliced, data, order[a:b], alphas[a:b], norms,
                                    core.METRIC_CODES[kind], 2.0 ** -55, 2, part)
    assert_array_equal(sliced, one)


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", METRICS)
@pytest.mark.parametrize(("n_nodes", "n_features", "n_samples"),
                         [(1, 3, 5), (35, 1, 40), (19, 9, 33), (64, 130, 7), (3, 2, 1)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_bmu_metric_matches_reference(engine, dtype, kind, n_nodes, n_features, n_samples,
                                      n_threads):
    if dtype == np.float32 and kind == "cosine" and n_features < 3:
        pytest.skip("one or two features: cosine distances tie up to float32 rounding")
    rng = np.random.default_rng(n_nodes + n_features)
    weights = rng.random((n_nodes, n_features)).astype(dtype)
    data = rng.random((n_samples, n_features)).astype(dtype)
    if n_nodes > 2:  # exact ties: the first of equal nodes wins
        weights[n_nodes - 1] = weights[1]
        data[0] = weights[1]
    index = np.empty(n_samples, dtype=np.int64)
    _kernels(engine).bmu_metric(weights, data, core.sample_norms(data.astype(np.float64)),
                                core.METRIC_CODES[kind], index, n_threads)
    expected = core.bmu_by_distance(kind, weights.astype(np.float64), data.astype(np.float64))
    if dtype == np.float64:
        assert_array_equal(index, expected)
    else:
        assert (index == expected).mean() > 0.9
        if n_nodes > 2:
            assert index[0] == expected[0] == 1


@pytest.mark.parametrize("engine", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_nodes", "n_features"), [(1, 3), (37, 1), (20, 300), (9, 8)])
def test_bmu_metric_euclidean_is_numpys_argmin_of_norms(engine, dtype, n_nodes, n_features):
    """Code 0: exactly ``np.argmin(np.linalg.norm(x - w, axis=1))``, exact ties included
    (the near ties of the float32 search are settled with it)."""
    rng = np.random.default_rng(n_nodes * n_features)
    weights = rng.random((n_nodes, n_features)).astype(dtype)
    data = rng.random((31, n_features)).astype(dtype)
    if n_nodes > 2:
        weights[-1] = weights[1]
        weights[2] = weights[1] + np.finfo(dtype).eps  # a near tie
        data[:3] = weights[1]
    index = np.empty(len(data), dtype=np.int64)
    _kernels(engine).bmu_metric(weights, data, np.zeros(len(data)), 0, index, 2)
    expected = [np.argmin(np.linalg.norm(x - weights, axis=1)) for x in data]
    assert_array_equal(index, expected)


@pytest.mark.parametrize("backend", COMPILED)
def test_collapsed_map_winners_are_exact(backend):
    """A map whose nodes nearly coincide (most samples are near ties of the fast search):
    winners and quantization error as MiniSom computes them."""
    rng = np.random.default_rng(2)
    data = rng.random((500, 40))
    ref, ours = _pair(6, 5, 40, backend, sigma=4, learning_rate=1.0, random_seed=1)
    centre = data.mean(axis=0)
    weights = centre + rng.random((6, 5, 40)) * 1e-9
    weights[0, 1] = weights[3, 2]
    ref._weights = weights.copy()
    ours._weights = weights.copy()
    assert ours._winner_positions(data) == [ref.winner(x) for x in data]
    assert_allclose(ours.quantization_error(data), ref.quantization_error(data), rtol=1e-12)
    ref.train_batch_offline(data, 3)
    ours.train_batch_offline(data, 3)
    _assert_same(ref, ours)
