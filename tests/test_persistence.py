"""Saving and loading ``MiniSam`` models (``.npz``, never pickle)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import random_data

from minisam import MiniSam, _persistence, available_backends

HYPER_PARAMETERS = ("x", "y", "input_len", "sigma", "learning_rate", "neighborhood_function",
                    "random_seed", "dtype")


def trained(rng, **kwargs):
    options = {"x": 3, "y": 4, "input_len": 2, "sigma": 1.7, "learning_rate": 0.35,
               "neighborhood_function": "bubble", "random_seed": 12, "backend": "numpy"}
    options.update(kwargs)
    som = MiniSam(options.pop("x"), options.pop("y"), options.pop("input_len"), **options)
    som.train_random(random_data(rng, 20, som.input_len), 15)
    return som


def read_fields(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def write_fields(path, fields):
    with open(path, "wb") as handle:
        np.savez(handle, **fields)


def saved_model_fields(rng, tmp_path):
    path = tmp_path / "model.npz"
    trained(rng).save(path)
    return read_fields(path)


def assert_same_model(a, b):
    for name in HYPER_PARAMETERS:
        assert getattr(a, name) == getattr(b, name), name
    wa, wb = a.get_weights(), b.get_weights()
    assert wa.dtype == wb.dtype and wa.shape == wb.shape
    assert wa.tobytes() == wb.tobytes()
    assert a._rng.bit_generator.state == b._rng.bit_generator.state


# --------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [None, 0, 12345])
@pytest.mark.parametrize("neighbourhood", ["gaussian", "bubble"])
def test_round_trip_is_exact(rng, tmp_path, dtype, seed, neighbourhood):
    som = trained(rng, x=4, y=2, input_len=3, sigma=2.25, learning_rate=0.125,
                  neighborhood_function=neighbourhood, random_seed=seed, dtype=dtype)
    path = tmp_path / "model.npz"
    som.save(path)
    loaded = MiniSam.load(path)
    assert_same_model(som, loaded)
    assert loaded.dtype == dtype
    assert loaded.random_seed == seed
    assert loaded.neighborhood_function == neighbourhood
    assert (loaded.sigma, loaded.learning_rate) == (2.25, 0.125)
    assert loaded.backend_name == "numpy"


@pytest.mark.parametrize("seed", [None, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_continues_identically_after_load(rng, tmp_path, seed, dtype):
    data = random_data(rng, 25, 2)
    som = trained(rng, random_seed=seed, dtype=dtype)
    path = tmp_path / "model.npz"
    som.save(path)
    loaded = MiniSam.load(path)
    for model in (som, loaded):
        model.train_random(data, 30)
        model.random_weights_init(data)
        model.train_random(data, 10)
        model.train_batch(data, 3)
    assert_same_model(som, loaded)


def test_default_sigma_and_float_precision_round_trip(rng, tmp_path):
    som = MiniSam(5, 3, 2, learning_rate=0.1 + 0.2, random_seed=2, backend="numpy")
    path = tmp_path / "model.npz"
    som.save(path)
    loaded = MiniSam.load(path)
    assert loaded.sigma == 2.5
    assert loaded.learning_rate == 0.1 + 0.2  # not rounded on the way


def test_backend_choice_round_trips(rng, tmp_path):
    for backend in ["auto", *available_backends()]:
        path = tmp_path / f"{backend}.npz"
        trained(rng, backend=backend).save(path)
        loaded = MiniSam.load(path)
        assert loaded._requested_backend == backend
        assert loaded.backend_name == MiniSam(2, 2, 2, backend=backend).backend_name
        assert MiniSam.load(path, backend="numpy").backend_name == "numpy"


def test_load_accepts_str_and_pathlike(rng, tmp_path):
    som = trained(rng)
    path = tmp_path / "model.npz"
    som.save(str(path))
    assert_same_model(som, MiniSam.load(str(path)))
    assert_same_model(som, MiniSam.load(path))


@pytest.mark.parametrize("name", ["model", "model.bin", "model.npz", "archive.tar.gz"])
def test_save_writes_exactly_the_given_path(rng, tmp_path, name):
    som = trained(rng)
    som.save(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert zipfile.is_zipfile(tmp_path / name)
    assert_same_model(som, MiniSam.load(tmp_path / name))


def test_save_overwrites(rng, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old contents " * 1000)
    som = trained(rng)
    som.save(path)
    assert_same_model(som, MiniSam.load(path))


def test_file_records_format_and_versions(rng, tmp_path):
    fields = saved_model_fields(rng, tmp_path)
    assert str(fields["format"]) == _persistence.FORMAT_NAME
    assert int(fields["format_version"]) == _persistence.FORMAT_VERSION
    assert str(fields["minisam_version"])
    # Nothing in the file needs pickle to read back.
    assert all(array.dtype != object for array in fields.values())


# --------------------------------------------------------------------------- no pickle
_UNPICKLED = []


def _record_unpickling():
    _UNPICKLED.append(True)
    return "executed"


class _Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_load_never_unpickles(rng, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    som = trained(rng)
    som.save(path)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    assert_same_model(som, MiniSam.load(path))


def test_pickled_field_is_refused_not_executed(rng, tmp_path):
    fields = saved_model_fields(rng, tmp_path)
    fields["extra"] = np.array([_Payload()], dtype=object)
    path = tmp_path / "evil.npz"
    write_fields(path, fields)
    _UNPICKLED.clear()
    with pytest.raises(ValueError, match="evil.npz"):
        MiniSam.load(path)
    assert _UNPICKLED == []


def test_pickled_weights_are_refused_not_executed(rng, tmp_path):
    fields = saved_model_fields(rng, tmp_path)
    fields["weights"] = np.array([_Payload()], dtype=object)
    path = tmp_path / "evil.npz"
    write_fields(path, fields)
    _UNPICKLED.clear()
    with pytest.raises(ValueError):
        MiniSam.load(path)
    assert _UNPICKLED == []


# --------------------------------------------------------------------------- damaged files
def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        MiniSam.load(tmp_path / "does-not-exist.npz")


def test_text_file(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_bytes(b"this is a text file, not a model\n" * 4)
    with pytest.raises(ValueError, match="not a minisam model file"):
        MiniSam.load(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz"):
        MiniSam.load(path)


def test_plain_npy_file(tmp_path):
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="not an .npz archive"):
        MiniSam.load(path)


def test_npz_without_format_marker(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros((3, 4, 2)), x=np.array(3))
    with pytest.raises(ValueError, match="minisam.MiniSam"):
        MiniSam.load(path)


def test_npz_with_wrong_format_marker(rng, tmp_path):
    fields = saved_model_fields(rng, tmp_path)
    fields["format"] = np.array("somebody.else")
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match="not a minisam model file"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize("version", [0, 4, 99])
def test_wrong_format_version(rng, tmp_path, version):
    fields = saved_model_fields(rng, tmp_path)
    fields["format_version"] = np.array(version, dtype=np.int64)
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match=f"format {version}"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize("name", ["weights", "x", "y", "input_len", "sigma", "learning_rate",
                                  "neighborhood_function", "random_seed", "backend", "rng_state",
                                  "format_version"])
def test_missing_field(rng, tmp_path, name):
    fields = saved_model_fields(rng, tmp_path)
    del fields[name]
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match=f"'{name}'"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize("shape", [(4, 3, 2), (3, 4, 3), (3, 4, 2, 1), (12, 2), (3, 5, 2)])
def test_weights_of_wrong_shape(rng, tmp_path, shape):
    fields = saved_model_fields(rng, tmp_path)
    fields["weights"] = np.zeros(shape)
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match="weights"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize(("name", "value"), [
    ("weights", np.zeros((3, 4, 2), dtype=np.int64)),
    ("weights", np.full((3, 4, 2), np.nan)),
    ("x", np.array(3.0)),
    ("x", np.array([3])),
    ("sigma", np.array("1.7")),
    ("neighborhood_function", np.array(3)),
    ("random_seed", np.array([1, 2])),
    ("random_seed", np.array(1.5)),
    ("rng_state", np.array("not json")),
    ("rng_state", np.array("[]")),
])
def test_damaged_field(rng, tmp_path, name, value):
    fields = saved_model_fields(rng, tmp_path)
    fields[name] = value
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match="m.npz"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.9])
def test_truncated_file(rng, tmp_path, fraction):
    path = tmp_path / "model.npz"
    trained(rng).save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * fraction)])
    with pytest.raises(ValueError, match="model.npz"):
        MiniSam.load(path)


def test_corrupted_member_data(rng, tmp_path):
    path = tmp_path / "model.npz"
    trained(rng).save(path)
    raw = bytearray(path.read_bytes())
    # Flip bytes inside the stored weights (the CRC no longer matches).
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights.npy")
    start = raw.find(b"\x93NUMPY", info.header_offset) + info.file_size - 24
    for pos in range(start, start + 16):
        raw[pos] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="model.npz"):
        MiniSam.load(path)


def _central_directory_offset(raw, member):
    """Offset of ``member``'s central-directory record in a zip archive's bytes."""
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = int.from_bytes(raw[pos + 28:pos + 30], "little")
        if raw[pos + 46:pos + 46 + name_len] == member.encode():
            return pos
        pos = raw.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"{member} not in archive")


@pytest.mark.parametrize(("field_offset", "value", "what"), [
    (6, 0xFF, "version needed to extract"),
    (10, 99, "compression method"),
])
def test_corrupted_zip_header_field(rng, tmp_path, field_offset, value, what):
    path = tmp_path / "model.npz"
    trained(rng).save(path)
    raw = bytearray(path.read_bytes())
    pos = _central_directory_offset(raw, "weights.npy") + field_offset
    raw[pos:pos + 2] = bytes([value, 0])
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="model.npz"):
        MiniSam.load(path)


def test_round_trip_huge_seed(rng, tmp_path):
    som = trained(rng, random_seed=2**64 + 5)
    path = tmp_path / "model.npz"
    som.save(path)
    assert_same_model(som, MiniSam.load(path))


# --------------------------------------------------------------------------- topologies
@pytest.mark.parametrize(("topology", "toroidal"), [("rectangular", True), ("hexagonal", False),
                                                    ("hexagonal", True)])
def test_topology_round_trips(rng, tmp_path, topology, toroidal):
    som = trained(rng, x=4, y=3, topology=topology, toroidal=toroidal)
    som.save(tmp_path / "m.npz")
    loaded = MiniSam.load(tmp_path / "m.npz")
    assert_same_model(som, loaded)
    assert (loaded.topology, loaded.toroidal) == (topology, toroidal)
    np.testing.assert_array_equal(loaded.node_positions(), som.node_positions())
    data = random_data(rng, 30, 2)
    assert loaded.topographic_error(data) == som.topographic_error(data)


def test_format_1_file_still_loads():
    """A model file written by minisam before topologies existed (format 1, committed as a
    fixture) loads as the rectangular planar map it was, with its random state."""
    path = Path(__file__).parent / "data" / "minisam_format1.npz"
    fields = read_fields(path)
    assert int(fields["format_version"]) == 1 and "topology" not in fields
    som = MiniSam.load(path)
    assert (som.topology, som.toroidal) == ("rectangular", False)
    assert (som.x, som.y, som.input_len, som.random_seed) == (3, 5, 4, 7)
    assert som.dtype == np.float32
    assert som.get_weights().tobytes() == fields["weights"].tobytes()
    # The generator continues where the writer's did (its next draw was recorded then).
    assert som._rng.random() == 0.19246349496833237


@pytest.mark.parametrize(("name", "value"), [("topology", np.array("triangular")),
                                             ("topology", np.array(1)),
                                             ("toroidal", np.array("yes")),
                                             ("toroidal", np.array([True]))])
def test_damaged_topology_field(rng, tmp_path, name, value):
    fields = saved_model_fields(rng, tmp_path)
    fields[name] = value
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match="m.npz"):
        MiniSam.load(tmp_path / "m.npz")


def test_hexagonal_torus_with_odd_rows_in_a_file_is_refused(rng, tmp_path):
    fields = saved_model_fields(rng, tmp_path)  # x = 3
    fields["topology"] = np.array("hexagonal")
    fields["toroidal"] = np.array(True)
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match="m.npz.*even number of rows"):
        MiniSam.load(tmp_path / "m.npz")


@pytest.mark.parametrize("name", ["topology", "toroidal"])
def test_format_2_needs_the_topology_fields(rng, tmp_path, name):
    fields = saved_model_fields(rng, tmp_path)
    del fields[name]
    write_fields(tmp_path / "m.npz", fields)
    with pytest.raises(ValueError, match=f"'{name}'"):
        MiniSam.load(tmp_path / "m.npz")
