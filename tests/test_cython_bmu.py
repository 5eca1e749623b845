"""The compiled Cython best-matching-unit kernel against the NumPy reference."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import GAP_RTOL, assert_bmu_valid, brute_d2, random_data, with_duplicate_rows
from numpy.testing import assert_array_equal

import minisam
from minisam import reference

_cython_kernels = pytest.importorskip("minisam._cython_kernels")
from minisam.backends.cython_backend import CythonBackend  # noqa: E402

DTYPES = [np.float32, np.float64]
# (n_nodes, n_features, n_samples): one node, a 1 x N map, D = 1, one sample, many samples.
SHAPES = [(1, 3, 10), (1, 1, 1), (7, 3, 25), (5, 1, 60), (6, 4, 1), (30, 3, 1037), (12, 17, 200)]


def kernel_bmu(weights, data, n_threads=1):
    index = np.full(data.shape[0], -7, dtype=np.int64)
    d2 = np.full(data.shape[0], -1.0, dtype=weights.dtype)
    result = _cython_kernels.bmu_many(weights, data, index, d2, n_threads)
    assert result is None  # writes into the outputs
    return index, d2


def assert_agrees_with_reference(weights, data, index, d2):
    """Same winners as the reference where the choice is clear-cut; always a valid winner."""
    assert_bmu_valid(weights, data, index, d2)
    ref_index, ref_d2 = reference.bmu_many(weights, data)
    assert_bmu_valid(weights, data, ref_index, ref_d2)
    full = brute_d2(weights, data)
    if full.shape[1] > 1:
        ordered = np.sort(full, axis=1)
        clear = (ordered[:, 1] - ordered[:, 0]) > GAP_RTOL[weights.dtype] * ordered[:, 1]
        assert_array_equal(index[clear], ref_index[clear])
    else:
        assert_array_equal(index, ref_index)
    rtol = 1e-12 if weights.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(d2, ref_d2, rtol=rtol, atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_nodes", "n_features", "n_samples"), SHAPES)
def test_kernel_matches_reference(rng, dtype, n_nodes, n_features, n_samples):
    weights = random_data(rng, n_nodes, n_features, dtype)
    data = random_data(rng, n_samples, n_features, dtype)
    index, d2 = kernel_bmu(weights, data)
    assert_agrees_with_reference(weights, data, index, d2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("n_nodes", "n_features", "n_samples"), SHAPES)
def test_backend_matches_reference(rng, dtype, n_nodes, n_features, n_samples):
    weights = random_data(rng, n_nodes, n_features, dtype)
    data = random_data(rng, n_samples, n_features, dtype)
    index, d2 = CythonBackend(2).bmu_many(weights, data)
    assert index.dtype == np.int64 and index.shape == (n_samples,)
    assert d2.dtype == dtype and d2.shape == (n_samples,)
    assert_agrees_with_reference(weights, data, index, d2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_on_spread_out_data(rng, dtype):
    # Values of very different magnitudes, so float32 rounding matters.
    weights = np.ascontiguousarray(rng.normal(scale=100.0, size=(40, 5)), dtype=dtype)
    data = np.ascontiguousarray(rng.normal(scale=100.0, size=(300, 5)), dtype=dtype)
    index, d2 = kernel_bmu(weights, data, 2)
    assert_agrees_with_reference(weights, data, index, d2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_go_to_lowest_index(rng, dtype):
    weights = with_duplicate_rows(random_data(rng, 10, 3, dtype), 3, (6, 9))
    data = np.ascontiguousarray(
        np.vstack([weights[3], weights[9], weights[3] + 1e-3, weights[6] - 1e-3]), dtype=dtype)
    for n_threads in (1, 2):
        index, _ = kernel_bmu(weights, data, n_threads)
        assert_array_equal(index, [3, 3, 3, 3])
        index, _ = CythonBackend(n_threads).bmu_many(weights, data)
        assert_array_equal(index, [3, 3, 3, 3])
    ref_index, _ = reference.bmu_many(weights, data)
    assert_array_equal(ref_index, [3, 3, 3, 3])
    # A map whose nodes are all the same: node 0 wins every sample.
    same = np.ascontiguousarray(np.repeat(weights[:1], 5, axis=0))
    index, d2 = kernel_bmu(same, data)
    assert_array_equal(index, 0)
    assert_agrees_with_reference(same, data, index, d2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_hit_has_zero_distance(rng, dtype):
    weights = random_data(rng, 8, 4, dtype)
    data = np.ascontiguousarray(weights[[5, 0, 7]])
    index, d2 = kernel_bmu(weights, data)
    assert_array_equal(index, [5, 0, 7])
    assert_array_equal(d2, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_results(rng, dtype):
    weights = random_data(rng, 25, 3, dtype)
    data = random_data(rng, 1037, 3, dtype)
    index1, d21 = kernel_bmu(weights, data, 1)
    index2, d22 = kernel_bmu(weights, data, 2)
    assert_array_equal(index1, index2)
    assert d21.tobytes() == d22.tobytes()
    index3, d23 = CythonBackend(2).bmu_many(weights, data)
    assert_array_equal(index1, index3)
    assert d21.tobytes() == d23.tobytes()


def test_every_output_slot_is_written(rng):
    weights = random_data(rng, 4, 2)
    data = random_data(rng, 999, 2)
    index, d2 = kernel_bmu(weights, data, 2)
    assert (index >= 0).all()
    assert (d2 >= 0).all()


def _expected_openmp():
    """Whether this build must have OpenMP: ``$MINISAM_EXPECT_OPENMP`` (1/0) when CI tests a
    deliberately serial build, else yes on Linux (GCC ships OpenMP) and unknown elsewhere."""
    flag = os.environ.get("MINISAM_EXPECT_OPENMP", "").strip()
    if flag:
        return flag not in ("0", "no", "false")
    return True if sys.platform.startswith("linux") else None


def test_openmp_as_expected_for_this_build():
    expected = _expected_openmp()
    if expected is None:
        pytest.skip("no OpenMP expectation on this platform; set MINISAM_EXPECT_OPENMP")
    assert minisam.openmp_enabled() is expected
    assert _cython_kernels.openmp_enabled() is expected
    info = _cython_kernels.build_info()
    assert info["openmp"] is expected
    assert (info["openmp_version"] >= 200805) is expected  # OpenMP 3.0 or newer when present
    assert _cython_kernels.openmp_max_threads() >= 1
    if not expected:
        assert _cython_kernels.openmp_max_threads() == 1


def test_build_info_describes_the_compiled_module():
    info = _cython_kernels.build_info()
    assert set(info) == {"compiler", "variant", "native", "openmp", "openmp_version",
                         "openmp_max_threads"}
    assert isinstance(info["compiler"], str) and info["compiler"] not in ("", "unknown")
    assert info["variant"] == _cython_kernels.VARIANT
    assert info["native"] is (info["variant"] == "native")
    assert info["openmp_max_threads"] == _cython_kernels.openmp_max_threads()


def test_openmp_flags_agree():
    assert minisam.openmp_enabled() == _cython_kernels.openmp_enabled()
