"""Fuzzed validation of every public data-taking method of MiniSam and MiniSom.

Inputs come in every form a user may pass: other dtypes (ints, bools, float16, float32,
big-endian, object, complex, strings), non-contiguous, Fortran-ordered, read-only and
memory-mapped arrays, nested lists (and pandas DataFrames where pandas is installed), holding
NaN, infinity, subnormal, huge or ordinary values. Each call must either work and give what
the same call gives on a clean C-contiguous float64 array of the same values, or raise
``TypeError``/``ValueError`` naming the argument, with the model unchanged.

The example count per test is bounded (``MAX_EXAMPLES``) so that the suite stays fast.
"""

from __future__ import annotations

import numbers
import os
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minisam import MiniSam, MiniSom

try:
    import pandas
except ImportError:  # DataFrames are fuzzed only where pandas is installed
    pandas = None

MAX_EXAMPLES = int(os.environ.get("MINISAM_FUZZ_EXAMPLES", "50"))
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
FEATURES = 3

VALUES = st.one_of(
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, 2.2e-308, 1e300, -1e300, 1e38, 65504.0,
                     np.nan, np.inf, -np.inf]),
    st.integers(-3, 3).map(float),
)

FORMS = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "big-endian",
         "object", "complex", "strings", "non-contiguous", "fortran", "read-only", "memmap",
         "list"] + (["dataframe"] if pandas is not None else [])


def as_form(values: np.ndarray, form: str):
    """``values`` (float64) in ``form``; with warnings on lossy casts silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if form in ("float64", "float32", "float16", "int64", "int8", "uint8", "bool"):
            if form[0] in "iub":
                values = np.nan_to_num(values, nan=0.0, posinf=3.0, neginf=-3.0)
                values = np.clip(values, -100, 100)
            return values.astype(form)
        if form == "big-endian":
            return values.astype(">f8")
        if form == "object":
            return values.astype(object)
        if form == "complex":
            return values.astype(np.complex128)
        if form == "strings":
            return values.astype(str)
        if form == "non-contiguous":
            wide = np.repeat(values, 2, axis=-1)
            return wide[..., ::2]
        if form == "fortran":
            return np.asfortranarray(values)
        if form == "read-only":
            view = values.copy()
            view.flags.writeable = False
            return view
        if form == "memmap":
            handle, path = tempfile.mkstemp(suffix=".dat")
            os.close(handle)
            mapped = np.memmap(path, dtype=np.float64, mode="w+", shape=values.shape)
            mapped[...] = values
            mapped.flush()
            os.unlink(path)  # stays mapped until garbage-collected
            return mapped
        if form == "list":
            return values.tolist()
        if form == "dataframe":  # pandas holds 1-D (Series) and 2-D (DataFrame) data only
            if values.ndim > 2:
                return values.tolist()
            return pandas.DataFrame(values) if values.ndim == 2 else pandas.Series(values)
    raise AssertionError(form)


def clean(form_value):
    """The same values as a C-contiguous float64 array (None when they have no such form)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.asarray(form_value)
            if array.dtype.kind == "c":
                return None
            return np.ascontiguousarray(array.astype(np.float64))
    except (TypeError, ValueError, OverflowError):
        return None


SHAPES = st.one_of(st.tuples(st.integers(1, 6), st.just(FEATURES)),
                   st.tuples(st.integers(0, 3), st.integers(1, 5)),
                   st.tuples(st.integers(1, 4)),
                   st.tuples(st.integers(1, 3), st.just(FEATURES), st.integers(1, 2)))


@st.composite
def data_inputs(draw, shapes=SHAPES):
    shape = draw(shapes)
    values = np.array(draw(st.lists(VALUES, min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape)))),
                      dtype=np.float64).reshape(shape)
    form = draw(st.sampled_from(FORMS))
    return as_form(values, form)


VECTOR_SHAPES = st.one_of(st.just((FEATURES,)), st.tuples(st.integers(1, 5)),
                          st.just((1, FEATURES)))


def minisam_model():
    return MiniSam(4, 3, FEATURES, sigma=1.5, random_seed=1)


