"""``MiniSam`` against the reference implementation and brute-force definitions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import brute_d2, grid_position, random_data
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, _schedules, available_backends, reference

BACKENDS = available_backends()
needs_cython = pytest.mark.skipif("cython" not in BACKENDS, reason="Cython backend not built")


def schedules(num_iteration, sigma0, alpha0):
    lam = _schedules.decay_time_constant(num_iteration, sigma0)
    return (_schedules.exponential_schedule(alpha0, num_iteration, lam),
            _schedules.exponential_schedule(sigma0, num_iteration, lam))


def expected_train_random(x, y, data, num_iteration, seed, sigma, learning_rate, neighbourhood,
                          dtype=np.float64):
    """What ``train_random`` should do, rebuilt from the documented random stream."""
    rng = np.random.default_rng(seed)
    weights = rng.random((x, y, data.shape[1]), dtype=dtype).reshape(x * y, -1)
    order = rng.integers(0, data.shape[0], size=num_iteration)
    alphas, sigmas = schedules(num_iteration, sigma, learning_rate)
    reference.train_online(weights, np.asarray(data, dtype=dtype), order, alphas, sigmas,
                           reference.grid_coordinates(x, y), neighbourhood)
    return weights.reshape(x, y, -1)


def expected_train_batch(initial, data, num_iteration, sigma, learning_rate, neighbourhood):
    x, y, d = initial.shape
    weights = initial.reshape(x * y, d).copy()
    alphas, sigmas = schedules(num_iteration, sigma, learning_rate)
    for alpha, s in zip(alphas, sigmas, strict=True):
        reference.batch_epoch(weights, data, float(alpha), float(s),
                              reference.grid_coordinates(x, y), neighbourhood)
    return weights.reshape(x, y, d)


# --------------------------------------------------------------------------- schedules
@pytest.mark.parametrize(("num_iteration", "sigma0"), [(1, 3.0), (10, 2.5), (37, 1.0001)])
def test_schedule_follows_documented_formula(num_iteration, sigma0):
    lam = num_iteration / math.log(sigma0)
    assert _schedules.decay_time_constant(num_iteration, sigma0) == pytest.approx(lam)
    values = _schedules.exponential_schedule(sigma0, num_iteration, lam)
    assert values.dtype == np.float64 and values.shape == (num_iteration,)
    assert_allclose(values, [sigma0 * math.exp(-t / lam) for t in range(num_iteration)],
                    rtol=1e-14)


@pytest.mark.parametrize("sigma0", [0.25, 0.5, 1.0])
def test_small_sigma_keeps_sigma_and_learning_rate_constant(sigma0):
    assert _schedules.decay_time_constant(20, sigma0) == math.inf
    som = MiniSam(3, 3, 2, sigma=sigma0, learning_rate=0.4, backend="numpy")
    alphas, sigmas = som._schedules(20)
    assert_array_equal(alphas, np.full(20, 0.4))
    assert_array_equal(sigmas, np.full(20, sigma0))


def test_small_sigma_training_uses_constant_schedule(rng):
    data = random_data(rng, 12, 2)
    som = MiniSam(3, 2, 2, sigma=0.7, learning_rate=0.3, random_seed=4, backend="numpy")
    som.train_random(data, 15)
    r = np.random.default_rng(4)
    weights = r.random((6, 2))
    order = r.integers(0, 12, size=15)
    reference.train_online(weights, data, order, np.full(15, 0.3), np.full(15, 0.7),
                           reference.grid_coordinates(3, 2), "gaussian")
    assert_allclose(som.get_weights().reshape(6, 2), weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("x", "y", "expected"), [(1, 1, 0.5), (3, 8, 4.0), (5, 2, 2.5)])
def test_sigma_default(x, y, expected):
    som = MiniSam(x, y, 2, backend="numpy")
    assert som.sigma == expected
    assert som.learning_rate == 0.5
    assert som.neighborhood_function == "gaussian"


# --------------------------------------------------------------------------- training vs reference
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
@pytest.mark.parametrize(("x", "y", "sigma"), [(1, 1, 1.0), (1, 6, 2.0), (4, 5, 2.5)])
def test_train_random_equals_reference(rng, neighbourhood, x, y, sigma):
    data = random_data(rng, 30, 3)
    som = MiniSam(x, y, 3, sigma=sigma, learning_rate=0.3, neighborhood_function=neighbourhood,
                  random_seed=11, backend="numpy")
    som.train_random(data, 60)
    expected = expected_train_random(x, y, data, 60, 11, sigma, 0.3, neighbourhood)
    assert_allclose(som.get_weights(), expected, rtol=1e-12, atol=1e-12)


def test_initial_weights_come_from_seeded_generator():
    som = MiniSam(3, 4, 5, random_seed=99, backend="numpy")
    expected = np.random.default_rng(99).random((3, 4, 5))
    assert_array_equal(som.get_weights(), expected)
    som32 = MiniSam(3, 4, 5, random_seed=99, backend="numpy", dtype=np.float32)
    expected32 = np.random.default_rng(99).random((3, 4, 5), dtype=np.float32)
    assert_array_equal(som32.get_weights(), expected32)


def test_train_random_continues_the_random_stream(rng):
    """Two calls draw two consecutive sample orders from the same generator."""
    data = random_data(rng, 10, 2)
    som = MiniSam(3, 3, 2, sigma=1.5, learning_rate=0.2, random_seed=5, backend="numpy")
    som.train_random(data, 7)
    som.train_random(data, 4)
    r = np.random.default_rng(5)
    weights = r.random((9, 2))
    coords = reference.grid_coordinates(3, 3)
    for steps in (7, 4):
        order = r.integers(0, 10, size=steps)
        alphas, sigmas = schedules(steps, 1.5, 0.2)
        reference.train_online(weights, data, order, alphas, sigmas, coords, "gaussian")
    assert_allclose(som.get_weights().reshape(9, 2), weights, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
@pytest.mark.parametrize(("x", "y", "sigma"), [(1, 1, 0.5), (2, 7, 3.0), (5, 4, 1.5)])
def test_train_batch_equals_reference(rng, neighbourhood, x, y, sigma):
    data = random_data(rng, 25, 3)
    som = MiniSam(x, y, 3, sigma=sigma, learning_rate=0.6, neighborhood_function=neighbourhood,
                  random_seed=3, backend="numpy")
    initial = som.get_weights()
    state = som._rng.bit_generator.state
    som.train_batch(data, 6)
    expected = expected_train_batch(initial, data, 6, sigma, 0.6, neighbourhood)
    assert_allclose(som.get_weights(), expected, rtol=1e-12, atol=1e-12)
    assert som._rng.bit_generator.state == state  # batch training draws nothing


def test_train_epochs_equals_reference(rng):
    data = random_data(rng, 4, 2)
    som = MiniSam(3, 4, 2, sigma=2.0, learning_rate=0.25, random_seed=1, backend="numpy")
    weights = som.get_weights().reshape(12, 2)
    som.train_epochs(data, 3)
    alphas, sigmas = schedules(3, 2.0, 0.25)
    reference.train_online(weights, data, np.tile(np.arange(4), 3), np.repeat(alphas, 4),
                           np.repeat(sigmas, 4), reference.grid_coordinates(3, 4), "gaussian")
    assert_allclose(som.get_weights().reshape(12, 2), weights, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- seeds and backends
def train_all_ways(backend, seed, data, dtype=np.float64):
    som = MiniSam(4, 3, data.shape[1], sigma=2.0, learning_rate=0.4, random_seed=seed,
                  backend=backend, dtype=dtype)
    som.train_random(data, 40)
    after_random = som.get_weights()
    som.train_batch(data, 5)
    return after_random, som.get_weights()


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_weights(rng, backend):
    data = random_data(rng, 20, 3)
    first = train_all_ways(backend, 21, data)
    second = train_all_ways(backend, 21, data)
    for a, b in zip(first, second, strict=True):
        assert_array_equal(a, b)
    assert_array_equal(MiniSam(3, 3, 2, random_seed=8, backend=backend).get_weights(),
                       MiniSam(3, 3, 2, random_seed=8, backend=backend).get_weights())


@pytest.mark.parametrize("backend", BACKENDS)
def test_different_seed_different_weights(rng, backend):
    data = random_data(rng, 20, 3)
    first = train_all_ways(backend, 21, data)
    second = train_all_ways(backend, 22, data)
    for a, b in zip(first, second, strict=True):
        assert not np.allclose(a, b)


def _train_and_measure(backend, data, neighbourhood, x=5, y=4, n_jobs=None):
    som = MiniSam(x, y, data.shape[1], sigma=2.0, learning_rate=0.5,
                  neighborhood_function=neighbourhood, random_seed=17, backend=backend,
                  n_jobs=n_jobs)
    assert som.backend_name == backend
    som.train_random(data, 80)
    after_random = som.get_weights()
    som.train_epochs(data[:7], 3)
    after_epochs = som.get_weights()
    som.train_batch(data, 8)
    return (after_random, after_epochs, som.get_weights(), som.quantization_error(data),
            som.topographic_error(data), som.activation_response(data))


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
@pytest.mark.parametrize(("x", "y", "dim"), [(5, 4, 3), (1, 9, 2), (7, 1, 1)])
def test_compiled_backends_agree_with_numpy(rng, backend, neighbourhood, x, y, dim):
    """Whole-training equivalence for a fixed seed: online, in-order epochs and batch."""
    data = random_data(rng, 50, dim)
    expected = _train_and_measure("numpy", data, neighbourhood, x, y)
    got = _train_and_measure(backend, data, neighbourhood, x, y)
    for a, b in zip(expected, got, strict=True):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_do_not_depend_on_thread_count(rng, backend):
    data = random_data(rng, 300, 4)
    one = _train_and_measure(backend, data, "gaussian", 6, 5, n_jobs=1)
    two = _train_and_measure(backend, data, "gaussian", 6, 5, n_jobs=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_model_keeps_float32(rng, backend):
    data = random_data(rng, 15, 3)  # float64 input is converted
    som = MiniSam(3, 4, 3, sigma=1.5, random_seed=2, backend=backend, dtype=np.float32)
    assert som.dtype == np.float32
    assert som.get_weights().dtype == np.float32
    som.train_random(data, 20)
    assert som.get_weights().dtype == np.float32
    som.train_batch(data, 3)
    assert som.get_weights().dtype == np.float32
    som.train_epochs(data, 2)
    assert som.get_weights().dtype == np.float32
    assert som.quantization(data).dtype == np.float32
    som.random_weights_init(data)
    assert som.get_weights().dtype == np.float32
    assert np.isfinite(som.get_weights()).all()


def test_float32_training_close_to_float64(rng):
    data = random_data(rng, 15, 3)
    expected = expected_train_random(3, 4, data, 30, 6, 1.5, 0.5, "gaussian", np.float32)
    som = MiniSam(3, 4, 3, sigma=1.5, random_seed=6, backend="numpy", dtype=np.float32)
    som.train_random(data, 30)
    assert_allclose(som.get_weights(), expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- queries
def trained_model(rng, x=4, y=5, d=3, backend="numpy", dtype=np.float64):
    som = MiniSam(x, y, d, random_seed=int(rng.integers(1000)), backend=backend, dtype=dtype)
    som.train_random(random_data(rng, 30, d), 20)
    return som


@pytest.mark.parametrize("backend", BACKENDS)
def test_winner_returns_tuple_of_python_ints(rng, backend):
    som = trained_model(rng, backend=backend)
    weights = som.get_weights().reshape(-1, 3)
    for v in random_data(rng, 10, 3):
        w = som.winner(v)
        assert isinstance(w, tuple) and len(w) == 2
        assert all(type(i) is int for i in w)
        assert w == grid_position(np.argmin(brute_d2(weights, v[None])[0]), som.y)
    assert som.winner([0.1, 0.2, 0.3]) == som.winner(np.array([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantization_and_activation_response(rng, backend, dtype):
    som = trained_model(rng, 3, 4, 2, backend, dtype)
    data = random_data(rng, 40, 2)
    weights = som.get_weights().reshape(-1, 2)
    bmus = np.argmin(brute_d2(weights, data), axis=1)
    q = som.quantization(data)
    assert q.shape == (40, 2)
    assert_array_equal(q, weights[bmus])
    response = som.activation_response(data)
    assert response.shape == (3, 4)
    assert response.dtype == np.int64
    expected = np.zeros((3, 4), dtype=np.int64)
    for b in bmus:
        expected[grid_position(b, 4)] += 1
    assert_array_equal(response, expected)
    assert response.sum() == 40


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantization_error(rng, backend, dtype):
    som = trained_model(rng, 3, 3, 4, backend, dtype)
    data = random_data(rng, 25, 4)
    expected = np.mean(np.sqrt(brute_d2(som.get_weights().reshape(-1, 4), data).min(axis=1)))
    qe = som.quantization_error(data)
    assert isinstance(qe, float)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert qe == pytest.approx(expected, rel=rtol)


def brute_topographic_error(weights, data, y):
    d2 = brute_d2(weights, data)
    errors = 0
    for row in d2:
        ranked = sorted(range(len(row)), key=lambda k: (row[k], k))
        (bi, bj), (si, sj) = grid_position(ranked[0], y), grid_position(ranked[1], y)
        if max(abs(bi - si), abs(bj - sj)) > 1:
            errors += 1
    return errors / len(d2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("x", "y"), [(1, 2), (1, 6), (4, 5)])
def test_topographic_error_matches_brute_force(rng, backend, x, y):
    som = MiniSam(x, y, 3, random_seed=1, backend=backend)  # untrained: many errors
    data = random_data(rng, 60, 3)
    te = som.topographic_error(data)
    assert isinstance(te, float)
    assert te == pytest.approx(brute_topographic_error(som.get_weights().reshape(-1, 3), data, y),
                               abs=1e-15)


def test_topographic_error_handmade_maps():
    som = MiniSam(1, 3, 1, backend="numpy")
    som._weights = np.array([[[0.0], [5.0], [0.2]]])
    # Best node 0, second node 2: two columns apart.
    assert som.topographic_error([[0.0]]) == 1.0
    # Best node 1, second node 2: neighbours.
    assert som.topographic_error([[4.0]]) == 0.0
    assert som.topographic_error([[0.0], [4.0]]) == 0.5
    diag = MiniSam(2, 2, 1, backend="numpy")
    diag._weights = np.array([[[0.0], [5.0]], [[9.0], [0.3]]])
    # Best (0, 0), second (1, 1): diagonal neighbours count as adjacent.
    assert diag.topographic_error([[0.0]]) == 0.0


def test_topographic_error_on_1x1_map_is_nan_with_warning(rng):
    som = MiniSam(1, 1, 2, backend="numpy")
    with pytest.warns(RuntimeWarning, match="1-by-1"):
        te = som.topographic_error(random_data(rng, 5, 2))
    assert math.isnan(te)


def brute_distance_map(weights):
    x, y, _ = weights.shape
    out = np.zeros((x, y))
    for i in range(x):
        for j in range(y):
            dists = [float(np.sqrt(((weights[i, j] - weights[a, b]) ** 2).sum()))
                     for a in range(i - 1, i + 2) for b in range(j - 1, j + 2)
                     if 0 <= a < x and 0 <= b < y and (a, b) != (i, j)]
            out[i, j] = sum(dists) / len(dists) if dists else 0.0
    return out


@pytest.mark.parametrize(("x", "y"), [(1, 1), (1, 5), (4, 1), (2, 2), (4, 6)])
def test_distance_map_matches_brute_force(rng, x, y):
    som = MiniSam(x, y, 3, random_seed=int(rng.integers(100)), backend="numpy")
    dm = som.distance_map()
    assert dm.shape == (x, y)
    assert dm.dtype == np.float64
    assert_allclose(dm, brute_distance_map(som.get_weights()), rtol=1e-13, atol=1e-15)


def test_distance_map_float32(rng):
    som = MiniSam(3, 4, 2, random_seed=2, backend="numpy", dtype=np.float32)
    assert_allclose(som.distance_map(), brute_distance_map(som.get_weights().astype(np.float64)),
                    rtol=1e-6)


# --------------------------------------------------------------------------- misc API
def test_random_weights_init_picks_rows_of_data(rng):
    data = random_data(rng, 7, 3)
    som = MiniSam(4, 5, 3, random_seed=13, backend="numpy")
    som.random_weights_init(data)
    weights = som.get_weights()
    assert weights.shape == (4, 5, 3)
    for row in weights.reshape(-1, 3):
        assert any(np.array_equal(row, sample) for sample in data)
    # The picks are the next draws of the model's generator, after the initial weights.
    r = np.random.default_rng(13)
    r.random((4, 5, 3))
    picks = r.integers(0, 7, size=20)
    assert_array_equal(weights.reshape(-1, 3), data[picks])
    # The model does not alias the caller's data.
    data[:] = -1.0
    assert_array_equal(som.get_weights(), weights)


def test_random_weights_init_accepts_lists():
    som = MiniSam(2, 2, 2, random_seed=0, backend="numpy")
    som.random_weights_init([[1, 2], [3, 4]])
    for row in som.get_weights().reshape(-1, 2):
        assert tuple(row) in {(1.0, 2.0), (3.0, 4.0)}


def test_get_weights_returns_a_copy():
    som = MiniSam(2, 3, 2, random_seed=0, backend="numpy")
    weights = som.get_weights()
    assert weights.shape == (2, 3, 2)
    weights[:] = 42.0
    assert not np.any(som.get_weights() == 42.0)
    assert not np.shares_memory(som.get_weights(), som.get_weights())


def test_backend_name():
    assert MiniSam(2, 2, 2, backend="auto").backend_name == "auto"
    assert MiniSam(2, 2, 2).backend_name == "auto"
    assert MiniSam(2, 2, 2, backend="numpy").backend_name == "numpy"


def test_auto_backend_plan_uses_available_engines_in_preference_order():
    from minisam.backends import cython_parallel, default_n_threads
    from minisam.backends.auto import PREFERENCES, preferences

    plan = MiniSam(2, 2, 2).backend_plan
    assert set(plan) == set(PREFERENCES)
    order = preferences(cython_parallel=cython_parallel(), n_threads=default_n_threads())
    for operation, engine in plan.items():
        preferred = [name for name in order[operation] if name in BACKENDS]
        assert engine == preferred[0]
    assert set(MiniSam(2, 2, 2, backend="numpy").backend_plan.values()) == {"numpy"}
    assert "numpy" in BACKENDS
    assert "backend='auto'" in repr(MiniSam(2, 2, 2))


def test_auto_prefers_numba_for_parallel_work_when_cython_is_serial():
    from minisam.backends.auto import PARALLEL_OPERATIONS, PREFERENCES, preferences

    assert preferences(cython_parallel=True, n_threads=4) == PREFERENCES
    assert preferences(cython_parallel=False, n_threads=1) == PREFERENCES
    serial = preferences(cython_parallel=False, n_threads=2)
    for operation, order in serial.items():
        assert sorted(order) == sorted(PREFERENCES[operation])
        expected_first = "numba" if operation in PARALLEL_OPERATIONS else PREFERENCES[operation][0]
        assert order[0] == expected_first
    assert serial["train_online"] == PREFERENCES["train_online"]


@needs_cython
def test_serial_cython_build_routes_auto_and_warns(monkeypatch):
    import minisam.backends as backends

    monkeypatch.setattr(backends, "cython_parallel", lambda: False)
    plan = MiniSam(2, 2, 2, n_jobs=2).backend_plan
    expected = "numba" if "numba" in BACKENDS else "cython"
    assert plan["bmu_many"] == plan["batch_epoch"] == expected
    assert plan["train_online"] == "cython"
    assert MiniSam(2, 2, 2, n_jobs=1).backend_plan["bmu_many"] == "cython"
    with pytest.warns(RuntimeWarning, match="without OpenMP.*n_jobs=2"):
        MiniSam(2, 2, 2, backend="cython", n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MiniSam(2, 2, 2, backend="cython", n_jobs=1)
        MiniSam(2, 2, 2, backend="cython")  # the default thread count is not the user's ask


@pytest.mark.parametrize("backend", BACKENDS)
def test_explicit_backend_name(backend):
    assert MiniSam(2, 2, 2, backend=backend).backend_name == backend


def test_thread_count_defaults_to_environment(monkeypatch):
    from minisam.backends import default_n_threads

    monkeypatch.setenv("MINISAM_NUM_THREADS", "3")
    assert default_n_threads() == 3
    assert MiniSam(2, 2, 2, backend="numpy")._backend.n_threads == 3
    assert MiniSam(2, 2, 2, backend="numpy", n_jobs=1)._backend.n_threads == 1
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("MINISAM_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="MINISAM_NUM_THREADS"):
            default_n_threads()
