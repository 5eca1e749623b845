"""The ``minisam`` command line: file formats in process, the commands through subprocesses.

Each subprocess imports numba (about a second), so there is one per behaviour, on tiny data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam
from minisam._tables import DataError, read_data, write_table
from minisam.cli import main

if os.environ.get("CI", "").lower() not in ("", "0", "false"):
    import dask.array as da  # CI installs the test extra: these must run there
    import pyarrow
    import pyarrow.parquet
else:
    da = pytest.importorskip("dask.array")
    pyarrow = pytest.importorskip("pyarrow")
    pytest.importorskip("pyarrow.parquet")


def minisam(*args, cwd=None):
    """Run ``python -m minisam ARGS``; return the completed process (text output)."""
    return subprocess.run([sys.executable, "-m", "minisam", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def samples():
    return np.random.default_rng(11).random((120, 3))


@pytest.fixture
def model_file(tmp_path, samples):
    som = MiniSam(4, 5, 3, random_seed=3, topology="hexagonal")
    som.train_batch(samples, 5)
    path = tmp_path / "model.npz"
    som.save(path)
    return path


# ---------------------------------------------------------------------- files, in process
def test_csv_with_and_without_header_and_missing_values(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("1,2.5,-3\n4,,6e-1\n")
    named = tmp_path / "named.csv"
    named.write_text("a,b,c\n1,2.5,-3\n4,NA,0.6\n")
    expected = np.array([[1, 2.5, -3], [4, np.nan, 0.6]])
    assert_array_equal(read_data(plain), expected)
    assert_array_equal(read_data(named), expected)


@pytest.mark.parametrize(("text", "problem"), [
    ("1,2\n3\n", "line 2: 1 columns, expected 2"),
    ("a,b\n1,x\n", "line 2, column 2: 'x' is not a number"),
    ("", "empty"),
])
def test_bad_csv(tmp_path, text, problem):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=problem):
        read_data(path)


def test_npy_parquet_and_zarr_read_the_same_numbers(tmp_path, samples):
    np.save(tmp_path / "x.npy", samples)
    table = pyarrow.table({f"f{k}": samples[:, k] for k in range(3)})
    pyarrow.parquet.write_table(table, tmp_path / "x.parquet")
    da.from_array(samples, chunks=(50, 3)).to_zarr(str(tmp_path / "x.zarr"))
    for name in ("x.npy", "x.parquet", "x.zarr"):
        assert_array_equal(read_data(tmp_path / name), samples)
    lazy = read_data(tmp_path / "x.zarr", lazy=True)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (50, 50, 20)
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        read_data(tmp_path / "x.txt")
    with pytest.raises(DataError, match="2-D"):
        np.save(tmp_path / "one.npy", samples[:, 0])
        read_data(tmp_path / "one.npy")


@pytest.mark.parametrize("extension", [".csv", ".parquet", ".npy"])
def test_tables_round_trip(tmp_path, extension):
    columns = {"row": np.array([0, 3]), "col": np.array([1, 2]), "index": np.array([1, 17]),
               "distance": np.array([0.1, 1 / 3])}
    path = tmp_path / f"t{extension}"
    write_table(path, columns)
    if extension == ".csv":
        lines = path.read_text().splitlines()
        assert lines[0] == "row,col,index,distance"
        back = np.loadtxt(path, delimiter=",", skiprows=1)
        assert_array_equal(back, np.column_stack(list(columns.values())))  # repr round-trips
    elif extension == ".npy":
        back = np.load(path, allow_pickle=False)
        for name, values in columns.items():
            assert_array_equal(back[name], values)
            assert back[name].dtype == values.dtype
    else:
        back = pyarrow.parquet.read_table(path).to_pydict()
        assert back == {name: values.tolist() for name, values in columns.items()}


def test_every_command_has_help(capsys):
    for command in ([], ["train"], ["predict"], ["drift"], ["plot"], ["info"]):
        with pytest.raises(SystemExit) as stop:
            main([*command, "--help"])
        assert stop.value.code == 0
        assert "usage: minisam" in capsys.readouterr().out


def test_train_in_process_on_a_zarr_store_stays_out_of_core(tmp_path, samples, capsys):
    da.from_array(samples, chunks=(50, 3)).to_zarr(str(tmp_path / "x.zarr"))
    out = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "x.zarr"), "-o", str(out), "-x", 3, "-y", 4,
                 "--epochs", 4, "--seed", 5]) == 0
    assert "batch, 4 epochs" in capsys.readouterr().out
    same = MiniSam(3, 4, 3, random_seed=5)
    same.train_batch(samples, 4)
    assert_allclose(MiniSam.load(out).get_weights(), same.get_weights(), rtol=1e-12)


def test_train_and_predict_in_process_with_missing_values(tmp_path, samples, capsys):
    gappy = samples.copy()
    gappy[::4, 1] = np.nan
    np.save(tmp_path / "gappy.npy", gappy)
    out = tmp_path / "m.npz"
    assert main(["train", str(tmp_path / "gappy.npy"), "-o", str(out), "-x", 3, "-y", 4,
                 "--epochs", 3, "--seed", 5, "--nan-policy", "mask"]) == 0
    same = MiniSam(3, 4, 3, random_seed=5, nan_policy="mask")
    same.train_batch(gappy, 3)
    assert_allclose(MiniSam.load(out).get_weights(), same.get_weights(), rtol=1e-12)
    assert main(["predict", str(out), str(tmp_path / "gappy.npy"), "-o",
                 str(tmp_path / "p.npy")]) == 0
    table = np.load(tmp_path / "p.npy")
    expected = same.bmus(gappy)
    assert_array_equal(table["index"], expected.index)
    assert_allclose(table["distance"], expected.distance, rtol=1e-12)
    assert np.isfinite(table["distance"]).all()


def test_console_script_is_declared():
    try:
        scripts = metadata.entry_points(group="console_scripts")
    except TypeError:  # pragma: no cover - Python < 3.10 API
        pytest.skip("entry_points(group=) needs Python 3.10")
    found = [entry for entry in scripts if entry.name == "minisam"]
    assert found and found[0].value == "minisam.cli:main"


# ---------------------------------------------------------------------- subprocesses
def test_train_writes_a_model_with_the_options(tmp_path, samples):
    data = tmp_path / "train.csv"
    np.savetxt(data, samples, delimiter=",", header="r,g,b", comments="")
    out = tmp_path / "m.npz"
    done = minisam("train", data, "-o", out, "-x", 4, "-y", 6, "--topology", "hexagonal",
                   "--torus", "--mode", "online", "--iterations", 300, "--sigma", 2,
                   "--learning-rate", 0.3, "--seed", 7, "--dtype", "float32", "--backend",
                   "numpy", "--jobs", 1)
    assert done.returncode == 0, done.stderr
    som = MiniSam.load(out)
    assert (som.x, som.y, som.input_len, som.topology, som.toroidal) == (
        4, 6, 3, "hexagonal", True)
    assert (som.sigma, som.learning_rate, som.random_seed, som.dtype) == (
        2.0, 0.3, 7, np.float32)
    same = MiniSam(4, 6, 3, sigma=2, learning_rate=0.3, random_seed=7, dtype=np.float32,
                   backend="numpy", topology="hexagonal", toroidal=True)
    same.train_random(samples, 300)
    assert_array_equal(som.get_weights(), same.get_weights())


def test_predict_writes_the_bmu_table(tmp_path, model_file, samples):
    np.save(tmp_path / "x.npy", samples)
    done = minisam("predict", model_file, tmp_path / "x.npy", "-o", tmp_path / "out.csv")
    assert done.returncode == 0, done.stderr
    som = MiniSam.load(model_file)
    expected = som.bmus(samples)
    table = np.genfromtxt(tmp_path / "out.csv", delimiter=",", names=True)
    assert table.dtype.names == ("row", "col", "index", "distance")
    assert_array_equal(table["row"], expected.rows)
    assert_array_equal(table["col"], expected.cols)
    assert_array_equal(table["index"], expected.index)
    assert_array_equal(table["distance"], expected.distance)


def test_predict_from_zarr_to_parquet(tmp_path, model_file, samples):
    da.from_array(samples, chunks=(40, 3)).to_zarr(str(tmp_path / "x.zarr"))
    done = minisam("predict", model_file, tmp_path / "x.zarr", "-o", tmp_path / "o.parquet")
    assert done.returncode == 0, done.stderr
    table = pyarrow.parquet.read_table(tmp_path / "o.parquet").to_pydict()
    expected = MiniSam.load(model_file).bmus(samples)
    assert table["index"] == expected.index.tolist()
    assert_allclose(table["distance"], expected.distance, rtol=0, atol=0)


def test_drift_prints_the_report(tmp_path, model_file, samples):
    np.save(tmp_path / "ref.npy", samples)
    shifted = samples[:60] + 0.5
    np.save(tmp_path / "new.npy", shifted)
    done = minisam("drift", model_file, tmp_path / "ref.npy", tmp_path / "new.npy",
                   "-o", tmp_path / "r.json", "--fail-on-drift")
    assert done.returncode == 1, done.stderr  # drift found
    report = json.loads(done.stdout)
    assert report == json.loads((tmp_path / "r.json").read_text())
    som = MiniSam.load(model_file)
    som.set_drift_reference(samples)
    assert report == json.loads(json.dumps(som.drift(shifted).to_dict()))
    assert report["is_drift"] is True


def test_plot_writes_a_png(tmp_path, model_file, samples):
    np.save(tmp_path / "x.npy", samples)
    image = tmp_path / "hits.png"
    done = minisam("plot", model_file, "--kind", "hits", "--data", tmp_path / "x.npy",
                   "-o", image)
    assert done.returncode == 0, done.stderr
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_and_no_command_print_the_configuration():
    for args in (["info"], []):
        done = minisam(*args)
        assert done.returncode == 0, done.stderr
        assert "minisam" in done.stdout and "backends" in done.stdout.lower()


@pytest.mark.parametrize(("make_args", "problem"), [
    (lambda d, m: ["predict", m, d / "missing.csv"], "missing.csv: no such file"),
    (lambda d, m: ["predict", m, d / "wide.npy"], "4"),
    (lambda d, m: ["train", d / "nan.npy", "-o", d / "o.npz"], "nan"),
    (lambda d, m: ["train", d / "nan.npy", "-o", d / "o.npz", "--topology", "square"],
     "--topology"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, model_file, make_args, problem):
    np.save(tmp_path / "wide.npy", np.zeros((5, 4)))
    nan = np.zeros((5, 3))
    nan[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    done = minisam(*make_args(tmp_path, model_file))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], done.stderr
    assert lines[0].startswith("minisam")
