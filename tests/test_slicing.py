"""Long calls run in slices of bounded work, with bitwise the results of one kernel call."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from minisam import MiniSam, MiniSom, _slicing, available_backends

ENGINES = [name for name in ("numpy", "cython", "numba") if name in available_backends()]
#: Steps (online) or rows (searches) per slice; "one" is a single kernel call.
SLICINGS = {"one": 10**9, "1": 1, "7": 7, "64": 64}


@pytest.fixture
def slicing(monkeypatch):
    """Set the slice sizes of every long call."""

    def use(size):
        monkeypatch.setattr(_slicing, "online_steps", lambda n_nodes, n_features, engine: size)
        monkeypatch.setattr(_slicing, "search_rows", lambda n_nodes, n_features: size)

    return use


def test_spans_cover_the_range_and_cut_at_checkpoints():
    assert list(_slicing.spans(0, 10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert list(_slicing.spans(3, 10, 4, every=5)) == [(3, 5), (5, 9), (9, 10)]
    assert list(_slicing.spans(5, 5, 4)) == []
    with pytest.raises(ValueError):
        list(_slicing.spans(0, 3, 0))


@pytest.mark.parametrize("engine", ["numpy", "cython", "numba"])
def test_slice_sizes_bound_the_work(engine):
    steps = _slicing.online_steps(1600, 64, engine)
    assert 1 < steps and steps * 1600 * 64 <= _slicing.ONLINE_SLICE_WORK[engine]
    assert _slicing.online_steps(10**6, 10**3, engine) == 1  # a step over the budget: one
    assert _slicing.search_rows(2500, 64) * 2500 * 64 <= _slicing.SEARCH_SLICE_WORK
    assert _slicing.search_rows(1, 1) * 1 <= _slicing.SEARCH_SLICE_WORK


def _minisam(engine, topology="rectangular", toroidal=False):
    return MiniSam(6, 4, 3, sigma=2.5, learning_rate=0.4, random_seed=5, backend=engine,
                   topology=topology, toroidal=toroidal, n_jobs=2)


def _train(engine, size, slicing, topology="rectangular", toroidal=False):
    slicing(size)
    data = np.random.default_rng(1).random((50, 3))
    som = _minisam(engine, topology, toroidal)
    som.train_random(data, 300)
    som.train_epochs(data, 3)
    som.train_batch(data, 4)
    measures = (som.quantization(data), som.activation_response(data),
                som.quantization_error(data), som.topographic_error(data))
    return som.get_weights(), som._rng.bit_generator.state, measures


@pytest.mark.parametrize("size", [s for s in SLICINGS if s != "one"])
@pytest.mark.parametrize("engine", ENGINES)
def test_minisam_slicing_is_bitwise_one_call(engine, size, slicing):
    weights, state, measures = _train(engine, SLICINGS["one"], slicing)
    sliced_weights, sliced_state, sliced_measures = _train(engine, SLICINGS[size], slicing)
    assert weights.tobytes() == sliced_weights.tobytes()
    assert state == sliced_state
    for whole, sliced in zip(measures, sliced_measures, strict=True):
        assert_array_equal(whole, sliced)


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "cython"])
def test_minisam_slicing_is_bitwise_on_a_hexagonal_torus(engine, slicing):
    one = _train(engine, SLICINGS["one"], slicing, "hexagonal", True)
    sliced = _train(engine, 5, slicing, "hexagonal", True)
    assert one[0].tobytes() == sliced[0].tobytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_minisam_really_slices(engine, slicing, monkeypatch):
    slicing(7)
    som = _minisam(engine)
    calls = []
    original = som._backend.train_online

    def spy(weights, data, order, *args):
        calls.append(len(order))
        original(weights, data, order, *args)

    monkeypatch.setattr(som._backend, "train_online", spy)
    som.train_random(np.random.default_rng(0).random((10, 3)), 30)
    assert calls == [7, 7, 7, 7, 2]


def _minisom(engine, topology, **options):
    som = MiniSom(5, 6, 3, sigma=1.5, learning_rate=0.5, topology=topology, random_seed=3,
                  backend=engine, n_jobs=2, **options)
    return som


def _train_minisom(engine, topology, size, slicing, fixed=False):
    slicing(size)
    data = np.random.default_rng(2).random((40, 3))
    som = _minisom(engine, topology)
    som.train_random(data, 200)
    som.train(data, 2, use_epochs=True, fixed_points={3: (0, 0)} if fixed else None)
    som.train_batch_offline(data, 3)
    return (som.get_weights().copy(), som.quantization_error(data), som.topographic_error(data),
            som.activation_response(data))


@pytest.mark.parametrize("size", ["1", "7"])
@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
@pytest.mark.parametrize("engine", ENGINES)
def test_minisom_slicing_is_bitwise_one_call(engine, topology, size, slicing):
    whole = _train_minisom(engine, topology, SLICINGS["one"], slicing, fixed=True)
    sliced = _train_minisom(engine, topology, SLICINGS[size], slicing, fixed=True)
    assert whole[0].tobytes() == sliced[0].tobytes()
    for a, b in zip(whole[1:], sliced[1:], strict=True):
        assert_array_equal(a, b)
