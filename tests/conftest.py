"""Shared helpers for the minisam test suite.

The helpers are plain functions (imported by the test modules with ``from conftest import ...``)
plus a few fixtures. Everything that serves as an *expected* value is written here from the
definitions, independently of the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

#: Relative gap between best and second-best float64 distance above which a BMU computed in a
#: given precision must pick exactly the float64 winner.
GAP_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}
#: Relative slack allowed on the chosen node's float64 distance when the gap is smaller.
CHOICE_RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator for test data."""
    return np.random.default_rng(20240521)


def random_data(rng, n, d, dtype=np.float64):
    """``n`` samples of ``d`` features uniform in [0, 1), C-contiguous, of ``dtype``."""
    return np.ascontiguousarray(rng.random((n, d)), dtype=dtype)


def brute_d2(weights, data):
    """Full ``(n_samples, n_nodes)`` matrix of squared distances, computed in float64."""
    w = np.asarray(weights, dtype=np.float64)
    x = np.asarray(data, dtype=np.float64)
    return ((x[:, None, :] - w[None, :, :]) ** 2).sum(axis=2)


def assert_bmu_valid(weights, data, index, d2):
    """Check a BMU search result against float64 brute force, tolerant to rounding only.

    Where the float64 gap between the best and second-best node is comfortably larger than the
    rounding of ``weights.dtype``, the index must be exactly the float64 winner; elsewhere the
    chosen node's float64 distance must be within rounding of the minimum. The returned
    distances must match the chosen node's float64 distance to the dtype's precision.
    """
    dtype = np.dtype(weights.dtype)
    full = brute_d2(weights, data)
    n, n_nodes = full.shape
    index = np.asarray(index)
    assert index.shape == (n,)
    assert index.dtype == np.int64
    assert ((index >= 0) & (index < n_nodes)).all()
    best = full.min(axis=1)
    chosen = full[np.arange(n), index]
    assert (chosen <= best * (1.0 + CHOICE_RTOL[dtype]) + 1e-300).all()
    if n_nodes > 1:
        ordered = np.sort(full, axis=1)
        clear = (ordered[:, 1] - ordered[:, 0]) > GAP_RTOL[dtype] * ordered[:, 1]
        assert_array_equal(index[clear], np.argmin(full, axis=1)[clear])
    else:
        assert_array_equal(index, 0)
    assert d2.dtype == dtype
    np.testing.assert_allclose(np.asarray(d2, dtype=np.float64), chosen,
                               rtol=10 * CHOICE_RTOL[dtype], atol=1e-30)


def with_duplicate_rows(weights, source, copies):
    """Copy row ``source`` of ``weights`` onto every row in ``copies`` (exact ties)."""
    w = weights.copy()
    for k in copies:
        w[k] = w[source]
    return w


def snapshot(som):
    """The parts of a model a failed call must not change: weights and random state."""
    return som.get_weights(), som._rng.bit_generator.state


def assert_unchanged(som, snap):
    """Assert ``som`` still has the weights and random state captured by :func:`snapshot`."""
    weights, state = snap
    current = som.get_weights()
    assert current.dtype == weights.dtype
    assert_array_equal(current, weights)
    assert som._rng.bit_generator.state == state
    # The next draw is the one the untouched generator would have made.
    twin = np.random.Generator(type(som._rng.bit_generator)())
    twin.bit_generator.state = state
    assert som._rng.random() == twin.random()
    som._rng.bit_generator.state = state  # undo the probe draw


def grid_position(k, y):
    """Grid position of node ``k`` on a map with ``y`` columns (row-major)."""
    return int(k) // y, int(k) % y