def minisom_model():
    return MiniSom(4, 3, FEATURES, sigma=1.5, random_seed=1)


def minisam_state(som):
    return som.get_weights().tobytes(), str(som._rng.bit_generator.state)


def minisom_state(som):
    return np.asarray(som._weights).tobytes(), som._random_generator.get_state()[1].tobytes()


def normalise(result):
    """Results as comparable plain values (dicts of lists, arrays)."""
    if isinstance(result, dict):
        return {key: normalise(value) for key, value in sorted(result.items())}
    if isinstance(result, (list, tuple)):
        return [normalise(v) for v in result]
    if isinstance(result, np.ndarray):
        return ("array", result.dtype.str, result.shape, result.tobytes())
    if isinstance(result, (float, np.floating)) and np.isnan(result):
        return "nan"
    return result


def check_call(make, state, method, argument_name, weird, call, clean=clean):
    """The property: works and equals the call on ``clean(weird)``, or fails naming the
    argument with the model unchanged."""
    model = make()
    before = state(model)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            got = call(model, weird)
        except (TypeError, ValueError) as exc:
            assert argument_name in str(exc), f"{method}: {exc!r} does not name the argument"
            assert state(model) == before, f"{method} changed the model before failing"
            return
        reference = clean(weird)
        assert reference is not None, f"{method} accepted {type(weird).__name__} input"
        twin = make()
        expected = call(twin, reference)
    assert normalise(got) == normalise(expected), method
    assert state(model) == state(twin), method


MINISAM_DATA_METHODS = {
    "train_random": lambda som, d: som.train_random(d, 5),
    "train_epochs": lambda som, d: som.train_epochs(d, 1),
    "train_batch": lambda som, d: som.train_batch(d, 2),
    "random_weights_init": lambda som, d: som.random_weights_init(d),
    "quantization": lambda som, d: som.quantization(d),
    "activation_response": lambda som, d: som.activation_response(d),
    "quantization_error": lambda som, d: som.quantization_error(d),
    "topographic_error": lambda som, d: som.topographic_error(d),
}

MINISOM_DATA_METHODS = {
    "train": lambda som, d: som.train(d, 5),
    "train_random": lambda som, d: som.train_random(d, 5),
    "train_batch": lambda som, d: som.train_batch(d, 5),
    "train_epochs": lambda som, d: som.train(d, 1, use_epochs=True, random_order=True),
    "train_batch_offline": lambda som, d: som.train_batch_offline(d, 2),
    "random_weights_init": lambda som, d: som.random_weights_init(d),
    "pca_weights_init": lambda som, d: som.pca_weights_init(d),
    "quantization": lambda som, d: som.quantization(d),
    "activation_response": lambda som, d: som.activation_response(d),
    "quantization_error": lambda som, d: som.quantization_error(d),
    "distortion_measure": lambda som, d: som.distortion_measure(d),
    "topographic_error": lambda som, d: som.topographic_error(d),
    "win_map": lambda som, d: som.win_map(d, return_indices=True),
    "labels_map": lambda som, d: som.labels_map(d, list(range(len(d)))),
}

MINISOM_VECTOR_METHODS = {
    "winner": lambda som, v: som.winner(v),
    "activate": lambda som, v: som.activate(v),
    "update": lambda som, v: som.update(v, (1, 2), 3, 10),
}


@pytest.mark.parametrize("method", list(MINISAM_DATA_METHODS))
@FUZZ
@given(data=data_inputs())
def test_minisam_data_methods(method, data):
    check_call(minisam_model, minisam_state, method, "data", data,
               MINISAM_DATA_METHODS[method])


@FUZZ
@given(v=data_inputs(VECTOR_SHAPES))
def test_minisam_winner(v):
    check_call(minisam_model, minisam_state, "winner", "v", v, lambda som, x: som.winner(x))


@pytest.mark.parametrize("method", list(MINISOM_DATA_METHODS))
@FUZZ
@given(data=data_inputs())
def test_minisom_data_methods(method, data):
    check_call(minisom_model, minisom_state, method, "data", data,
               MINISOM_DATA_METHODS[method])


