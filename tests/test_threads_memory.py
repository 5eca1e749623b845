"""Threads (two models in two threads; one model shared by two threads) and memory checks."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from minisam import MiniSam, MiniSom, _memory, available_backends

ENGINES = [name for name in ("numpy", "cython", "numba") if name in available_backends()]


def _run_in_threads(*jobs):
    errors = []

    def guard(job):
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert not errors, errors


def _minisam_work(som, data):
    som.train_batch(data, 3)
    som.train_random(data, 400)
    return som.get_weights(), som.quantization_error(data)


@pytest.mark.parametrize("engine", ENGINES)
def test_two_models_in_two_threads_give_the_serial_results(engine):
    data = np.random.default_rng(0).random((2000, 8))
    serial = [_minisam_work(MiniSam(10, 9, 8, random_seed=s, backend=engine), data)
              for s in (1, 2)]
    models = [MiniSam(10, 9, 8, random_seed=s, backend=engine) for s in (1, 2)]
    drop_ins = [MiniSom(7, 7, 8, sigma=2.0, random_seed=s, backend=engine) for s in (1, 2)]
    results = {}

    def job(k):
        def run():
            results[k] = _minisam_work(models[k], data)
            drop_ins[k].train_random(data, 300)
        return run

    _run_in_threads(job(0), job(1))
    for k in (0, 1):
        assert results[k][0].tobytes() == serial[k][0].tobytes()
        assert results[k][1] == serial[k][1]
        alone = MiniSom(7, 7, 8, sigma=2.0, random_seed=k + 1, backend=engine)
        alone.train_random(data, 300)
        assert alone.get_weights().tobytes() == drop_ins[k].get_weights().tobytes()


def test_calls_on_one_shared_model_serialize():
    """Two threads training one model: the calls run one after the other (the model's lock),
    so the result is one of the two serial orders' and never a mix."""
    data_a = np.random.default_rng(1).random((300, 4))
    data_b = np.random.default_rng(2).random((300, 4)) + 1.0

    def fresh():
        return MiniSam(8, 8, 4, random_seed=0)

    a_then_b, b_then_a = fresh(), fresh()
    a_then_b.train_random(data_a, 3000)
    a_then_b.train_random(data_b, 3000)
    b_then_a.train_random(data_b, 3000)
    b_then_a.train_random(data_a, 3000)
    shared = fresh()
    _run_in_threads(lambda: shared.train_random(data_a, 3000),
                    lambda: shared.train_random(data_b, 3000))
    got = shared.get_weights().tobytes()
    assert got in (a_then_b.get_weights().tobytes(), b_then_a.get_weights().tobytes())


def test_a_callback_may_call_its_model():
    som = MiniSam(4, 4, 2, random_seed=0)
    data = np.random.default_rng(0).random((10, 2))
    seen = []
    som.train_batch(data, 2, callback=lambda state: seen.append(som.winner(data[0])))
    assert len(seen) == 2  # the lock is re-entrant: no deadlock


def test_models_too_large_for_memory_fail_before_allocating():
    need = 10**6 * 10**6 * 8
    assert _memory.available_bytes() is None or _memory.available_bytes() < need
    with pytest.raises(MemoryError, match=r"needs .*TiB"):
        MiniSam(10**6, 10**6, 8)
    with pytest.raises(MemoryError, match=r"needs .*TiB"):
        MiniSom(10**6, 10**6, 8)


def test_calls_too_large_for_memory_fail_before_any_work():
    som = MiniSam(3, 3, 2, random_seed=0)
    before = som.get_weights(), som._rng.bit_generator.state
    data = np.zeros((4, 2))
    with pytest.raises(MemoryError, match=r"train_random.*needs .*PiB"):
        som.train_random(data, 10**17)
    with pytest.raises(MemoryError, match=r"needs .*PiB"):
        som.train_epochs(data, 10**16)
    assert som.get_weights().tobytes() == before[0].tobytes()
    assert som._rng.bit_generator.state == before[1]
    drop_in = MiniSom(3, 3, 2, random_seed=0)
    state = drop_in._random_generator.get_state()
    with pytest.raises(MemoryError, match=r"training steps needs .*PiB"):
        drop_in.train_random(data, 10**17)
    assert drop_in._random_generator.get_state()[1].tobytes() == state[1].tobytes()


def test_format_bytes():
    assert _memory.format_bytes(512) == "512 B"
    assert _memory.format_bytes(1536) == "1.5 KiB"
    assert _memory.format_bytes(3 * 2**40) == "3.0 TiB"
