"""Sam's original trainer (``minisam.kohonen``) against the reference online loop."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from minisam import MiniSam, kohonen, reference

MAPS = [(1, 1), (1, 7), (6, 5)]


def sam_schedule(width, height, iterations, n_samples):
    """Sam's per-step learning rates and radii, from the algorithm's definition."""
    sigma0 = max(width, height) / 2
    alpha0 = 0.1
    lam = iterations / math.log(sigma0)
    sigmas = np.array([sigma0 * math.exp(-t / lam) for t in range(iterations)])
    alphas = np.array([alpha0 * math.exp(-t / lam) for t in range(iterations)])
    return np.repeat(alphas, n_samples), np.repeat(sigmas, n_samples)


def reference_kohonen(data, iterations, width, height, initial):
    """Sam's training expressed with the reference online loop."""
    n = data.shape[0]
    weights = np.array(initial, dtype=np.float64).reshape(width * height, 3)
    order = np.tile(np.arange(n), iterations)
    alphas, sigmas = sam_schedule(width, height, iterations, n)
    reference.train_online(weights, data, order, alphas, sigmas,
                           reference.grid_coordinates(width, height), "gaussian")
    return weights.reshape(width, height, 3)


def seed_legacy(seed):
    """Seed NumPy's global ``RandomState``, the generator Sam's code draws from."""
    np.random.seed(seed)  # noqa: NPY002


def legacy_random(shape):
    return np.random.random(shape)  # noqa: NPY002


def sam_problem(rng, width, height, n_samples=5):
    return rng.random((n_samples, 3)), rng.random((width, height, 3))


@pytest.mark.parametrize(("width", "height"), MAPS)
@pytest.mark.parametrize("iterations", [1, 3])
def test_train_equals_reference_online_loop(rng, width, height, iterations):
    data, initial = sam_problem(rng, width, height)
    got = kohonen.train(data, iterations, width, height, initial_weights=initial)
    expected = reference_kohonen(data, iterations, width, height, initial)
    assert got.shape == (width, height, 3)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(got, initial)  # training did move the map


def test_train_does_not_modify_initial_weights(rng):
    data, initial = sam_problem(rng, 4, 3)
    before = initial.copy()
    out = kohonen.train(data, 2, 4, 3, initial_weights=initial)
    assert_array_equal(initial, before)
    assert out is not initial
    assert not np.shares_memory(out, initial)


def test_default_initial_weights_come_from_np_random(rng):
    data = rng.random((4, 3))
    seed_legacy(123)
    default = kohonen.train(data, 2, 3, 4)
    assert default.shape == (3, 4, 3)
    seed_legacy(123)
    again = kohonen.train(data, 2, 3, 4)
    assert_array_equal(default, again)
    seed_legacy(123)
    explicit = kohonen.train(data, 2, 3, 4, initial_weights=legacy_random((3, 4, 3)))
    assert_array_equal(default, explicit)
    seed_legacy(124)
    other = kohonen.train(data, 2, 3, 4)
    assert not np.array_equal(default, other)


@pytest.mark.parametrize(("width", "height"), [(6, 5), (1, 7)])
@pytest.mark.parametrize("iterations", [1, 4])
def test_minisam_train_epochs_equals_kohonen(rng, width, height, iterations):
    data, initial = sam_problem(rng, width, height)
    som = MiniSam(width, height, 3, learning_rate=0.1, backend="numpy")
    som._weights = initial.copy()
    som.train_epochs(data, iterations)
    expected = kohonen.train(data, iterations, width, height, initial_weights=initial)
    assert_allclose(som.get_weights(), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- demo and CLI
def read_png(path):
    """Decode an 8-bit RGB, non-interlaced PNG whose scanlines all use filter 0."""
    with open(path, "rb") as handle:
        raw = handle.read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(raw):
        (length,) = struct.unpack(">I", raw[pos:pos + 4])
        kind = raw[pos + 4:pos + 8]
        payload = raw[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", raw[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, kind
        chunks.append((kind, payload))
        pos += 12 + length
    assert pos == len(raw)
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    pixels = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    rows = np.frombuffer(pixels, dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


def test_demo_writes_png_of_the_trained_map(tmp_path):
    out = tmp_path / "images"
    written = kohonen.demo(str(out), sizes=((3, 4, 2),), seed=5)
    assert len(written) == 1
    path, seconds = written[0]
    assert os.path.dirname(path) == str(out)
    assert os.path.basename(path).endswith(".png")
    assert seconds >= 0
    image = read_png(path)
    # Recreate the demo's random stream to know which map it trained.
    seed_legacy(5)
    data = legacy_random((10, 3))
    initial = legacy_random((3, 4, 3))
    trained = kohonen.train(data, 2, 3, 4, initial_weights=initial)
    assert image.shape == (3, 4, 3)
    expected = np.rint(np.clip(trained, 0.0, 1.0) * 255.0).astype(np.uint8)
    assert_array_equal(image, expected)


def test_demo_several_sizes(tmp_path):
    written = kohonen.demo(tmp_path, sizes=((2, 3, 1), (1, 4, 1)))
    assert len(written) == 2
    assert len({path for path, _ in written}) == 2
    assert read_png(written[0][0]).shape == (2, 3, 3)
    assert read_png(written[1][0]).shape == (1, 4, 3)


def test_module_help_runs():
    result = subprocess.run([sys.executable, "-m", "minisam.kohonen", "--help"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "--out" in result.stdout
    assert "--small-only" in result.stdout
