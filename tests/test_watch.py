"""Progress bars, callbacks, early stopping and the tracked history of MiniSam's training."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from minisam import MiniSam, TrainingState

METHODS = ("train_random", "train_epochs", "train_batch")


def make(seed=3, **options):
    return MiniSam(5, 4, 3, sigma=2.0, learning_rate=0.5, random_seed=seed, **options)


@pytest.fixture
def data():
    return np.random.default_rng(0).random((20, 3))


@pytest.mark.parametrize("method", METHODS)
def test_watching_does_not_change_the_result(method, data):
    plain, watched = make(), make()
    getattr(plain, method)(data, 40 if method == "train_random" else 4)
    getattr(watched, method)(data, 40 if method == "train_random" else 4, progress=True,
                             callback=lambda state: None, callback_every=3, track=("qe", "te"))
    assert plain.get_weights().tobytes() == watched.get_weights().tobytes()
    assert plain._rng.bit_generator.state == watched._rng.bit_generator.state


def test_progress_bar_on_stderr(data, capsys):
    make().train_random(data, 250, progress=True)
    err = capsys.readouterr().err
    assert "250/250" in err and "step" in err
    make().train_batch(data, 3, progress=True)
    assert "3/3" in capsys.readouterr().err


def test_callback_sees_read_only_states_at_checkpoints(data):
    states = []

    def record(state):
        assert isinstance(state, TrainingState)
        with pytest.raises(ValueError):
            state.weights[0, 0, 0] = 1.0  # a read-only view
        states.append((state.done, state.unit, state.sigma, state.learning_rate,
                       state.weights.copy()))

    som = make()
    som.train_random(data, 25, callback=record, callback_every=10)
    assert [s[0] for s in states] == [10, 20, 25]
    assert {s[1] for s in states} == {"step"}
    alphas, sigmas = som._schedules(25)
    assert [s[2] for s in states] == [sigmas[9], sigmas[19], sigmas[24]]
    assert [s[3] for s in states] == [alphas[9], alphas[19], alphas[24]]
    assert_array_equal(states[-1][4], som.get_weights())
    states.clear()
    som.train_epochs(data, 2, callback=record)  # default: every epoch (len(data) steps)
    assert [s[0] for s in states] == [20, 40]
    states.clear()
    som.train_batch(data, 3, callback=record)
    assert [(s[0], s[1]) for s in states] == [(1, "epoch"), (2, "epoch"), (3, "epoch")]


def test_returning_false_stops_online_training_early(data):
    som = make()
    expected = make()
    som.train_random(data, 50, callback=lambda state: state.done < 20, callback_every=10)
    # The first 20 of the 50 steps, run by hand on the same draws and schedules.
    order = expected._rng.integers(0, len(data), size=50)
    alphas, sigmas = expected._schedules(50)
    flat = expected._flat().copy()
    expected._backend.train_online(flat, data, order[:20], alphas[:20], sigmas[:20],
                                   expected._grid.coords, "gaussian", expected._grid.periods)
    assert som.get_weights().tobytes() == flat.reshape(5, 4, 3).tobytes()


def test_returning_false_stops_batch_training_early(data):
    reached = []

    def stop_after_two(state):
        reached.append(state.weights.copy())
        return False if state.done == 2 else None

    som = make()
    som.train_batch(data, 6, callback=stop_after_two)
    assert len(reached) == 2
    assert_array_equal(som.get_weights(), reached[-1])
    assert not np.array_equal(reached[0], reached[1])


@pytest.mark.parametrize("method", METHODS)
def test_track_records_the_measures_at_each_checkpoint(method, data):
    seen = []

    def check(state):
        probe = make()
        probe._weights = state.weights.copy()
        assert state.quantization_error == probe.quantization_error(data)
        assert state.topographic_error == probe.topographic_error(data)
        seen.append(state.done)

    som = make()
    count = 30 if method == "train_random" else 3
    getattr(som, method)(data, count, callback=check, callback_every=10 if method ==
                         "train_random" else None, track=("qe", "topographic_error"))
    unit = "epoch" if method == "train_batch" else "step"
    assert_array_equal(som.history[unit], seen)
    assert set(som.history) == {unit, "sigma", "learning_rate", "quantization_error",
                                "topographic_error"}
    assert som.history["quantization_error"][-1] == som.quantization_error(data)
    assert len(som.history["quantization_error"]) == len(seen)


def test_nothing_is_measured_unless_tracked(data, monkeypatch):
    som = make()
    som.train_batch(data, 2, track="qe")
    assert som.history is not None

    def forbidden(*args, **kwargs):
        raise AssertionError("a measure was computed")

    monkeypatch.setattr(som, "_search", forbidden)
    som.train_batch(data, 3, callback=lambda state: None)
    som.train_random(data, 30, progress=True)
    assert som.history is None


@pytest.mark.parametrize(("options", "error"), [
    ({"callback": 3}, TypeError),
    ({"callback_every": 0}, ValueError),
    ({"callback_every": 2.5}, TypeError),
    ({"track": "accuracy"}, ValueError),
    ({"track": 5}, TypeError),
    ({"track": ["qe", None]}, TypeError),
    ({"progress": "yes"}, TypeError),
])
@pytest.mark.parametrize("method", METHODS)
def test_bad_watch_arguments_fail_before_any_work(method, options, error, data):
    som = make()
    before = som.get_weights(), som._rng.bit_generator.state
    name = next(iter(options))
    with pytest.raises(error, match=name):
        getattr(som, method)(data, 3, **options)
    assert_array_equal(som.get_weights(), before[0])
    assert som._rng.bit_generator.state == before[1]


def test_a_failing_callback_leaves_the_model_unchanged(data):
    som = make()
    som.train_batch(data, 2, track="qe")
    before = som.get_weights(), som._rng.bit_generator.state, som.history

    def fail(state):
        raise RuntimeError("user code failed")

    with pytest.raises(RuntimeError, match="user code"):
        som.train_random(data, 30, callback=fail, callback_every=5, track="te")
    assert_array_equal(som.get_weights(), before[0])
    assert som._rng.bit_generator.state == before[1]
    assert som.history is before[2]
