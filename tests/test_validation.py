"""Argument validation: error types, messages naming the argument, and no half-done work."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_unchanged, random_data, snapshot
from numpy.testing import assert_array_equal

from minisam import MiniSam

NAN, INF = float("nan"), float("inf")


def make_model(**kwargs):
    options = {"random_seed": 5, "backend": "numpy"}
    options.update(kwargs)
    return MiniSam(3, 4, 2, **options)


# --------------------------------------------------------------------------- constructor
@pytest.mark.parametrize("name", ["x", "y", "input_len"])
@pytest.mark.parametrize(("value", "error"), [
    (0, ValueError), (-3, ValueError), (True, TypeError), (False, TypeError),
    (2.0, TypeError), (2.5, TypeError), ("3", TypeError), (None, TypeError),
])
def test_constructor_sizes(name, value, error):
    args = {"x": 3, "y": 4, "input_len": 2}
    args[name] = value
    with pytest.raises(error, match=rf"^{name} "):
        MiniSam(**args)


@pytest.mark.parametrize("name", ["sigma", "learning_rate"])
@pytest.mark.parametrize(("value", "error"), [
    (0, ValueError), (0.0, ValueError), (-1.0, ValueError), (NAN, ValueError),
    (INF, ValueError), (-INF, ValueError), ("1.0", TypeError), (True, TypeError),
    (1 + 0j, TypeError), ([1.0], TypeError),
])
def test_constructor_positive_reals(name, value, error):
    with pytest.raises(error, match=rf"^{name} "):
        MiniSam(3, 4, 2, **{name: value})


@pytest.mark.parametrize("name", ["sigma", "learning_rate"])
def test_constructor_positive_reals_huge_int(name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        MiniSam(3, 4, 2, **{name: 10**400})


@pytest.mark.parametrize("name", ["sigma", "learning_rate"])
def test_constructor_accepts_numpy_reals(name):
    som = MiniSam(3, 4, 2, **{name: np.float32(0.75)})
    assert getattr(som, name) == 0.75
    assert type(getattr(som, name)) is float


@pytest.mark.parametrize(("value", "error"), [("mexican_hat", ValueError), ("Gaussian", ValueError),
                                              (None, TypeError), (1, TypeError)])
def test_constructor_neighborhood_function(value, error):
    with pytest.raises(error, match="^neighborhood_function "):
        MiniSam(3, 4, 2, neighborhood_function=value)


@pytest.mark.parametrize(("value", "error"), [("foo", ValueError), ("NUMPY", ValueError),
                                              (None, TypeError)])
def test_constructor_backend(value, error):
    with pytest.raises(error, match="^backend "):
        MiniSam(3, 4, 2, backend=value)


@pytest.mark.parametrize(("value", "error"), [
    (np.int32, ValueError), ("int64", ValueError), (np.float16, ValueError),
    (np.complex128, ValueError), ("foo", TypeError),
])
def test_constructor_dtype(value, error):
    with pytest.raises(error, match="^dtype "):
        MiniSam(3, 4, 2, dtype=value)


@pytest.mark.parametrize("value", [np.float32, "float32", np.dtype(np.float32)])
def test_constructor_dtype_spellings(value):
    assert MiniSam(2, 2, 2, dtype=value).dtype == np.float32


@pytest.mark.parametrize(("value", "error"), [
    (-1, ValueError), (1.0, TypeError), (2.5, TypeError), (True, TypeError), ("7", TypeError),
])
def test_constructor_random_seed(value, error):
    with pytest.raises(error, match="^random_seed "):
        MiniSam(3, 4, 2, random_seed=value)


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (-2, ValueError),
                                              (1.5, TypeError), (True, TypeError)])
def test_constructor_n_jobs(value, error):
    with pytest.raises(error, match="^n_jobs "):
        MiniSam(3, 4, 2, n_jobs=value)


def test_constructor_accepts_numpy_integers():
    som = MiniSam(np.int64(3), np.int32(4), np.uint8(2), random_seed=np.int64(3),
                  n_jobs=np.int16(1))
    assert (som.x, som.y, som.input_len, som.random_seed, som.n_jobs) == (3, 4, 2, 3, 1)
    assert all(type(v) is int for v in (som.x, som.y, som.input_len, som.random_seed))


# --------------------------------------------------------------------------- data
def bad_data_cases():
    return [
        pytest.param(np.zeros(2), ValueError, id="1-D"),
        pytest.param(np.zeros((2, 3, 2)), ValueError, id="3-D"),
        pytest.param(np.zeros((0, 2)), ValueError, id="zero-rows"),
        pytest.param(np.zeros((4, 3)), ValueError, id="wrong-columns"),
        pytest.param(np.zeros((4, 1)), ValueError, id="too-few-columns"),
        pytest.param([[0.1, 0.2], [np.nan, 0.3]], ValueError, id="nan"),
        pytest.param([[0.1, np.inf]], ValueError, id="inf"),
        pytest.param([[0.1, -np.inf]], ValueError, id="-inf"),
        pytest.param(np.ones((3, 2), dtype=complex), TypeError, id="complex"),
        pytest.param([[1j, 0.0]], TypeError, id="complex-list"),
        pytest.param([["a", "b"]], TypeError, id="strings"),
        pytest.param(np.array([[1.0, None]], dtype=object), TypeError, id="object"),
        pytest.param([[1.0, 2.0], [3.0]], ValueError, id="ragged"),
        pytest.param(5.0, ValueError, id="scalar"),
    ]


ALL_DATA_METHODS = ["train_random", "train_batch", "train_epochs", "random_weights_init",
                    "quantization", "activation_response", "quantization_error",
                    "topographic_error"]


def call(som, method, data):
    if method in ("train_random", "train_batch", "train_epochs"):
        return getattr(som, method)(data, 3)
    return getattr(som, method)(data)


@pytest.mark.parametrize("method", ALL_DATA_METHODS)
@pytest.mark.parametrize(("data", "error"), bad_data_cases())
def test_bad_data(method, data, error):
    som = make_model()
    snap = snapshot(som)
    with pytest.raises(error, match="^data "):
        call(som, method, data)
    assert_unchanged(som, snap)


@pytest.mark.parametrize("method", ALL_DATA_METHODS)
def test_bad_data_float32_model(method):
    som = make_model(dtype=np.float32)
    snap = snapshot(som)
    # Integers beyond 2**24 are not exactly representable in float32.
    with pytest.raises(ValueError, match="^data .*float32"):
        call(som, method, np.array([[2**24 + 1, 0]], dtype=np.int64))
    with pytest.raises(ValueError, match="^data "):
        call(som, method, [[-(2**24) - 1, 0]])
    # A float64 value that overflows float32 becomes infinite.
    with pytest.raises(ValueError, match="^data .*finite"):
        call(som, method, np.array([[1e39, 0.0]]))
    with pytest.raises(ValueError, match="^data "):
        call(som, method, np.array([[0.0, -np.finfo(np.float64).max]]))
    assert_unchanged(som, snap)


def test_large_integers_on_float64_model():
    som = make_model()
    with pytest.raises(ValueError, match="^data .*float64"):
        som.train_random(np.array([[2**53 + 1, 0]], dtype=np.int64), 2)
    # Exactly representable integers are fine, on both float types.
    som.train_random(np.array([[2**24, 0], [1, 2]], dtype=np.int64), 2)
    make_model(dtype=np.float32).train_random(np.array([[2**24, 0]]), 2)
    assert np.isfinite(som.get_weights()).all()


def test_accepted_data_forms():
    som = make_model()
    som.train_random([[0.1, 0.2], [0.3, 0.4]], 3)  # list of lists
    som.train_batch(((0, 1), (1, 0)), 2)  # tuples of ints
    som.train_epochs(np.array([[True, False]]), 1)  # booleans are numbers
    som.random_weights_init(np.asfortranarray(np.ones((3, 2))))  # non-contiguous layout
    assert_array_equal(som.get_weights(), 1.0)
    assert som.quantization([[0, 0]]).shape == (1, 2)


def test_lists_equal_arrays(rng):
    data = random_data(rng, 6, 2)
    a, b = make_model(), make_model()
    a.train_random(data.tolist(), 10)
    b.train_random(data, 10)
    assert_array_equal(a.get_weights(), b.get_weights())


@pytest.mark.parametrize("v", [[0.1], [0.1, 0.2, 0.3], [[0.1, 0.2]], 0.5, [np.nan, 0.0],
                               [0.0, np.inf]])
def test_winner_bad_vector(v):
    with pytest.raises(ValueError, match="^v "):
        make_model().winner(v)


@pytest.mark.parametrize("v", [["a", "b"], [1j, 0]])
def test_winner_non_real_vector(v):
    with pytest.raises(TypeError, match="^v "):
        make_model().winner(v)


# --------------------------------------------------------------------------- iteration counts
ITERATION_ARG = {"train_random": "num_iteration", "train_batch": "num_iteration",
                 "train_epochs": "num_epochs"}


@pytest.mark.parametrize("method", list(ITERATION_ARG))
@pytest.mark.parametrize(("value", "error"), [
    (0, ValueError), (-1, ValueError), (2.5, TypeError), (2.0, TypeError), (True, TypeError),
    ("3", TypeError), (None, TypeError),
])
def test_bad_iteration_count(method, value, error):
    som = make_model()
    snap = snapshot(som)
    with pytest.raises(error, match=f"^{ITERATION_ARG[method]} "):
        getattr(som, method)([[0.1, 0.2], [0.3, 0.4]], value)
    assert_unchanged(som, snap)


@pytest.mark.parametrize("method", list(ITERATION_ARG))
def test_numpy_integer_iteration_count(method):
    a, b = make_model(), make_model()
    getattr(a, method)([[0.1, 0.2], [0.3, 0.4]], np.int64(3))
    getattr(b, method)([[0.1, 0.2], [0.3, 0.4]], 3)
    assert_array_equal(a.get_weights(), b.get_weights())


# --------------------------------------------------------------------------- failures inside work
class Boom(Exception):
    pass


def vandalise(weights, *args, **kwargs):
    """A backend kernel that scribbles over its weights and then fails."""
    weights[...] = 123.0
    raise Boom("kernel failed")


@pytest.mark.parametrize(("method", "kernel"), [("train_random", "train_online"),
                                                ("train_epochs", "train_online"),
                                                ("train_batch", "batch_sums"),
                                                ("train_batch", "batch_update")])
@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_backend_failure_leaves_model_unchanged(monkeypatch, method, kernel, backend):
    som = make_model(backend=backend)
    som.train_random([[0.5, 0.5]], 2)  # move off the initial state first
    snap = snapshot(som)
    monkeypatch.setattr(som._backend, kernel, vandalise)
    with pytest.raises(Boom):
        getattr(som, method)([[0.1, 0.2], [0.3, 0.4]], 4)
    assert_unchanged(som, snap)


def test_interrupt_leaves_model_unchanged(monkeypatch):
    som = make_model()
    snap = snapshot(som)

    def interrupted(weights, *args, **kwargs):
        weights[0] += 1.0
        raise KeyboardInterrupt

    monkeypatch.setattr(som._backend, "train_online", interrupted)
    with pytest.raises(KeyboardInterrupt):
        som.train_random([[0.1, 0.2]], 5)
    assert_unchanged(som, snap)


def test_model_still_trains_after_a_failure(monkeypatch, rng):
    data = random_data(rng, 5, 2)
    reference_model, som = make_model(), make_model()
    with monkeypatch.context() as patch:
        patch.setattr(som._backend, "train_online", vandalise)
        with pytest.raises(Boom):
            som.train_random(data, 4)
    som.train_random(data, 4)
    reference_model.train_random(data, 4)
    assert_array_equal(som.get_weights(), reference_model.get_weights())