@pytest.mark.parametrize("method", list(MINISOM_VECTOR_METHODS))
@FUZZ
@given(x=data_inputs(VECTOR_SHAPES))
def test_minisom_vector_methods(method, x):
    check_call(minisom_model, minisom_state, method, "x", x, MINISOM_VECTOR_METHODS[method])


@FUZZ
@given(win=st.one_of(st.tuples(st.integers(-2, 5), st.integers(-2, 5)),
                     st.tuples(st.floats(0, 2), st.integers(0, 2)),
                     st.just((1,)), st.just("ab"), st.none()),
       t=st.one_of(st.integers(0, 10), st.floats(allow_nan=True), st.just("1")),
       max_iteration=st.one_of(st.integers(-1, 10), st.floats(allow_nan=True)))
def test_minisom_update_arguments(win, t, max_iteration):
    som = minisom_model()
    before = minisom_state(som)
    try:
        som.update(np.zeros(FEATURES), win, t, max_iteration)
    except (TypeError, ValueError) as exc:
        assert any(name in str(exc) for name in ("win", "t ", "max_iteration")), exc
        assert minisom_state(som) == before
        return
    assert np.isfinite(som.get_weights()).all()


def clean_count(count):
    """An iteration count as the plain int it stands for (None for anything else)."""
    if isinstance(count, numbers.Integral) and not isinstance(count, (bool, np.bool_)):
        return int(count)
    return None


COUNTS = st.one_of(st.integers(-2, 12), st.floats(allow_nan=True), st.booleans(),
                   st.sampled_from([np.int64(3), np.float64(2.0), "4", None, [2]]))


@pytest.mark.parametrize("method", ["train_random", "train_epochs", "train_batch"])
@FUZZ
@given(count=COUNTS)
def test_minisam_iteration_counts(method, count):
    data = np.random.default_rng(0).random((5, FEATURES))
    argument = "num_epochs" if method == "train_epochs" else "num_iteration"
    check_call(minisam_model, minisam_state, method, argument, count,
               lambda som, n: getattr(som, method)(data, n), clean_count)


@pytest.mark.parametrize("method", ["train", "train_random", "train_batch",
                                    "train_batch_offline"])
@FUZZ
@given(count=COUNTS)
def test_minisom_iteration_counts(method, count):
    data = np.random.default_rng(0).random((5, FEATURES))
    check_call(minisom_model, minisom_state, method, "num_iteration", count,
               lambda som, n: getattr(som, method)(data, n), clean_count)


@FUZZ
@given(xy=st.one_of(st.tuples(st.integers(-6, 6), st.integers(-6, 6)),
                    st.tuples(st.floats(0, 2), st.integers(0, 2)), st.just((1,)),
                    st.just((np.array([0, 3]), np.array([1, 2]))), st.just("ab"), st.none()))
def test_minisom_convert_map_to_euclidean(xy):
    som = minisom_model()
    try:
        xx, yy = som.convert_map_to_euclidean(xy)
    except (TypeError, ValueError) as exc:
        assert "xy" in str(exc)
        return
    i, j = xy
    assert_equal = np.testing.assert_array_equal
    assert_equal(xx, som.get_euclidean_coordinates()[0][i, j])
    assert_equal(yy, som.get_euclidean_coordinates()[1][i, j])


@FUZZ
@given(scaling=st.one_of(st.sampled_from(["sum", "mean", "max", "", None]), st.integers()))
def test_minisom_distance_map_scaling(scaling):
    som = minisom_model()
    try:
        result = som.distance_map(scaling=scaling)
    except (TypeError, ValueError) as exc:
        assert "scaling" in str(exc)
        return
    assert result.shape == (4, 3) and np.isfinite(result).all()


@FUZZ
@given(labels=st.one_of(st.lists(st.integers(0, 3), min_size=0, max_size=8),
                        st.lists(st.text(max_size=2), min_size=5, max_size=5)))
def test_minisom_labels_map_labels(labels):
    data = np.random.default_rng(0).random((5, FEATURES))
    som = minisom_model()
    try:
        result = som.labels_map(data, labels)
    except (TypeError, ValueError) as exc:
        assert "labels" in str(exc)
        return
    assert sum(sum(counter.values()) for counter in result.values()) == len(data)
